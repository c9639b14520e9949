#!/usr/bin/env python
"""Audio Flamingo 3: conditioned step (own reasoning injected back). See --help."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from audiofaith.cli import conditioned_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(conditioned_main("af3"))
