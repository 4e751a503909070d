"""``python -m metanas.cli``: the ``metanas`` command."""

from metanas.cli import main

if __name__ == "__main__":  # importing the module (doctest discovery) must not run the CLI
    main()
