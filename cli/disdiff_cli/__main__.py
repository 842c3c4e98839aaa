"""``python -m disdiff_cli`` runs the ``disdiff`` command."""

from disdiff_cli.app import main

main()
