"""The published study's intervention results (arXiv 2509.22363, commit e4cee03) reproduced from its
raw outputs: converted with ``python -m audiofaith.benchmarks.convert anchor``, reported by ``audiofaith report``
and compared with a plain re-implementation of what its analysis scripts compute from the same files.

The raw files are read from ../shared/anchor-outputs/study-e4cee03/ (never committed). The
re-implementations below read the study's JSON lines directly and use none of audiofaith's code.
"""

import csv
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import pytest

from audiofaith import report
from audiofaith.benchmarks.convert import (ConvertError, anchor_kind, convert_anchor, main as convert_main, percent_bin,
                                           study_mmar_manifests)
from audiofaith.store.jsonl import read_jsonl
from audiofaith.store.manifest import write_manifest
from audiofaith.store.records import ManifestItem
from audiofaith.report.noise_floor import NOT_MEASURED, noise_floors, section_noise_floor
from audiofaith.report.spec import SectionContext, spec_index

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO.parent / "shared" / "anchor-outputs" / "study-e4cee03"
SAKURA = STUDY / "pooneh_version" / "result" / "baseline" / "qwen2.5"
TRACKS = ("animal", "emotion", "gender", "language")
LEVELS = (20, 40, 60, 80, 100)
FILLER = STUDY / "results" / "flamingo_hf" / "random_partial_filler_text"
FILLER_PARTS = [FILLER / f"random_partial_filler_text_flamingo_hf_mmar-lorem.part_{i}.jsonl" for i in range(1, 6)]
AF3_BASELINE = STUDY / "results" / "flamingo_hf" / "baseline" / "baseline_flamingo_hf_mmar.jsonl"
OMNI_BASELINE = STUDY / "results" / "qwen_omni" / "baseline" / "baseline_qwen_omni_mmar.jsonl"
EARLY = STUDY / "results" / "qwen_omni" / "early_answering" / "early_answering_qwen_omni_mmar.jsonl"
PAPER = " [paper protocol]"

needs_study = pytest.mark.skipif(not STUDY.is_dir(), reason="../shared/anchor-outputs/study-e4cee03 is absent")


def _lines(path: Path) -> list:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# ------------------------------------------------------------------------------------------------
# The study's numbers, re-implemented from its analysis scripts (analysis/per_dataset/plot_*.py)


def study_masking(track: str) -> dict:
    """level → (accuracy, consistency) over the track's 1000 questions (both hops, as the study's
    audio-masking plot merges them): accuracy = mean of the line's ``accuracy``; consistency = the
    masked letter equals the unmasked baseline's, compared as Python compares them in the study's
    runner (two nulls are equal)."""
    baseline = {line["id"]: line["predicted_letters"][0] for line in _lines(SAKURA / track /
                                                                            f"baseline_{track}_REAS.jsonl")}
    numbers = {}
    for level in LEVELS:
        masked = _lines(SAKURA / track / f"mask_p{level}_{track}_REAS.jsonl")
        accuracy = sum(line["accuracy"] for line in masked) / len(masked)
        same = sum(line["predicted_letters"][0] == baseline[line["id"]] for line in masked) / len(masked)
        numbers[level] = (accuracy, same)
    return numbers


def _bin5(percent: float) -> float:
    """plot_*.py: ``(percent / 5).round() * 5`` (pandas rounds half to even, as Python's round)."""
    return round(percent / 5) * 5


def study_partial_filler(merge_baseline_file: bool) -> dict:
    """percent bin → (accuracy, consistency). ``merge_baseline_file``: consistency against the
    baseline file's letter for the same (id, chain_id), nulls never equal (the plot script's pandas
    merge and ``==``); otherwise the lines' own ``is_consistent_with_baseline``. Chains whose
    baseline CoT is empty are left out (the script's ``total_sentences_in_chain > 0``; all 100 have
    one). The script then replaces the 0 % consistency by 100 (not done here)."""
    baseline = {(line["id"], line["chain_id"]): line for line in _lines(AF3_BASELINE)}
    groups = defaultdict(list)
    for part in FILLER_PARTS:
        for line in _lines(part):
            base = baseline[(line["id"], line["chain_id"])]
            if not base["sanitized_cot"].strip():
                continue
            if merge_baseline_file:
                prediction, reference = line["predicted_choice"], base["predicted_choice"]
                same = prediction is not None and reference is not None and prediction == reference
            else:
                same = line["is_consistent_with_baseline"]
            groups[_bin5(line["percent_replaced"])].append((line["is_correct"], same))
    return {x: (sum(c for c, _ in g) / len(g), sum(s for _, s in g) / len(g)) for x, g in groups.items()}


