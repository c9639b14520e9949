#!/usr/bin/env python
"""Audio Flamingo 3: baseline (CoT or direct answers) over a manifest. See --help."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from audiofaith.cli import baseline_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(baseline_main("af3"))
