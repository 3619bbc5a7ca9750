"""`python -m pipeline.cli` runs the `complexify` command."""

from pipeline.cli import main

main()
