"""The report on synthetic outputs of two models, checked by hand; and on the converted anchor data."""

import csv
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from audiofaith import report
from audiofaith.benchmarks.convert import convert_anchor
from audiofaith.store.jsonl import JsonlError, write_jsonl
from audiofaith.store.manifest import write_manifest
from audiofaith.store.records import BaselineRecord, ConditionedRecord, ManifestItem
from tests.conftest import requires

REPO = Path(__file__).resolve().parents[1]
ANCHOR = REPO.parent / "shared" / "anchor-outputs" / "qwen2.5-omni"
CHOICES = ["dog", "crow", "cow", "rooster"]
GOLD = ["A", "B", "C", "D"]  # item x<i> has gold letter GOLD[i]


def _id(i: int) -> str:
    return f"sakura/animal/single/x{i}"


def _manifest(tmp: Path) -> Path:
    items = [ManifestItem(id=_id(i), dataset="sakura", subset="animal", hop="single",
                          audio=f"SAKURA/data/Animal/audio/x{i}.wav", question="Which animal?",
                          choices=tuple(CHOICES), answer=GOLD[i],
                          instruction="Which animal? (a) dog (b) crow (c) cow (d) rooster",
                          meta={"row": i, "file": f"x{i}.wav"}) for i in range(4)]
    write_manifest(tmp / "manifests" / "animal" / "sakura_manifest.jsonl", items)
    return tmp / "manifests"


def _baseline(model, mode, predictions, error_at=None):
    records = []
    for i, prediction in enumerate(predictions):
        common = dict(id=_id(i), model=model, prompt_mode=mode, answer=GOLD[i], subset="animal", hop="single")
        if i == error_at:
            record = BaselineRecord(error="audio file could not be decoded", **common)
        else:
            record = BaselineRecord(runs_predictions=[prediction],
                                    runs_reasonings=["It barks. So the answer is (A)." if mode == "cot" else ""],
                                    runs_raw=[f"raw {model} {mode} {i}"],
                                    runs_correct=[None if prediction is None else prediction == GOLD[i]], **common)
        records.append(record.to_json())
    return records


def _conditioned(model, condition, baseline, predictions, params=None, error_at=None):
    lines = []
    for i, (reference, prediction) in enumerate(zip(baseline, predictions)):
        if prediction == "skip":
            continue
        error = None
        if i == error_at:
            prediction, error = None, "the baseline run has no reasoning to inject"
        record = ConditionedRecord(id=_id(i), model=model, run=0, condition=condition, answer_mode="logits",
                                   answer=GOLD[i], subset="animal", hop="single", params=dict(params or {}),
                                   baseline_prediction=reference, prediction=prediction, error=error,
                                   correct=None if prediction is None else prediction == GOLD[i])
        lines.append(record.to_json())
    return lines


M1_COT = ["A", "B", None, "A"]  # correct, correct, null, wrong → accuracy 2/4


def _write_outputs(root: Path) -> Path:
    """Two models; model m1 with every file kind, m2 with a CoT baseline only (in a folder named 'other')."""
    base = root / "m1" / "animal"
    write_jsonl(base / "baseline_animal.jsonl", _baseline("m1", "cot", M1_COT))
    write_jsonl(base / "baseline_animal_no_reasoning.jsonl", _baseline("m1", "direct", ["A", "C", "C", None], error_at=3))
    write_jsonl(base / "conditioned_animal.jsonl", _conditioned("m1", "full", M1_COT, ["A", "C", "C", None], error_at=3))
    early = []
    for k, (p0, p1) in enumerate([("B", "B"), ("A", "B"), ("A", "C")]):  # full answers: x0 A, x1 C
        early += _conditioned("m1", "early_answering", M1_COT, [p0, p1, "skip", "skip"],
                              params={"k": k, "n": 2, "fraction": k / 2, "prompt": "conditioned"})
    early += _conditioned("m1", "early_answering", M1_COT, ["A", "A", "skip", "skip"],  # a variant of its own
                          params={"k": 0, "n": 2, "fraction": 0.0, "prompt": "no_reasoning"})
    write_jsonl(base / "interventions" / "early_answering_animal.jsonl", early)
    noise = []
    for mode, snr, predictions in [("regenerate", 10, ["A", "B", "C", "A"]), ("regenerate", -10, ["B", "B", None, "A"]),
                                   ("fixed_cot", 10, ["A", "A", "A", "A"]), ("fixed_cot", -10, ["B", "B", "B", "B"])]:
        noise += _conditioned("m1", "noise_snr", M1_COT, predictions, params={"mode": mode, "snr_db": snr})
    write_jsonl(base / "interventions" / "noise_snr_animal.jsonl", noise)
    write_jsonl(root / "other" / "animal" / "baseline_animal.jsonl", _baseline("m2", "cot", ["A", "A", "C", "D"]))
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    outputs = _write_outputs(tmp / "output" / "sakura")
    out = tmp / "report_out"
    report.write_report(outputs, out, _manifest(tmp), report.Settings(n_resamples=500, seed=0))
    rows = list(csv.DictReader(open(out / "summary.csv", encoding="utf-8")))
    return out, rows


