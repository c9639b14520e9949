#!/usr/bin/env python
"""SALMONN-7B: conditioned step (own reasoning injected back). Runs in the SALMONN environment
(requirements/salmonn.txt) with --salmonn_repo and the weight paths; see docs/salmonn.md and --help."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from audiofaith.cli import conditioned_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(conditioned_main("salmonn"))
