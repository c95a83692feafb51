"""`python -m proxybench`: the same as the `proxybench` command."""

import sys

from .cli import main

sys.exit(main())