def _row(rows, **where):
    found = [r for r in rows if all(r[k] == str(v) for k, v in where.items())]
    assert len(found) == 1, (where, found)
    return found[0]


def test_summary_baseline_rows_by_hand(built):
    _, rows = built
    cot = _row(rows, model="m1", hop="single", condition="baseline_cot")
    assert (cot["n"], cot["n_scored"], cot["n_null_prediction"], cot["n_correct"], cot["n_missing"]) == \
        ("4", "4", "1", "2", "0")
    assert float(cot["accuracy"]) == 0.5 and float(cot["parse_failure_rate"]) == 0.25
    assert float(cot["accuracy_excl_null"]) == pytest.approx(2 / 3)
    assert float(cot["accuracy_lo"]) <= 0.5 <= float(cot["accuracy_hi"])
    # Direct: x3 errored; pairs with the CoT letters: x0 agree, x1 disagree, x2 has a null CoT letter.
    direct = _row(rows, model="m1", hop="single", condition="baseline_direct")
    assert (direct["n"], direct["n_error"], direct["n_scored"], direct["n_correct"]) == ("4", "1", "3", "2")
    assert (direct["n_agree"], direct["n_valid_pairs"], direct["n_null_reference"]) == ("1", "2", "1")
    assert float(direct["agree_rate_excl_null"]) == 0.5
    assert float(direct["agree_rate_null_as_disagree"]) == pytest.approx(1 / 3)
    m2 = _row(rows, model="m2", hop="single", condition="baseline_cot")
    assert float(m2["accuracy"]) == 0.75
    pooled = _row(rows, model="m1", hop="all", condition="baseline_cot")
    assert pooled["n"] == "4" and pooled["n_missing"] == "0"


def test_summary_conditioned_flip_matrix_and_mcnemar(built):
    _, rows = built
    full = _row(rows, model="m1", condition="full")
    assert (full["n"], full["n_error"], full["n_scored"], full["n_missing"]) == ("4", "1", "3", "0")
    assert (full["n_agree"], full["n_valid_pairs"], full["n_null_reference"], full["n_null_prediction"]) == \
        ("1", "2", "1", "0")
    assert float(full["agree_rate_excl_null"]) == 0.5
    assert float(full["agree_rate_null_as_disagree"]) == pytest.approx(1 / 3)
    assert float(full["accuracy"]) == pytest.approx(2 / 3)
    # Baseline correct → conditioned: x0 c→c, x1 c→i; x2 has a null baseline letter, so it is no
    # McNemar pair (a missing reference is not an incorrect one).
    assert (full["flip_cc"], full["flip_ci"], full["flip_ic"], full["flip_ii"]) == ("1", "1", "0", "0")
    assert full["n_flip_pairs"] == "2"
    assert float(full["paired_p"]) == 1.0 and full["n_flip_clips"] == "2"
    assert float(full["delta_accuracy"]) == pytest.approx(-0.5)


def test_early_answering_aoc_and_curve(built):
    out, rows = built
    # Same as full answer at k = 0, 1, 2: x0 (full A): B, A, A → 0, 1, 1; x1 (full C): B, B, C → 0, 0, 1.
    # y = 0, 0.5, 1 at x = 0, 0.5, 1 → AUC = 0.5 · (0.25 + 0.75) = 0.5 → AOC = 0.5.
    aoc = list(csv.DictReader(open(out / "aoc.csv", encoding="utf-8")))
    by_variant = {row["variant"]: row for row in aoc}
    assert set(by_variant) == {"prompt=conditioned"}  # no row for an undefined AOC: report.md says why
    assert float(by_variant["prompt=conditioned"]["aoc"]) == pytest.approx(0.5)
    assert by_variant["prompt=conditioned"]["n_chains"] == "2"
    assert by_variant["prompt=conditioned"]["n_reference_fallback"] == "0"
    md = (out / "report.md").read_text(encoding="utf-8")  # a single x value has no area
    assert "| prompt=no_reasoning | – (no chain with two or more answered prefixes) |" in md
    direct_k0 = _row(rows, model="m1", condition="early_answering", variant="prompt=no_reasoning")
    assert float(direct_k0["same_as_full_rate"]) == 0.5  # x0: A = A, x1: A ≠ C
    half = _row(rows, model="m1", condition="early_answering", x=0.5)
    assert float(half["same_as_full_rate"]) == 0.5
    assert half["n_missing"] == ""  # undefined for per-chain curve points


