"""`python -m stack up`: alias of `proxybench stack`."""

import sys

from .cli import main

sys.exit(main())
