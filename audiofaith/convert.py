"""``python -m audiofaith.convert``: convert other tools' results into audiofaith records. The code lives in
``audiofaith.benchmarks.convert``; this path stays as the documented command."""

import sys

from audiofaith.benchmarks.convert import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