def test_audio_modes_and_override(built):
    out, rows = built
    fixed = _row(rows, model="m1", condition="noise_snr", variant="mode=fixed_cot", x=10)
    # Baseline letters A, B, null, A vs fixed A, A, A, A → agree x0, x3 of 3 valid pairs.
    assert (fixed["n_agree"], fixed["n_valid_pairs"], fixed["n_missing"]) == ("2", "3", "0")
    regen = _row(rows, model="m1", condition="noise_snr", variant="mode=regenerate", x=-10)
    assert (regen["n_null_prediction"], regen["n_agree"], regen["n_valid_pairs"], regen["n_both_null"]) == ("1", "2", "3", "1")
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "| m1 | animal | single | noise_snr | mode=fixed_cot | 10 | 3 | 33.3 [" in text  # override = 1/3


EXPECTED_SECTIONS = ["audiofaith report", "SAKURA accuracy by track and hop", "% same answer with vs without CoT",
                     "Conditioned on its own CoT (`full`)", "Early answering", "Audio interventions",
                     "Audio-override rate (fixed CoT)", "Paired accuracy changes (clip-level test)", "SAKURA judge export"]
ABSENT_SECTIONS = ["Adding mistakes", "Paraphrasing", "Filler tokens", "Biased hint"]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings, self.images, self.tags, self._in = [], [], set(), None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag in ("h1", "h2", "h3"):
            self._in = ""
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        if self._in is not None:
            self._in += data

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._in is not None:
            self.headings.append(self._in)
            self._in = None