def study_early_answering() -> dict:
    """5 % bin of 100·k/n → (accuracy, consistency) over chains with n > 0 (plot_early_answering.py)."""
    groups = defaultdict(list)
    for line in _lines(EARLY):
        if line["total_sentences_in_chain"] > 0:
            percent = line["num_sentences_provided"] / line["total_sentences_in_chain"] * 100
            groups[_bin5(percent)].append((line["is_correct"], line["is_consistent_with_baseline"]))
    return {x: (sum(c for c, _ in g) / len(g), sum(s for _, s in g) / len(g)) for x, g in groups.items()}


# ------------------------------------------------------------------------------------------------
# Convert everything once; summarize everything, write the report of MMAR (its plots are small)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The folder holding ``outputs/`` (every converted file) and ``manifests/``."""
    if not STUDY.is_dir():
        pytest.skip("../shared/anchor-outputs/study-e4cee03 is absent")
    tmp = tmp_path_factory.mktemp("study")
    manifests, out = tmp / "manifests", tmp / "outputs"
    assert convert_main(["anchor-manifest", str(STUDY / "data" / "mmar" / "mmar_test_standardized.jsonl"),
                         str(manifests / "mmar")]) == 0
    sakura_manifest = str(REPO / "processed_input" / "sakura" / "{track}" / "sakura_manifest.jsonl")
    for track in TRACKS:
        target = out / "sakura" / "qwen_omni" / track
        baseline = target / f"baseline_{track}.jsonl"
        assert convert_anchor(SAKURA / track / f"baseline_{track}_REAS.jsonl", baseline, "qwen_omni",
                              sakura_manifest) == 1000
        for level in LEVELS:
            assert convert_anchor(SAKURA / track / f"mask_p{level}_{track}_REAS.jsonl",
                                  target / "interventions" / f"mask_p{level}.jsonl", "qwen_omni", sakura_manifest,
                                  baseline=baseline) == 1000
    af3 = out / "mmar" / "af3_think"
    assert convert_anchor(AF3_BASELINE, af3 / "baseline_mmar.jsonl", "af3_think", str(manifests)) == 994
    for part in FILLER_PARTS:
        for reference in ("run", "baseline_file"):
            convert_anchor(part, af3 / "interventions" / f"{part.stem}_{reference}.jsonl", "af3_think",
                           str(manifests), baseline=af3 / "baseline_mmar.jsonl", reference_from=reference)
    omni = out / "mmar" / "qwen_omni"
    assert convert_anchor(OMNI_BASELINE, omni / "baseline_mmar.jsonl", "qwen_omni", str(manifests)) == 99
    assert convert_anchor(EARLY, omni / "interventions" / "early_answering.jsonl", "qwen_omni", str(manifests)) == 63
    return tmp


@pytest.fixture(scope="module")
def summary_rows(converted):
    """Every converted file's summary rows, as summary.csv writes them (``SummaryRow``)."""
    dataset = report.load_outputs(converted / "outputs", converted / "manifests")
    return report.summarize(dataset, report.Settings(n_resamples=10))


@pytest.fixture(scope="module")
def mmar_report(converted):
    """``audiofaith report`` on the converted MMAR files: its folder and summary.csv's rows."""
    folder = converted / "report"
    report.write_report(converted / "outputs" / "mmar", folder, converted / "manifests", report.Settings(n_resamples=10))
    with open(folder / "summary.csv", encoding="utf-8") as handle:
        return folder, list(csv.DictReader(handle))


def _row(rows, x, **where):
    """The one summary row at ``x`` matching ``where`` (summary.csv dicts or SummaryRow objects)."""
    get = (lambda r, k: r[k]) if rows and isinstance(rows[0], dict) else getattr
    found = [r for r in rows if all(get(r, k) == v for k, v in where.items())
             and get(r, "x") not in (None, "") and float(get(r, "x")) == x]
    assert len(found) == 1, (where, x, found)
    return found[0]


def _python_same(row) -> float:
    """Agreement with two nulls counted equal (Python's ``==``)."""
    return (int(row["n_agree"]) + int(row["n_both_null"])) / int(row["n_scored"])


