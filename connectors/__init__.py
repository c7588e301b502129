"""carbontwin.connectors."""
