"""`python -m reports bench|build|check`: aliases of `proxybench bench`, `report` and `gate`."""

import sys

from .cli import main

sys.exit(main())