def _pandas_same(row) -> float:
    """Agreement with a null never equal (pandas' ``==``): agree, null = disagree."""
    return float(row["agree_rate_null_as_disagree"])





def _close(ours: float, study: float) -> bool:
    return abs(100 * ours - 100 * study) < 0.1


@needs_study
@pytest.mark.parametrize("track", TRACKS)
def test_audio_masking_per_level_and_track(summary_rows, track):
    for level, (accuracy, same) in study_masking(track).items():
        row = _row(summary_rows, level / 100, dataset="sakura", model="qwen_omni" + PAPER, subset=track, hop="all",
                   condition="mask")
        assert row["n"] == 1000 and row["x_name"] == "mask_ratio"
        assert _close(float(row["accuracy"]), accuracy), (track, level, row["accuracy"], accuracy)
        assert _close(_python_same(row), same), (track, level, _python_same(row), same)


@needs_study
def test_random_partial_filler_as_the_plot_script_merges_the_baseline_file(mmar_report):
    _, rows = mmar_report
    study = study_partial_filler(merge_baseline_file=True)
    assert sorted(study) == list(range(0, 101, 5))
    for x, (accuracy, same) in study.items():
        row = _row(rows, x, dataset="mmar", model="af3_think" + PAPER, subset="all", condition="partial_filler",
                   variant="filler=lorem, position=random, reference_from=baseline_file")
        assert row["n"] == "100" and row["x_name"] == "percent"
        assert _close(float(row["accuracy"]), accuracy) and _close(_pandas_same(row), same), (x, row)


@needs_study
def test_random_partial_filler_against_each_lines_own_baseline_letter(mmar_report):
    """The lines' own reference: 76 of 100 chains keep their letter with nothing replaced, where the
    plot script draws 100 %."""
    _, rows = mmar_report
    study = study_partial_filler(merge_baseline_file=False)
    for x, (accuracy, same) in study.items():
        row = _row(rows, x, dataset="mmar", model="af3_think" + PAPER, subset="all", condition="partial_filler",
                   variant="filler=lorem, position=random, reference_from=run")
        assert _close(float(row["accuracy"]), accuracy) and _close(_python_same(row), same), (x, row)
    zero = _row(rows, 0, dataset="mmar", model="af3_think" + PAPER, subset="all", condition="partial_filler",
                variant="filler=lorem, position=random, reference_from=run")
    assert (zero["n_agree"], zero["n_both_null"], zero["n_scored"]) == ("76", "0", "100")


@needs_study
def test_early_answering_in_the_study_5_percent_bins(mmar_report):
    _, rows = mmar_report
    study = study_early_answering()
    assert 100 in study and len(study) >= 10
    for x, (accuracy, same) in study.items():
        row = _row(rows, x, dataset="mmar", model="qwen_omni" + PAPER, subset="all",
                   condition="early_answering_5pct")
        assert row["x_name"] == "percent_bin"
        assert _close(float(row["accuracy"]), accuracy) and _close(_python_same(row), same), (x, row)
    full_chain = _row(rows, 100, dataset="mmar", model="qwen_omni" + PAPER, subset="all",
                      condition="early_answering_5pct")
    assert round(100 * _python_same(full_chain), 1) == 73.3  # 11 of 15 chains, everything provided


@needs_study
def test_noise_floor_beside_every_curve_in_the_table_and_plots(mmar_report, summary_rows):
    folder, _ = mmar_report
    text = (folder / "report.md").read_text(encoding="utf-8")
    section = text.split("Noise floor: the same answer with nothing changed", 1)[1]
    assert "| af3_think [paper protocol] | all | none | partial_filler | filler=lorem, position=random, " \
           "reference_from=run | agree_rate_excl_null | x = 0 (nothing changed) | 77.6 | 100 | 100 |" in section
    assert "| qwen_omni [paper protocol] | all | none | early_answering_5pct | – | agree_rate_null_as_disagree | " \
           "x = 100 (nothing changed) | 73.3 | 15 | 0 |" in section
    for plot in ("partial_filler.png", "early_answering_5pct.png"):
        assert (folder / "plots" / plot).is_file()
    with open(folder / "noise_floor.csv", encoding="utf-8") as handle:
        floors = {(r["model"], r["subset"], r["condition"], r["variant"]): r for r in csv.DictReader(handle)}
    early = floors[("qwen_omni" + PAPER, "all", "early_answering_5pct", "")]
    assert (early["floor"], early["n_floor"], early["strongest_x"]) == ("0.733333", "15", "0")
    blocks = section_noise_floor(SectionContext(rows=summary_rows, aocs=[], dataset=None, colors={},
                                                plot_dir=folder, settings=report.Settings()))
    masking = [row for block in blocks if hasattr(block, "rows") for row in block.rows if row[3] == "mask"]
    assert len(masking) == 12 and all(row[6] == NOT_MEASURED for row in masking)  # the study has no unmasked rerun


