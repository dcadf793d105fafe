"""``python -m regional_lstm`` is the ``regional-lstm`` command."""

from regional_lstm.cli import main

main()
