"""`python -m gplscan` runs the command line."""

from gplscan.cli import main

main()
