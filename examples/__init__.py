"""Example factories, plans and scenarios shipped with carbontwin."""
