"""carbontwin.simulation."""
