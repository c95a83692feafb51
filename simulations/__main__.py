"""`python -m simulations run|sweep`: aliases of `proxybench simulate` and `proxybench sweep`."""

import sys

from .cli import main

sys.exit(main())
