#!/usr/bin/env python
"""SALMONN-13B: baseline (CoT or direct answers) over a manifest. Runs in the SALMONN environment
(requirements/salmonn.txt) with --salmonn_repo and the weight paths; see docs/salmonn.md and --help."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from audiofaith.cli import baseline_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(baseline_main("salmonn_13b"))
