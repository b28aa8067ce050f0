"""``python -m yololab ...``: the same command line as ``yololab ...``."""

from yololab.cli import main

main()
