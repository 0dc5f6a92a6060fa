"""``python -m alternating_freeze``: af-train."""

from alternating_freeze.cli import main

main()
