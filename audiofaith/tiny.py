"""``python -m audiofaith.tiny``: build a tiny random-weight (or a known-answer) checkpoint. The code lives in
``audiofaith.checkpoints.tiny``; this path stays as the documented command."""

import sys

from audiofaith.checkpoints.tiny import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
