"""`python -m loadtests run|calibrate`: aliases of `proxybench loadtest` and `proxybench calibrate`."""

import sys

from .cli import main

sys.exit(main())
