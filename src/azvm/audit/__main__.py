"""`python -m azvm.audit`: the same as `azvm audit`."""

import sys

from .cli import main

sys.exit(main())
