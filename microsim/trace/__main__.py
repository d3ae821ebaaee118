"""`python -m microsim.trace ...`."""

import sys

from microsim.trace.cli import main

sys.exit(main())
