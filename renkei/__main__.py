"""``python -m renkei``: the ``renkei`` command (how ``renkei cluster`` starts its services)."""

import sys

from renkei.cli import main

if __name__ == "__main__":
    sys.exit(main())
