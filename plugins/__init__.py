"""carbontwin.plugins."""