@needs_study
def test_a_curve_without_its_own_zero_point_takes_the_full_condition(summary_rows):
    rows = [r for r in summary_rows if r.condition == "mask" and r.subset == "animal" and r.hop == "all"]
    full = dataclasses.replace(rows[0], condition="full", variant="", x=None, agree_rate_excl_null=0.8, n_scored=999)
    curve = spec_index().curves["mask_agreement"]
    (floor,) = noise_floors(rows + [full], curve)
    assert (floor.floor, floor.n_floor, floor.strongest_x) == (0.8, 999, 1.0)
    assert floor.source.startswith("`full`")
    (unmeasured,) = noise_floors(rows, curve)
    assert unmeasured.floor is None and unmeasured.source == NOT_MEASURED
    assert noise_floors(rows, spec_index().curves["mask_accuracy"]) == []  # accuracy curves have no floor


@needs_study
def test_the_plot_draws_the_floor(summary_rows, monkeypatch, tmp_path):
    import matplotlib.axes

    from audiofaith.report.plots import model_colors, plot_curves

    rows = [r for r in summary_rows if r.dataset == "mmar" and r.subset == "all"]
    drawn = []
    original = matplotlib.axes.Axes.axhline
    monkeypatch.setattr(matplotlib.axes.Axes, "axhline",
                        lambda self, y=0, *args, **kwargs: drawn.append((y, kwargs.get("label"))) or
                        original(self, y, *args, **kwargs))
    assert plot_curves(rows, spec_index().curves["partial_filler"], model_colors({r.model for r in rows}),
                       tmp_path / "partial_filler.png")
    floors = {round(y, 1) for y, label in drawn if label and label.endswith("no intervention")}
    assert 77.6 in floors  # the pooled curve's floor: 76 of 98 chains with two letters


# ------------------------------------------------------------------------------------------------
# Conversion rules on small inputs


def test_percent_bins_round_half_to_even_as_pandas():
    assert [percent_bin(k, 8) for k in range(9)] == [0, 10, 25, 40, 50, 60, 75, 90, 100]
    assert [percent_bin(k, 3) for k in range(4)] == [0, 35, 65, 100]


def test_kind_from_the_lines_and_the_file_name():
    assert anchor_kind(Path("x.jsonl"), {"percent_replaced": 5}) == "partial_filler"
    assert anchor_kind(Path("x.jsonl"), {"num_sentences_provided": 1, "total_sentences_in_chain": 2}) \
        == "early_answering"
    assert anchor_kind(Path("mask_p40_animal_REAS.jsonl"), {"predicted_letters": ["A"]}) == "mask"
    assert anchor_kind(Path("baseline_animal_REAS.jsonl"), {"predicted_letters": ["A"]}) == "baseline"


MMAU_IDS = ("0a6c1d2e-1111-4f00-9a00-000000000001", "0a6c1d2e-2222-4f00-9a00-000000000002")


def _mmau_manifest(tmp: Path) -> Path:
    items = [ManifestItem(id=MMAU_IDS[0], dataset="mmau", subset="speech", hop="none", audio="MMAU/a.wav",
                          question="Who speaks?", choices=("Man", "Woman"), answer="A", meta={"file": "a.wav"}),
             ManifestItem(id=MMAU_IDS[1], dataset="mmau", subset="sound", hop="none", audio="MMAU/b.wav",
                          question="What sound?", choices=("Rain", "Wind", "Fire"), answer="C",
                          meta={"file": "b.wav"})]
    write_manifest(tmp / "mmau" / "speech" / "mmau_manifest.jsonl", items[:1])
    write_manifest(tmp / "mmau" / "sound" / "mmau_manifest.jsonl", items[1:])
    return tmp / "mmau"


