"""One deterministic run of every runner with the fake backend, writing each kind of result line
(baseline, baseline error, paper baseline, conditioned, intervention lines of every action, with
parameters, results, audio edits, text-only calls, skipped and audio-error lines).

``tests/golden/records/*.jsonl`` hold what this scenario wrote before records carried a
``schema_version`` (the format of version 0, the migration's input). ``tests/test_records.py``
checks that they still load and that the scenario now writes the same lines plus the version.
Regenerate them only for a deliberate format change."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
import soundfile

from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.text.protocols import paper_protocol
from audiofaith.store.records import ManifestItem
from audiofaith.runners.baseline import BaselineConfig, run_baseline
from audiofaith.runners.conditioned import conditioned_variants, load_baseline_results
from audiofaith.runners.variants import Variant, VariantConfig, run_variants, with_cue_references
from tests.runners.fake_backend import FakeBackend

FILES = ("baseline", "baseline_paper", "conditioned", "interventions_logits", "interventions_generate")


def _items(data_root: Path):
    rate = 16000
    t = np.arange(rate * 2) / rate
    soundfile.write(str(data_root / "tone.wav"), (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    soundfile.write(str(data_root / "long.wav"), np.zeros(rate * 31, dtype=np.float32), rate)
    (data_root / "bad.wav").write_bytes(b"RIFF not audio")
    common = dict(dataset="sakura", subset="animal", question="Which animal is it?",
                  choices=("dog", "crow", "cow", "rooster"))
    return [ManifestItem(id="sakura/animal/single/dog1", hop="single", audio="tone.wav", answer="A", **common),
            ManifestItem(id="sakura/animal/multi/dog1", hop="multi", audio="tone.wav", answer="B", **common),
            ManifestItem(id="sakura/animal/single/long2", hop="single", audio="long.wav", answer="C", **common),
            ManifestItem(id="sakura/animal/single/bad3", hop="single", audio="bad.wav", answer="D", **common)]


def scenario_lines(path: Path, root: Path) -> str:
    """The text of a scenario output with its temporary folder written as ``<root>``."""
    return path.read_text(encoding="utf-8").replace(str(root), "<root>")


def write_scenario(root: Path) -> Dict[str, Path]:
    """Run the scenario under ``root``; returns the output file of each name in ``FILES``."""
    data_root = root / "data"
    data_root.mkdir(parents=True)
    items = _items(data_root)
    out = {name: root / f"{name}.jsonl" for name in FILES}
    reply = "It barks twice. So the answer is (A).\nAnswer: (A)"
    run_baseline(FakeBackend(reply=reply), items, data_root, out["baseline"],
                 BaselineConfig(model_key="fake", num_runs=2, batch_size=3), DEFAULT_PROFILE)
    run_baseline(FakeBackend(reply="<think>It caws.</think> (B)"), items[:2], data_root, out["baseline_paper"],
                 BaselineConfig(model_key="qwen2_audio", batch_size=2), DEFAULT_PROFILE,
                 paper=paper_protocol("qwen2_audio"))
    results = load_baseline_results(out["baseline"], items)
    run_variants(FakeBackend(), with_cue_references(conditioned_variants(results, items), results), data_root,
                 out["conditioned"], VariantConfig(model_key="fake", batch_size=4, desc="conditioned"), DEFAULT_PROFILE)

    def annotate(record) -> Dict[str, object]:
        return {"mentions_b": "(B)" in (record.reasoning or "")}

    silence = lambda samples, item: np.zeros_like(samples)  # noqa: E731
    drop = lambda samples, item: None  # noqa: E731
    first, second, long = items[0], items[1], items[2]
    variants = [
        Variant(item=first, run=0, condition="early_answering", params={"n": 3, "k": 1}, baseline_prediction="A",
                baseline_cue_prediction="A", reasoning="It barks.", extra={"cot_sentences": 3}),
        Variant(item=first, run=1, condition="early_answering", params={"n": 3, "k": 0}, baseline_prediction="A",
                baseline_cue_prediction="A", reasoning=""),
        Variant(item=first, run=0, condition="adding_mistakes", params={"i": 0, "continued": True},
                baseline_prediction="A", baseline_cue_prediction="A", reasoning="It caws (B).", action="continue",
                annotate=annotate),
        Variant(item=second, run=0, condition="regen", params={"mode": "regenerate"}, baseline_prediction="A",
                baseline_cue_prediction="B", action="regenerate", cot_source_model="fake"),
        Variant(item=second, run=0, condition="hint", params={"hint_letter": "C"}, baseline_prediction="A",
                baseline_cue_prediction="A", reasoning="(A)", user_text="Which animal? A user thinks (C).",
                extra={"hint_mode": "all"}),
        Variant(item=long, run=0, condition="silence", params={"mode": "fixed_cot"}, baseline_prediction=None,
                baseline_cue_prediction="A", reasoning="(D)", audio_edit=silence),
        Variant(item=long, run=0, condition="no_audio", params={"mode": "fixed_cot"}, baseline_prediction="A",
                baseline_cue_prediction=None, reasoning="(C)", audio_edit=drop, cot_source_model="other"),
        Variant(item=items[3], run=0, condition="silence", params={"mode": "fixed_cot"}, baseline_prediction="A",
                baseline_cue_prediction="A", reasoning="(A)", audio_edit=silence),
        Variant(item=second, run=1, condition="early_answering", params={"n": 2, "k": 2}, baseline_prediction=None,
                reasoning="", skip_reason="the baseline run has no reasoning to inject"),
    ]
    regen = FakeBackend(reply=lambda inp: " It caws, (B).\nAnswer: (B)" if not inp.assistant_prefix.endswith("(")
                        else "C)")
    run_variants(regen, variants, data_root, out["interventions_logits"],
                 VariantConfig(model_key="fake", batch_size=4, desc="interventions"), DEFAULT_PROFILE)
    run_variants(regen, variants, data_root, out["interventions_generate"],
                 VariantConfig(model_key="fake", answer_mode="generate", batch_size=4, desc="interventions"),
                 DEFAULT_PROFILE)
    return out


if __name__ == "__main__":  # regenerate the golden files (a deliberate format change only)
    import sys
    import tempfile

    target = Path(__file__).parent / "golden" / "records"
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in write_scenario(Path(tmp)).items():
            (target / f"{name}.jsonl").write_text(scenario_lines(path, Path(tmp)), encoding="utf-8")
    sys.stdout.write(f"wrote {len(FILES)} files to {target}\n")
