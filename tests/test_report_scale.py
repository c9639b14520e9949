"""The report's numbers at scale do not change: the report of synthetic study-like outputs
(``audiofaith.report.synthetic``: every line kind, several runs, two models, clips shared by both
hops) is byte-identical to what the line-by-line report wrote before the statistics were vectorised
and the writing columnar. ``tests/golden/report_scale/`` holds that report's CSV files (summary.csv,
aoc.csv, noise_floor.csv, audio_cuts.csv in full; per_item.csv, with the temporary folder replaced by
``<root>``, as its SHA-256), written by the code of commit a18083a. Regenerate only for a deliberate
change of a number: ``python tests/test_report_scale.py``."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Dict

import pytest

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path.insert(0, str(REPO))

from audiofaith import report  # noqa: E402
from audiofaith.report.synthetic import write_synthetic_outputs  # noqa: E402

GOLDEN = REPO / "tests" / "golden" / "report_scale"
IN_FULL = ("summary.csv", "aoc.csv", "noise_floor.csv", "audio_cuts.csv")
HASHED = ("per_item.csv",)
#: (name, Settings keyword arguments) of each golden report
CASES = {"default": {}, "exclude_cut_cots": {"exclude_cut_cots": True}}


def build_report(tmp: Path, case: str) -> Dict[str, bytes]:
    """The case's CSV files, the temporary folder in per_item.csv's sources replaced by ``<root>``."""
    outputs, manifests, out = tmp / "output", tmp / "manifests", tmp / "report"
    write_synthetic_outputs(outputs, n_clips=8, runs=2, seed=3, manifest_dir=manifests)
    report.write_report(outputs, out, manifests, report.Settings(n_resamples=300, seed=7, **CASES[case]))
    files = {}
    for name in IN_FULL + HASHED:
        data = (out / name).read_bytes()
        files[name] = data.replace(str(outputs).encode("utf-8"), b"<root>")
    return files


@pytest.mark.parametrize("case", sorted(CASES))
def test_report_is_byte_identical_to_the_line_by_line_report(tmp_path, case):
    files = build_report(tmp_path, case)
    hashes = json.loads((GOLDEN / case / "sha256.json").read_text(encoding="utf-8"))
    for name in IN_FULL:
        assert files[name].decode("utf-8") == (GOLDEN / case / name).read_bytes().decode("utf-8"), name
    for name in HASHED:
        assert hashlib.sha256(files[name]).hexdigest() == hashes[name], name


def regenerate() -> None:
    import tempfile

    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            files = build_report(Path(tmp), case)
        folder = GOLDEN / case
        folder.mkdir(parents=True, exist_ok=True)
        for name in IN_FULL:
            (folder / name).write_bytes(files[name])
        hashes = {name: hashlib.sha256(files[name]).hexdigest() for name in HASHED}
        (folder / "sha256.json").write_text(json.dumps(hashes, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    regenerate()
