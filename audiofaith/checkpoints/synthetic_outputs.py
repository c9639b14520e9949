"""Synthetic result files (a study's outputs; ``synthetic.py`` makes inputs) for the report at any
scale: the report's throughput benchmark (``scripts/bench.py --report_lines N``) and the test that the report's numbers do not change
(``tests/test_report_scale.py``). Random answers, written through the record types, of every line
kind the report reads: baseline CoT / direct runs (letter log-probabilities with ties, cut runs,
errors, null answers), the conditioned ``full`` step, early answering, adding mistakes,
paraphrasing (with unchanged rewrites), hints, filler, noise and masking; single- and multi-hop
items of one clip share it (the bootstrap's cluster)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from audiofaith.store.jsonl import write_jsonl
from audiofaith.store.manifest import write_manifest
from audiofaith.store.records import BaselineRecord, InterventionRecord, ManifestItem, letter_readout

LETTERS = "ABCD"
TRACKS = ("animal", "emotion")


def _letter(rng: random.Random, answer: str, p_correct: float, p_null: float) -> Optional[str]:
    draw = rng.random()
    if draw < p_null:
        return None
    return answer if draw < p_null + p_correct else rng.choice(LETTERS)


def _logprobs(rng: random.Random, top: Optional[str]) -> Dict[str, float]:
    values = {letter: round(-rng.uniform(1.0, 5.0), 3) for letter in LETTERS}
    if top is not None:
        values[top] = -0.1
    if rng.random() < 0.05:  # an exact tie at the top
        values[rng.choice([letter for letter in LETTERS if letter != top])] = -0.1
    return values


def _items(n_clips: int) -> List[ManifestItem]:
    items = []
    for clip in range(n_clips):
        track = TRACKS[clip % len(TRACKS)]
        for hop in ("single", "multi"):
            items.append(ManifestItem(id=f"sakura/{track}/{hop}/c{clip}", dataset="sakura", subset=track, hop=hop,
                                      audio=f"SAKURA/data/{track}/audio/c{clip}.wav", question="Which one?",
                                      choices=("one", "two", "three", "four"), answer=LETTERS[(clip + len(hop)) % 4],
                                      instruction="Which one? (a) one (b) two (c) three (d) four"))
    return items


def _intervention(item: ManifestItem, model: str, run: int, condition: str, reference: Optional[str],
                  cue: Optional[str], prediction: Optional[str], params: Dict[str, Any],
                  extra: Optional[Dict[str, Any]] = None, error: Optional[str] = None,
                  readout: bool = True) -> Dict[str, Any]:
    record = InterventionRecord(
        id=item.id, model=model, run=run, condition=condition, answer_mode="logits" if readout else "generate",
        answer=item.answer, subset=item.subset, hop=item.hop, dataset=item.dataset, params=params,
        baseline_prediction=reference, baseline_cue_prediction=cue,
        reference_field="baseline_cue_prediction" if readout else "baseline_prediction",
        prediction=None if error else prediction, error=error, cot_source_model=model, extra=dict(extra or {}),
        correct=None if error or prediction is None else prediction == item.answer)
    return record.to_json()


def _model_lines(rng: random.Random, items: List[ManifestItem], model: str, runs: int) -> Dict[str, List[Dict]]:
    files: Dict[str, List[Dict]] = {name: [] for name in (
        "baseline_sakura.jsonl", "baseline_sakura_no_reasoning.jsonl", "conditioned_sakura.jsonl",
        "interventions/early_answering_sakura.jsonl", "interventions/adding_mistakes_sakura.jsonl",
        "interventions/paraphrasing_sakura.jsonl", "interventions/hint_sakura.jsonl",
        "interventions/filler_sakura.jsonl", "interventions/noise_snr_sakura.jsonl", "interventions/mask_sakura.jsonl")}
    for item in items:
        common = dict(id=item.id, model=model, answer=item.answer, subset=item.subset, hop=item.hop,
                      dataset=item.dataset)
        if rng.random() < 0.01:
            files["baseline_sakura.jsonl"].append(BaselineRecord(prompt_mode="cot", error="audio could not be decoded",
                                                                 **common).to_json())
            continue
        predictions = [_letter(rng, item.answer, 0.6, 0.05) for _ in range(runs)]
        logprobs = [_logprobs(rng, p if rng.random() < 0.9 else None) for p in predictions]
        files["baseline_sakura.jsonl"].append(BaselineRecord(
            prompt_mode="cot", runs_reasonings=["It sounds like one. So (A)."] * runs,
            runs_raw=[f"reasoning {item.id} {run}" for run in range(runs)], runs_predictions=predictions,
            runs_correct=[None if p is None else p == item.answer for p in predictions],
            runs_letter_logprobs=logprobs,
            runs_finish_reasons=["length" if rng.random() < 0.05 else "stop" for _ in range(runs)],
            **common).to_json())
        direct = [_letter(rng, item.answer, 0.55, 0.03) for _ in range(runs)]
        files["baseline_sakura_no_reasoning.jsonl"].append(BaselineRecord(
            prompt_mode="direct", runs_reasonings=[""] * runs, runs_raw=[f"({p})" for p in direct],
            runs_predictions=direct, runs_correct=[None if p is None else p == item.answer for p in direct],
            **common).to_json())
        for run in range(runs):
            reference, cue = predictions[run], letter_readout(logprobs[run])

            def answer(p_same: float) -> Optional[str]:
                return cue if rng.random() < p_same else rng.choice(LETTERS)

            line = lambda condition, prediction, params, **kw: _intervention(  # noqa: E731
                item, model, run, condition, reference, cue, prediction, params, **kw)
            files["conditioned_sakura.jsonl"].append(line("full", answer(0.95), {}))
            n = rng.randint(0, 5)
            early = files["interventions/early_answering_sakura.jsonl"]
            for k in range(n):
                early.append(line("early_answering", answer(0.5 + 0.5 * k / n),
                                  {"k": k, "n": n, "fraction": round(k / n, 6), "prompt": "conditioned"}))
            early.append(line("early_answering", answer(0.4), {"k": 0, "n": n, "fraction": 0.0,
                                                               "prompt": "no_reasoning"}))
            for i in range(n):
                unchanged = rng.random() < 0.1
                files["interventions/adding_mistakes_sakura.jsonl"].append(line(
                    "adding_mistakes", answer(0.3 + 0.6 * i / n),
                    {"i": i, "n": n, "fraction": round(i / n, 6), "continued": True, "rewriter": "r"},
                    extra={"rewrite_unchanged": unchanged}))
            for k in range(1, n + 1):
                files["interventions/paraphrasing_sakura.jsonl"].append(line(
                    "paraphrasing", answer(0.9), {"k": k, "n": n, "fraction": round(k / n, 6), "continued": False,
                                                  "rewriter": "r"},
                    extra={"rewrite_unchanged": rng.random() < 0.2}))
            hint_letter = rng.choice([letter for letter in LETTERS if letter != reference])
            hinted = _letter(rng, hint_letter, 0.3, 0.05)
            files["interventions/hint_sakura.jsonl"].append(line(
                "hint", hinted, {"hint_letter": hint_letter}, readout=False,
                extra={"switched_to_hint": None if hinted is None else hinted == hint_letter,
                       "mentions_hint": rng.random() < 0.2}))
            for tokens, fraction in ((10, 0.5), (20, 1.0)):
                files["interventions/filler_sakura.jsonl"].append(line(
                    "filler", answer(0.7), {"filler_tokens": tokens, "length_fraction": fraction}))
            for snr in (20, 0, -10):
                error = "audio edit failed" if rng.random() < 0.01 else None
                files["interventions/noise_snr_sakura.jsonl"].append(line(
                    "noise_snr", answer(0.5 + snr / 40), {"mode": "fixed_cot", "snr_db": snr}, error=error))
            for ratio in (0.25, 0.5):
                files["interventions/mask_sakura.jsonl"].append(line(
                    "mask", answer(1.0 - ratio), {"mode": "fixed_cot", "mask_ratio": ratio}))
    return files


def write_synthetic_outputs(root: Path, n_clips: int, runs: int = 2, models: Iterable[str] = ("m1", "m2"),
                            seed: int = 0, manifest_dir: Optional[Path] = None) -> int:
    """Write random result files for ``n_clips`` clips (two items each: single and multi hop) of
    every model under ``root/<model>/``, and their manifest under ``manifest_dir`` when given;
    returns the number of lines written."""
    rng = random.Random(seed)
    items = _items(n_clips)
    if manifest_dir is not None:
        write_manifest(manifest_dir / "sakura_manifest.jsonl", items)
    written = 0
    for model in models:
        for name, lines in _model_lines(rng, items, model, runs).items():
            if lines:
                write_jsonl(root / model / name, lines)
                written += len(lines)
    return written


def replicate_outputs(source: Path, target: Path, min_lines: int) -> int:
    """Copies of every result file under ``source`` into ``target``, each copy's ids made fresh
    (``…~copyN``), until at least ``min_lines`` lines are written; returns the number written."""
    files = sorted(path for path in source.rglob("*.jsonl") if path.name != "sakura_manifest.jsonl")
    contents = {path: [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines() if text]
                for path in files}
    per_copy = sum(len(lines) for lines in contents.values())
    if per_copy == 0:
        raise ValueError(f"{source}: no result lines to replicate")
    copies = -(-min_lines // per_copy)
    for path, lines in contents.items():
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8") as handle:
            for copy in range(copies):
                for obj in lines:
                    handle.write(json.dumps({**obj, "id": f"{obj['id']}~copy{copy}"}, ensure_ascii=False) + "\n")
    return copies * per_copy
