"""``python -m snnas`` is the ``snnas`` command."""

from snnas.cli import main

main()
