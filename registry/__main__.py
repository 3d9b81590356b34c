"""``python -m registry``: the ``szzz`` command line."""

from registry.cli import main

main()
