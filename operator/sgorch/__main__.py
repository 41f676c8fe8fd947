"""``python -m sgorch``: the same program as the ``sgorch`` command."""

import sys

from sgorch.cli import main

if __name__ == "__main__":
    sys.exit(main())
