"""``python -m rtbatch``: the same as the ``rtbatch`` command."""

from rtbatch.cli import main

main()