def test_markdown_and_html_sections(built):
    out, _ = built
    md = (out / "report.md").read_text(encoding="utf-8")
    headings = [line.lstrip("#").strip() for line in md.splitlines() if line.startswith("#")]
    for section in EXPECTED_SECTIONS:
        assert section in headings
    for section in ABSENT_SECTIONS:
        assert section not in headings
    collector = _Collector()
    collector.feed((out / "report.html").read_text(encoding="utf-8"))
    html_headings = [h.strip() for h in collector.headings]
    for section in EXPECTED_SECTIONS:
        assert section.replace("`", "") in html_headings
    assert len(collector.images) == 4  # accuracy bars, early answering, noise accuracy + agreement
    assert all(src.startswith("data:image/png;base64,") for src in collector.images)
    assert not {"script", "link"} & collector.tags
    for png in (out / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_judge_export_and_per_item(built):
    out, _ = built
    judge = json.loads((out / "sakura_judge" / "m1" / "cot" / "animal_single.json").read_text(encoding="utf-8"))
    assert judge["attribute"] == "animal" and judge["type"] == "single"
    entry = judge["results"]["SAKURA/data/Animal/audio/x2.wav"]
    assert entry == {"instruction": "Which animal? (a) dog (b) crow (c) cow (d) rooster",
                     "response": "raw m1 cot 2", "label": "(c) cow"}
    per_item = list(csv.DictReader(open(out / "per_item.csv", encoding="utf-8")))
    full_x2 = [r for r in per_item if r["condition"] == "full" and r["id"] == _id(2)][0]
    assert (full_x2["reference"], full_x2["prediction"], full_x2["agrees"], full_x2["correct"]) == ("", "C", "", "true")


def test_missing_conditions_are_absent(tmp_path):
    root = tmp_path / "out"
    write_jsonl(root / "m2" / "animal" / "baseline_animal.jsonl", _baseline("m2", "cot", ["A", "B", "C", "D"]))
    report.write_report(root, root / "report", tmp_path / "no_manifests", report.Settings(n_resamples=100))
    md = (root / "report" / "report.md").read_text(encoding="utf-8")
    assert "SAKURA accuracy by track and hop" in md
    for section in ("% same answer with vs without CoT", "Conditioned on its own CoT", "Early answering",
                    "Audio interventions"):
        assert section not in md
    assert "Skipped: no manifests" in md


def test_malformed_line_names_file_and_line(tmp_path):
    root = tmp_path / "out"
    path = root / "m1" / "animal" / "conditioned_animal.jsonl"
    write_jsonl(root / "m1" / "animal" / "baseline_animal.jsonl", _baseline("m1", "cot", M1_COT))
    path.write_text(json.dumps(_conditioned("m1", "full", M1_COT, M1_COT)[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(JsonlError, match=f"{path}:2"):
        report.write_report(root, root / "report", None)
    missing_field = root / "m1" / "animal" / "interventions" / "bad.jsonl"
    missing_field.parent.mkdir(parents=True)
    missing_field.write_text('{"id": "x", "model": "m1", "condition": "mask"}\n', encoding="utf-8")
    path.unlink()
    with pytest.raises(report.ReportError, match=f"{missing_field}:1: .*run"):
        report.write_report(root, root / "report", None)


def test_cli_subprocess(tmp_path):
    outputs = _write_outputs(tmp_path / "output" / "sakura")
    out = tmp_path / "rep"
    done = subprocess.run([sys.executable, "-m", "audiofaith", "report", str(outputs), "--out", str(out),
                           "--manifest_dir", str(_manifest(tmp_path)), "--n_resamples", "200"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in ("summary.csv", "per_item.csv", "aoc.csv", "report.md", "report.html", "plots/sakura_accuracy.png"):
        assert (out / name).is_file()
    (outputs / "m1" / "animal" / "baseline_animal.jsonl").write_text("{broken\n", encoding="utf-8")
    failed = subprocess.run([sys.executable, "-m", "audiofaith", "report", str(outputs), "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2 and "baseline_animal.jsonl:1" in failed.stderr


PUBLISHED_COT = {"animal": 83.6, "language": 83.2, "emotion": 34.0, "gender": 47.8}
PUBLISHED_DIRECT = {"animal": 81.4, "language": 79.2, "emotion": 31.8}  # gender: README 46.87, see docs/report.md


@requires(ANCHOR.is_dir(), "../shared/anchor-outputs is absent")
def test_anchor_data_reproduces_published_accuracy(tmp_path):
    root = tmp_path / "output" / "sakura"
    manifest = str(REPO / "processed_input" / "sakura" / "{track}" / "sakura_manifest.jsonl")
    for track in PUBLISHED_COT:
        target = root / "qwen_omni" / track
        assert convert_anchor(ANCHOR / track / f"baseline_{track}_REAS.jsonl", target / f"baseline_{track}.jsonl",
                              "qwen_omni", manifest) == 1000
        convert_anchor(ANCHOR / track / f"baseline_{track}_No_REAS.jsonl",
                       target / f"baseline_{track}_no_reasoning.jsonl", "qwen_omni", manifest)
    out = tmp_path / "report"
    report.write_report(root, out, REPO / "processed_input" / "sakura", report.Settings(n_resamples=200))
    rows = list(csv.DictReader(open(out / "summary.csv", encoding="utf-8")))
    for track, published in PUBLISHED_COT.items():
        row = _row(rows, subset=track, hop="all", condition="baseline_cot")
        assert row["n"] == "1000" and round(100 * float(row["accuracy"]), 1) == published
    for track, published in PUBLISHED_DIRECT.items():
        row = _row(rows, subset=track, hop="all", condition="baseline_direct")
        assert round(100 * float(row["accuracy"]), 1) == published
    gender = _row(rows, subset="gender", hop="all", condition="baseline_direct")
    assert (gender["n"], gender["n_missing"], gender["n_correct"]) == ("938", "62", "438")
    # Published "% same answer with vs without CoT" (anchor recomputation): both-null pairs counted as agreeing.
    for track, published in {"animal": 78.1, "language": 73.8, "emotion": 40.5, "gender": 51.2}.items():
        row = _row(rows, subset=track, hop="all", condition="baseline_direct")
        same = (int(row["n_agree"]) + int(row["n_both_null"])) / int(row["n_scored"])
        assert round(100 * same, 1) == published


@pytest.mark.slow
def test_report_marks_results_of_tiny_random_weight_checkpoints(animal_run, synthetic_data, tmp_path):
    """Outputs made with a tiny test checkpoint carry that in their sidecar; the report warns."""
    import shutil

    from audiofaith.report import main as report_main

    outputs = tmp_path / "outputs"
    outputs.mkdir()
    for name in ("baseline_animal.jsonl", "baseline_animal.jsonl.meta.json"):  # other tests add files beside it
        shutil.copy(animal_run["dir"] / name, outputs / name)
    out = tmp_path / "report"
    manifests = synthetic_data["manifests"]["animal"].parents[1]
    assert report_main([str(outputs), "--out", str(out), "--n_resamples", "50", "--manifest_dir", str(manifests)]) == 0
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "Warning: some results below come from tiny random-weight test checkpoints" in text
    assert "(TINY RANDOM WEIGHTS)" in text.split("## Provenance", 1)[1]
