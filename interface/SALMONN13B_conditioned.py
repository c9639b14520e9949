#!/usr/bin/env python
"""A model's script: its file name, interface/<Prefix>_<kind>.py, picks the model (the registry's script
prefix: python -m audiofaith models) and the step (wrapper: baseline, conditioned, intervene). See --help."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from audiofaith.cli.model_scripts import run_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_script(__file__))
