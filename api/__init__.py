"""carbontwin.api."""
