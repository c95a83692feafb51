"""`python -m reference_server`: an alias of `proxybench serve`."""

import sys

from .cli import main

sys.exit(main())
