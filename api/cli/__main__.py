"""``python -m carbontwin.api.cli``."""

from . import main

main()
