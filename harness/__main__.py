"""`python -m harness stack up|check`: aliases of `proxybench stack` and `proxybench check`."""

import sys

from .cli import main

sys.exit(main())
