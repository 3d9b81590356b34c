"""``python -m registry`` runs the ``szzz`` command line."""

from .cli import main

main()
