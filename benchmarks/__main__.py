"""`python -m benchmarks`: alias of `proxybench bench`."""

import sys

from .cli import main

sys.exit(main())
