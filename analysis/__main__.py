"""``python -m analysis``: the same as ``af-analyze``."""

import sys

from .cli import main

sys.exit(main())
