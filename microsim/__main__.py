"""`python -m microsim` runs the command line."""

import sys

from microsim.cli import main

sys.exit(main())
