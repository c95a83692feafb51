"""`python -m checks`: alias of `proxybench check`."""

import sys

from .command import main

sys.exit(main())
