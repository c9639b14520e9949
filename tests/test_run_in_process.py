"""The test harness's in-process CLI runs (``tests.conftest.run_in_process``) leave logging as they
found it: a script that quiets a logger must not silence the INFO lines of the next CLI run in the
same pytest worker (scripts/bench.py quiets "audiofaith", which was a placeholder until then, and the
next run's summary lines went missing)."""

import logging

from tests.conftest import run_in_process


def test_a_logger_level_set_by_a_run_is_undone(tmp_path):
    logging.getLogger("harness_probe_parent.child")  # the parent exists only as a placeholder
    script = tmp_path / "quiet.py"
    script.write_text("import logging\n"
                      "logging.getLogger('harness_probe_parent').setLevel(logging.WARNING)\n"
                      "logging.getLogger('harness_probe_new').setLevel(logging.ERROR)\n"
                      "logging.getLogger('harness_probe_parent.child').setLevel(logging.CRITICAL)\n")
    done = run_in_process("quiet.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("harness_probe_parent", "harness_probe_new", "harness_probe_parent.child"):
        assert logging.getLogger(name).level == logging.NOTSET, name
    assert logging.getLogger("harness_probe_parent.child").getEffectiveLevel() == logging.getLogger().level
