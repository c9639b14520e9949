"""The suite's own rules (tests/conftest.py): a missing prerequisite skips, and fails under
AUDIOFAITH_CI=1; the summary line names every skip reason; CI derandomises hypothesis."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

PROBE = '''
import hypothesis

from tests.conftest import require, requires


@requires(False, "no widget here")
def test_marked():
    pass


def test_called():
    require(False, "no gadget here")


def test_present():
    require(True, "never shown")


def test_profile():
    assert hypothesis.settings().derandomize is {ci}
'''


def _run_probe(tmp_path, ci: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(PROBE.format(ci=ci), encoding="utf-8")
    env = dict(os.environ, AUDIOFAITH_CI="1" if ci else "0", PYTHONPATH=str(REPO))
    env.pop("CI", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                           "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_probe.py")],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)


def test_missing_prerequisites_skip_and_are_named_in_the_summary(tmp_path):
    done = _run_probe(tmp_path, ci=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed, 2 skipped" in done.stdout
    assert "audiofaith: 2 test(s) skipped:" in done.stdout
    assert "1 x no widget here" in done.stdout and "1 x no gadget here" in done.stdout


def test_under_ci_a_missing_prerequisite_fails_and_hypothesis_is_derandomised(tmp_path):
    done = _run_probe(tmp_path, ci=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "AUDIOFAITH_CI=1: missing prerequisite: no widget here" in done.stdout
    assert "AUDIOFAITH_CI=1: missing prerequisite: no gadget here" in done.stdout
    assert "2 passed" in done.stdout and "skipped" not in done.stdout.split("audiofaith:")[0]
    assert "test_profile" not in done.stdout  # the derandomised profile is the one loaded
