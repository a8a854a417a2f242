"""``python -m ica`` is the ``ica`` command."""

from ica.cli import main

main()
