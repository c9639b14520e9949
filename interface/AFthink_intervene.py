#!/usr/bin/env python
"""Audio Flamingo 3 in thinking mode: interventions on baseline runs (--kind ...). See --help."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from audiofaith.cli import intervene_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(intervene_main("af3_think"))
