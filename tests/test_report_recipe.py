"""The "new intervention" recipe: one module plus one registry line, and its variants run and its
report appears (section, curve, summary column) with no change to the runner or the report."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from audiofaith import interventions, report
from audiofaith.store.jsonl import write_jsonl
from audiofaith.store.manifest import load_manifest
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.store.records import BaselineRecord
from audiofaith.runners.variants import VariantConfig, run_variants, with_cue_references
from tests.runners.fake_backend import FakeBackend

REPORT_PACKAGE = Path(report.__file__).parent
COT = "It barks twice, so it is not (B) crow. The answer is (A)."


def test_the_report_names_no_condition_of_a_registered_spec():
    source = "\n".join(path.read_text(encoding="utf-8") for path in REPORT_PACKAGE.glob("*.py"))
    conditions = [c for spec in report.spec_index().specs for c in spec.conditions]
    assert "early_answering" in conditions and "full" in conditions and "noise_snr" in conditions
    named = [c for c in conditions if re.search(rf"[\"']{c}[\"']", source)]
    assert not named, f"the report package names conditions its specs declare: {named}"


def test_a_new_family_is_one_module_and_one_registry_line(monkeypatch, synthetic_data, tmp_path):
    monkeypatch.setitem(interventions.KINDS, "toy_keep_last", "tests.toy_intervention")  # the registry line
    assert "toy_keep_last" in interventions.conditions()
    items = [item for item in load_manifest(synthetic_data["manifests"]["animal"]) if item.hop == "single"][:2]
    results = [BaselineRecord(id=item.id, model="fake", prompt_mode="cot", answer=item.answer, subset=item.subset,
                              hop=item.hop, dataset=item.dataset, runs_reasonings=[COT], runs_predictions=["A"],
                              runs_raw=[COT], runs_correct=[item.answer == "A"],
                              runs_letter_logprobs=[{letter: -0.1 if letter == "A" else -3.0 for letter in item.letters}])
               for item in items]
    root = tmp_path / "output" / "sakura"
    write_jsonl(root / "fake" / "animal" / "baseline_animal.jsonl", [r.to_json() for r in results])
    backend = FakeBackend()
    context = interventions.InterventionContext(items=items, results=results, profile=DEFAULT_PROFILE, options={},
                                                backend=backend, model_key="fake")
    variants = with_cue_references(interventions.family("toy_keep_last").build_variants(context), results)
    out = root / "fake" / "animal" / "interventions" / "toy_keep_last_animal.jsonl"
    counts = run_variants(backend, variants, synthetic_data["data_root"], out,
                          VariantConfig(model_key="fake", batch_size=4), DEFAULT_PROFILE)
    assert len(variants) == 6 and counts

    report.write_report(root, tmp_path / "report", synthetic_data["root"] / "processed_input",
                        report.Settings(n_resamples=50))
    text = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Toy: only the last words of the CoT" in text
    assert "](plots/toy_keep_last.png)" in text and (tmp_path / "report" / "plots" / "toy_keep_last.png").is_file()
    assert text.index("## Toy") < text.index("## Paired accuracy changes (clip-level test)")  # placed by its order
    with open(tmp_path / "report" / "summary.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["condition"] == "toy_keep_last"]
    assert [(r["x_name"], r["x"], r["n_scored"], r["toy_lines_scored"]) for r in rows] == \
        [("share", "0", "2", "2"), ("share", "0.5", "2", "2"), ("share", "1", "2", "2")]
    # the fake backend answers with the last "(X)" it sees: none kept → the first option; the whole CoT → (A)
    by_share = {r["x"]: r for r in rows}
    assert by_share["1"]["agree_rate_excl_null"] == "1" and by_share["0.5"]["n_valid_pairs"] == "2"
