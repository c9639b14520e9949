"""The command line: ``python -m audiofaith``, the stage commands, the interface scripts' entry."""
