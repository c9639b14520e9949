"""MMAU and MMAR through the whole pipeline on the tiny random-weight Qwen2-Audio: baseline,
conditioned (own and reference CoT), interventions, and the report with its per-benchmark tables,
audio-cut counts and evaluation-script exports. Outputs mean nothing (random weights); the tests
check the contracts: 2- to 8-option letters, labels, joins, no pooling across benchmarks."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audiofaith.benchmarks import get_spec
from audiofaith.benchmarks.common import REFERENCE_COT_KEY, build_benchmark, write_manifests
from audiofaith.cli.main import main as cli_main
from audiofaith.text.cot import sentence_spans
from audiofaith.store.jsonl import read_jsonl
from audiofaith.store.manifest import load_manifest
from audiofaith.report import main as report_main
from tests.conftest import REPO
from tests.test_benchmarks import MMAR_QUESTIONS, write_metadata

pytestmark = pytest.mark.slow

MMAU_SUBSETS = ("sound", "speech")  # the 8-option question; 2-, 4- (merged) and 5-option questions
MMAR_SUBSETS = ("speech", "mix-sound-speech")  # MMAU has a "speech" subset too: never pooled with it


def _run(command, manifest, output, data_root, model, *extra):
    flags = {"baseline": ["--input", str(manifest), "--output", str(output)],
             "conditioned": ["--manifest_file", str(manifest), "--output_conditioned_file", str(output)],
             "intervene": ["--manifest_file", str(manifest), "--output_file", str(output)]}[command]
    argv = [command, "--model", "qwen2_audio", "--model_path", str(model), "--data_root", str(data_root),
            "--batch_size", "4", "--workers", "1", *flags, *extra]
    assert cli_main(argv) == 0, argv


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_qwen2_audio) -> dict:
    root = tmp_path_factory.mktemp("benchmarks")
    meta = write_metadata(root)
    manifests = root / "processed_input"
    paths = {}
    for bench, subsets in (("mmau", MMAU_SUBSETS), ("mmar", MMAR_SUBSETS)):
        spec = get_spec(bench)
        built = build_benchmark(spec, meta[bench], meta[f"{bench}_audio"], meta["data_root"], subsets)
        for subset, path in write_manifests(built, manifests / bench, spec.manifest_name).items():
            paths[(bench, subset)] = path
    out = root / "output"
    files = {}
    for (bench, subset), manifest in paths.items():
        baseline = out / bench / "qwen2_audio" / subset / f"baseline_{subset}.jsonl"
        _run("baseline", manifest, baseline, meta["data_root"], tiny_qwen2_audio, "--max_new_tokens", "20")
        files[(bench, subset, "baseline")] = baseline
    mix = ("mmar", "mix-sound-speech")
    folder = out / "mmar" / "qwen2_audio" / "mix-sound-speech"
    for name, extra in (("conditioned", []), ("conditioned_reference", ["--cot_source", "reference"])):
        files[mix + (name,)] = folder / f"{name}_mix-sound-speech.jsonl"
        _run("conditioned", paths[mix], files[mix + (name,)], meta["data_root"], tiny_qwen2_audio,
             "--input_results_file", str(files[mix + ("baseline",)]), *extra)
    files[mix + ("early_reference",)] = folder / "interventions" / "early_answering_reference.jsonl"
    _run("intervene", paths[mix], files[mix + ("early_reference",)], meta["data_root"], tiny_qwen2_audio,
         "--input_results_file", str(files[mix + ("baseline",)]), "--kind", "early_answering",
         "--cot_source", "reference")
    sound = ("mmau", "sound")
    files[sound + ("early",)] = out / "mmau" / "qwen2_audio" / "sound" / "interventions" / "early_answering.jsonl"
    _run("intervene", paths[sound], files[sound + ("early",)], meta["data_root"], tiny_qwen2_audio,
         "--input_results_file", str(files[sound + ("baseline",)]), "--kind", "early_answering")
    report = root / "report"
    assert report_main([str(out), "--out", str(report), "--manifest_dir", str(manifests), "--n_resamples", "50"]) == 0
    return {"root": root, "meta": meta, "manifests": paths, "files": files, "report": report, "out": out}


def test_baseline_records_carry_the_benchmark_and_every_option_letter(pipeline):
    records = {r["id"]: r for r in read_jsonl(pipeline["files"][("mmau", "sound", "baseline")])}
    assert set(records["u-sound-8"]["runs_letter_logprobs"][0]) == set("ABCDEFGH")
    assert records["u-sound-8"]["runs_predictions"][0] in (None, *"ABCDEFGH")
    speech = {r["id"]: r for r in read_jsonl(pipeline["files"][("mmau", "speech", "baseline")])}
    assert set(speech["u-speech-2"]["runs_letter_logprobs"][0]) == set("AB")
    assert set(speech["u-speech-5b"]["runs_letter_logprobs"][0]) == set("ABCDE")
    assert all(r["dataset"] == "mmau" for r in [*records.values(), *speech.values()])
    early = read_jsonl(pipeline["files"][("mmau", "sound", "early")])
    eight = [l for l in early if l["id"] == "u-sound-8" and l["error"] is None]
    assert eight and all(set(l["letter_logprobs"]) == set("ABCDEFGH") for l in eight)


def test_long_mmar_clip_is_cut_and_recorded_per_item(pipeline):
    baseline = {r["id"]: r for r in read_jsonl(pipeline["files"][("mmar", "mix-sound-speech", "baseline")])}
    long_clip = baseline["r-mix-4"]
    assert long_clip["audio_seconds"] == 30.0
    assert any("truncated to qwen2_audio's 30 s window" in w for w in long_clip["warnings"])
    for name in ("conditioned", "conditioned_reference"):
        line = read_jsonl(pipeline["files"][("mmar", "mix-sound-speech", name)])[0]
        assert any("truncated" in w for w in line["audio_warnings"])


def test_reference_cot_lines_are_labelled_and_inject_the_reference(pipeline):
    files = pipeline["files"]
    baseline = {r["id"]: r for r in read_jsonl(files[("mmar", "mix-sound-speech", "baseline")])}
    own = {l["id"]: l for l in read_jsonl(files[("mmar", "mix-sound-speech", "conditioned")])}
    reference = {l["id"]: l for l in read_jsonl(files[("mmar", "mix-sound-speech", "conditioned_reference")])}
    assert set(own) == set(reference) == set(baseline)
    for item_id, line in reference.items():
        assert line["cot_source"] == "reference" and "cot_source" in line["param_names"]
        assert line["cot_source_model"] == "reference" and line["error"] is None
        assert line["baseline_prediction"] == baseline[item_id]["runs_predictions"][0]
        assert line["letter_logprobs"] != own[item_id]["letter_logprobs"]  # another CoT was read
        assert "cot_source" not in own[item_id] and own[item_id]["cot_source_model"] == "qwen2_audio"
    # early answering cuts the reference CoT, sentence by sentence: n is its sentence count
    thinking = {q["id"]: q["thinking"] for q in MMAR_QUESTIONS}
    early = read_jsonl(files[("mmar", "mix-sound-speech", "early_reference")])
    assert early and all(l["cot_source"] == "reference" for l in early)
    for line in early:
        assert line["n"] == len(sentence_spans(thinking[line["id"]]))
    meta = json.loads(Path(str(files[("mmar", "mix-sound-speech", "conditioned_reference")]) + ".meta.json").read_text())
    assert meta["fingerprint"]["cot_source"] == "reference"


def test_reference_cot_is_refused_where_it_cannot_apply(pipeline, tiny_qwen2_audio, caplog):
    meta, files = pipeline["meta"], pipeline["files"]
    common = ["--model", "qwen2_audio", "--model_path", str(tiny_qwen2_audio), "--data_root", str(meta["data_root"])]
    mmau = pipeline["manifests"][("mmau", "sound")]
    refused = cli_main(["conditioned", *common, "--manifest_file", str(mmau), "--input_results_file",
                        str(files[("mmau", "sound", "baseline")]), "--output_conditioned_file",
                        str(pipeline["root"] / "nope.jsonl"), "--cot_source", "reference"])
    assert refused == 2 and f"meta.{REFERENCE_COT_KEY}" in caplog.text and "mmau" in caplog.text
    mix = pipeline["manifests"][("mmar", "mix-sound-speech")]
    refused = cli_main(["intervene", *common, "--kind", "hint", "--manifest_file", str(mix), "--input_results_file",
                        str(files[("mmar", "mix-sound-speech", "baseline")]), "--output_file",
                        str(pipeline["root"] / "nope2.jsonl"), "--cot_source", "reference"])
    assert refused == 2 and "does not apply to --kind hint" in caplog.text
    assert not (pipeline["root"] / "nope.jsonl").exists() and not (pipeline["root"] / "nope2.jsonl").exists()


def _csv(path):
    return list(csv.DictReader(open(path, encoding="utf-8")))


def test_report_never_pools_benchmarks(pipeline):
    report = pipeline["report"]
    rows = _csv(report / "summary.csv")
    speech = [r for r in rows if r["subset"] == "speech" and r["condition"] == "baseline_cot"]
    assert sorted((r["dataset"], r["hop"], r["n"], r["n_missing"]) for r in speech) == [
        ("mmar", "none", "1", "0"), ("mmau", "none", "3", "0")]
    assert not [r for r in rows if r["hop"] == "all"]  # no hops to pool in these benchmarks
    assert {r["dataset"] for r in rows} == {"mmau", "mmar"}
    ref = [r for r in rows if r["condition"] == "full" and "cot_source=reference" in r["variant"]]
    assert len(ref) == 1 and ref[0]["dataset"] == "mmar" and ref[0]["n"] == "1"
    aoc = _csv(report / "aoc.csv")
    # aoc.csv holds defined AOCs only; the undefined ones (prompt=no_reasoning: one x value, no area)
    # are named in report.md with the reason. MMAU's tiny-model baselines parse no letter, but their
    # letter read-outs are the (like-with-like) reference of the read-out lines, so its AOC is defined
    assert sorted((a["dataset"], a["variant"]) for a in aoc) == [("mmar", "cot_source=reference, prompt=conditioned"),
                                                                 ("mmau", "prompt=conditioned")]
    md = (report / "report.md").read_text(encoding="utf-8")
    assert md.count("| – (no chain with two or more answered prefixes) |") >= 2
    assert "## Benchmark: MMAU test-mini" in md and "## Benchmark: MMAR" in md
    assert "### MMAU test-mini accuracy by task" in md and "### MMAR accuracy by modality" in md
    assert "cot_source=reference" in md and "tiny random-weight" in md


def test_report_category_accuracy_and_audio_cuts(pipeline):
    report = pipeline["report"]
    category = _csv(report / "category_accuracy.csv")
    mmau_all = [r for r in category if r["dataset"] == "mmau" and r["breakdown"] == "" and r["subset"] == "all"]
    assert len(mmau_all) == 1 and mmau_all[0]["n"] == "5"
    hard = [r for r in category if r["dataset"] == "mmau" and r["breakdown"] == "difficulty" and r["value"] == "hard"]
    assert sorted((r["subset"], r["n"]) for r in hard) == [("all", "2"), ("sound", "1"), ("speech", "1")]
    layers = {(r["value"], r["subset"]): r["n"] for r in category if r["dataset"] == "mmar" and r["breakdown"] == "category"}
    assert layers == {("Perception Layer", "mix-sound-speech"): "1", ("Perception Layer", "all"): "1",
                      ("Semantic Layer", "speech"): "1", ("Semantic Layer", "all"): "1"}
    for row in category:
        if row["n_scored"] != "0":
            assert float(row["accuracy"]) == int(row["n_correct"]) / int(row["n_scored"])
    cuts = {(r["dataset"], r["model"]): r for r in _csv(report / "audio_cuts.csv")}
    assert (cuts[("mmar", "qwen2_audio")]["items"], cuts[("mmar", "qwen2_audio")]["items_cut"]) == ("2", "1")
    answered = [l for key, path in pipeline["files"].items() if key[0] == "mmar" and key[2] != "baseline"
                for l in read_jsonl(path) if l["error"] is None]
    assert int(cuts[("mmar", "qwen2_audio")]["lines"]) == len(answered)
    assert int(cuts[("mmar", "qwen2_audio")]["lines_cut"]) == sum(l["id"] == "r-mix-4" for l in answered) > 2
    assert (cuts[("mmau", "qwen2_audio")]["items_cut"], cuts[("mmau", "qwen2_audio")]["lines_unrecorded"]) == ("0", "0")


def test_report_exports_what_the_benchmarks_evaluation_scripts_read(pipeline):
    report = pipeline["report"]
    mmau = json.loads((report / "benchmark_eval" / "mmau" / "qwen2_audio" / "cot" / "mmau-test-mini.json").read_text())
    baseline = {r["id"]: r for bench, subset in [("mmau", s) for s in MMAU_SUBSETS]
                for r in read_jsonl(pipeline["files"][(bench, subset, "baseline")])}
    assert sorted(s["id"] for s in mmau) == sorted(baseline)
    items = {item.id: item for path in pipeline["manifests"].values() for item in load_manifest(path)}
    for sample in mmau:
        for key in ("answer", "task", "difficulty", "choices", "sub-category", "model_output"):  # what evaluation.py reads
            assert key in sample
        letter = baseline[sample["id"]]["runs_predictions"][0]
        item = items[sample["id"]]
        assert sample["audiofaith_letter"] == letter
        assert sample["model_output"] == ("" if letter is None else item.choices[item.letters.index(letter)])
    merged = [s for s in mmau if s["id"] == "u-speech-5"][0]
    assert len(merged["choices"]) == 5 and merged["answer"] == "first is neutral."  # MMAU's own list, unmerged
    lines = (report / "benchmark_eval" / "mmar" / "qwen2_audio" / "cot" / "MMAR-predictions.jsonl").read_text().splitlines()
    mmar = [json.loads(line) for line in lines]
    assert sorted(s["id"] for s in mmar) == ["r-mix-4", "r-speech-2"]
    for sample in mmar:
        for key in ("answer", "modality", "category", "choices", "sub-category", "answer_prediction"):
            assert key in sample
        assert "thinking_prediction" in sample


def test_run_benchmark_script_prepares_runs_and_follows_the_reference(tmp_path, tiny_qwen2_audio):
    meta = write_metadata(tmp_path)
    env = dict(os.environ, MODEL_PATH=str(tiny_qwen2_audio), BATCH_SIZE="4", DATA_ROOT=str(meta["data_root"]),
               MANIFEST_DIR=str(tmp_path / "manifests"), OUTPUT_DIR=str(tmp_path / "output"),
               SUBSETS="speech", PYTHON=sys.executable, BASELINE_ARGS="--max_new_tokens 12", EXTRA_ARGS="--workers 1")
    done = subprocess.run(["bash", str(REPO / "scripts" / "run_benchmark.sh"), "mmar", "qwen2_audio", "prepare",
                           "baseline", "reference"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "prepare_benchmark.py mmar" in done.stderr and "--cot_source reference" in done.stderr
    out = tmp_path / "output" / "qwen2_audio" / "speech"
    assert [r["id"] for r in read_jsonl(out / "baseline_speech.jsonl")] == ["r-speech-2"]
    line = read_jsonl(out / "conditioned_reference_speech.jsonl")[0]
    assert line["cot_source"] == "reference" and line["dataset"] == "mmar"
