"""``python -m plugbay``: the command line."""

from plugbay._cli import main

main()
