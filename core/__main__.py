"""``python -m ica`` is the ``ica`` command (importing this module, as documentation tools do, runs nothing)."""

from ica.cli import main

if __name__ == "__main__":
    main()
