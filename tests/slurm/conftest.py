"""Tests against a real SLURM cluster: they run only when one answers (``make test-slurm`` starts
a one-node cluster with scripts/slurm_local.sh and exports SLURM_CONF); otherwise they skip, except
under AUDIOFAITH_REQUIRE_SLURM=1 (set by make test-slurm), where a missing cluster is a failure."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def cluster_up() -> bool:
    if shutil.which("scontrol") is None:
        return False
    try:
        done = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and " is UP" in done.stdout


def pytest_collection_modifyitems(config, items):
    up = None
    for item in items:
        if item.get_closest_marker("slurm") is None:
            continue
        if up is None:
            up = cluster_up()
        if not up and os.environ.get("AUDIOFAITH_REQUIRE_SLURM") == "1":
            raise pytest.UsageError("AUDIOFAITH_REQUIRE_SLURM=1 but no SLURM cluster answers `scontrol ping`")
        if not up:
            item.add_marker(pytest.mark.skip(reason="no SLURM cluster answers (make test-slurm starts one)"))