def test_mmau_baseline_with_the_benchmark_ids(tmp_path):
    manifests = _mmau_manifest(tmp_path)
    source = tmp_path / "baseline_mmau_REAS.jsonl"
    lines = [{"id": MMAU_IDS[0], "true_answer": "(A) Man", "true_letter": "A", "predicted_letters": ["B"],
              "raw_model_outputs": ["It is a woman. (B)"], "accuracy": 0.0},
             {"id": MMAU_IDS[1], "true_answer": "(C) Fire", "true_letter": "C", "predicted_letters": ["N"],
              "raw_model_outputs": ["None of these."], "accuracy": 0.0}]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert convert_anchor(source, tmp_path / "out.jsonl", "af3_think", str(manifests)) == 2
    first, second = read_jsonl(tmp_path / "out.jsonl")
    assert (first["dataset"], first["subset"], first["runs_predictions"], first["runs_correct"], first["protocol"]) \
        == ("mmau", "speech", ["B"], [False], "paper")
    assert second["runs_predictions"] == ["N"] and second["runs_correct"] == [False]  # kept as the study parsed it
    lines[0]["true_letter"] = "B"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(ConvertError, match=r"baseline_mmau_REAS.jsonl:1: gold answer B"):
        convert_anchor(source, tmp_path / "out.jsonl", "af3_think", str(manifests))


def test_mask_file_needs_the_converted_baseline(tmp_path):
    manifests = _mmau_manifest(tmp_path)
    source = tmp_path / "mask_p20_mmau_REAS.jsonl"
    source.write_text(json.dumps({"id": MMAU_IDS[0], "true_answer": "(A) Man", "true_letter": "A",
                                  "predicted_letters": ["A"]}) + "\n", encoding="utf-8")
    with pytest.raises(ConvertError, match="needs --baseline"):
        convert_anchor(source, tmp_path / "out.jsonl", "af3_think", str(manifests))


@needs_study
def test_study_mmar_manifest_takes_the_gold_from_answer_key():
    built = study_mmar_manifests(STUDY / "data" / "mmar" / "mmar_test_standardized.jsonl")
    items = {item.id: item for subset in built.values() for item in subset}
    assert len(items) == 995  # 999 rows, 4 without a single gold option (named in a warning)
    assert "mmar_263" not in items and items["mmar_0"].answer == "A" and items["mmar_0"].dataset == "mmar"
    assert items["mmar_158"].choices[items["mmar_158"].letters.index(items["mmar_158"].answer)] == \
        "Octave interval leap simulates bell"


@needs_study
@pytest.mark.parametrize("model, path", [("af3_think", AF3_BASELINE), ("qwen_omni", OMNI_BASELINE)])
def test_mmar_baselines_keep_the_study_correctness(summary_rows, model, path):
    """Every chain a run: correct answers summed over the modality rows equal the study's ``is_correct``."""
    lines = _lines(path)
    rows = [r for r in summary_rows if r.dataset == "mmar" and r.model == model + PAPER
            and r.condition == "baseline_cot"]
    assert sum(r.n for r in rows) == len(lines)
    assert sum(r.n_correct for r in rows) == sum(line["is_correct"] for line in lines)
    assert sum(r.n_null_prediction for r in rows) == sum(line["predicted_choice"] is None for line in lines)


@needs_study
def test_mmar_export_scores_as_the_study(mmar_report):
    """The evaluation-script input of MMAR (answer_prediction = the chosen option's text, empty for a
    letter that is no option) scores the study's AF3 run as its own ``is_correct`` does."""
    folder, _ = mmar_report
    exported = [line for path in sorted((folder / "benchmark_eval" / "mmar" / ("af3_think" + PAPER) / "cot")
                                        .glob("MMAR-predictions*.jsonl")) for line in read_jsonl(path)]
    study = _lines(AF3_BASELINE)
    assert len(exported) == len(study) == 1194
    assert sum(line["answer_prediction"] == line["answer"] for line in exported) == \
        sum(line["is_correct"] for line in study)


def test_a_line_without_the_fields_of_its_kind_is_named(tmp_path):
    manifests = _mmau_manifest(tmp_path)
    source = tmp_path / "early.jsonl"
    source.write_text(json.dumps({"id": MMAU_IDS[0], "chain_id": 0, "correct_choice": "A", "predicted_choice": "A",
                                  "num_sentences_provided": 1, "total_sentences_in_chain": 2}) + "\n",
                      encoding="utf-8")
    with pytest.raises(ConvertError, match=r"early.jsonl:1: not an anchor early answering line, missing "
                                           r"corresponding_baseline_predicted_choice"):
        convert_anchor(source, tmp_path / "out.jsonl", "qwen_omni", str(manifests))
