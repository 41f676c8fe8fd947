"""``python -m sgorch``: the same program as the ``sgorch`` command."""

import sys

from sgorch.cli import main

sys.exit(main())
