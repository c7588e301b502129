"""Bundled data files (grid intensity series)."""
