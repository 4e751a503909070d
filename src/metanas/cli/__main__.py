"""``python -m metanas.cli``: the ``metanas`` command."""

from metanas.cli import main

main()
