"""Conditioned runner: each baseline run's own reasoning is injected back as the start of the
model's assistant turn, followed by the answer cue, and the final letter is read either from the
letter log-probabilities (one forward pass, ``logits``) or by a short greedy generation that is
parsed (``generate``, what the seed scripts did)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from tqdm import tqdm

from audiofaith.answers import parse_answer
from audiofaith.backends.base import Backend, GenerationSettings, ModelInput
from audiofaith.jsonl import AppendWriter, iter_jsonl
from audiofaith.prompts import PromptProfile, answer_prefix, user_text
from audiofaith.records import BaselineRecord, ConditionedRecord, ManifestItem, RecordError, key_of_json
from audiofaith.runners.common import AudioCache, Prefetcher, batches, sort_longest_first

log = logging.getLogger(__name__)

ANSWER_MODES = ("logits", "generate")


class ResultsMismatch(ValueError):
    """Baseline results that do not belong to the manifest."""


@dataclass(frozen=True)
class ConditionedConfig:
    model_key: str
    answer_mode: str = "logits"
    batch_size: int = 8
    answer_max_new_tokens: int = 16
    workers: int = 2


@dataclass(frozen=True)
class Unit:
    """One (item, run) to condition."""

    item: ManifestItem
    run: int
    reasoning: str
    baseline_prediction: Optional[str]
    cot_source_model: str


def load_baseline_results(path: "str | Path", manifest: Sequence[ManifestItem]) -> List[BaselineRecord]:
    """Read baseline records and check they belong to ``manifest`` (errors name file:line)."""
    path = Path(path)
    if not path.is_file():
        raise ResultsMismatch(f"{path}: baseline results file not found")
    known = {item.id for item in manifest}
    seen: Dict[str, int] = {}
    records: List[BaselineRecord] = []
    for line_number, obj in iter_jsonl(path):
        where = f"{path}:{line_number}"
        record = BaselineRecord.from_json(obj, where)
        if record.id not in known:
            raise ResultsMismatch(f"{where}: id {record.id!r} is not in the manifest; "
                                  f"are the results and the manifest from the same subset?")
        if record.id in seen:
            raise ResultsMismatch(f"{where}: duplicate id {record.id!r} (first on line {seen[record.id]})")
        if record.prompt_mode == "direct":
            raise ResultsMismatch(f"{where}: a direct-answer (--no_reasoning) baseline has no reasoning to condition on")
        seen[record.id] = line_number
        records.append(record)
    if not records:
        raise ResultsMismatch(f"{path}: no baseline records")
    missing = len(known) - len(seen)
    if missing:
        log.warning("%d manifest item(s) have no baseline result in %s and are skipped", missing, path)
    return records


def units_of(results: Sequence[BaselineRecord], manifest: Sequence[ManifestItem]) -> List[Unit]:
    by_id = {item.id: item for item in manifest}
    units = []
    for record in results:
        for run, reasoning in enumerate(record.runs_reasonings):
            units.append(Unit(by_id[record.id], run, reasoning or "", record.runs_predictions[run], record.model))
    return units


def completed_keys(output_path: Path) -> Set[Tuple]:
    keys: Set[Tuple] = set()
    if not output_path.exists():
        return keys
    for line_number, obj in iter_jsonl(output_path, allow_torn_tail=True):
        key = key_of_json(obj)
        if key in keys:
            raise RecordError(f"{output_path}:{line_number}: duplicate result {key}")
        keys.add(key)
    return keys


def summarize(output_path: Path) -> Dict[str, int]:
    counts = {"lines": 0, "null_predictions": 0, "errors": 0, "agree": 0, "disagree": 0}
    if not output_path.exists():
        return counts
    for _, obj in iter_jsonl(output_path, allow_torn_tail=True):
        counts["lines"] += 1
        counts["null_predictions"] += obj.get("prediction") is None
        counts["errors"] += obj.get("error") is not None
        counts["agree"] += obj.get("agrees") is True
        counts["disagree"] += obj.get("agrees") is False
    return counts


def run_conditioned(backend: Backend, manifest: Sequence[ManifestItem], results: Sequence[BaselineRecord],
                    data_root: "str | Path", output_path: "str | Path", config: ConditionedConfig,
                    profile: PromptProfile) -> Dict[str, int]:
    """Condition every (item, run) not yet in ``output_path``; append one line each."""
    if config.answer_mode not in ANSWER_MODES:
        raise ValueError(f"--answer_mode must be one of {ANSWER_MODES}")
    output_path = Path(output_path)
    done = completed_keys(output_path)
    units = [u for u in units_of(results, manifest) if (u.item.id, u.run, "full", "{}") not in done]
    if done:
        log.info("resuming %s: %d line(s) already done, %d to go", output_path, len(done), len(units))
    cache = AudioCache(data_root, backend.max_audio_seconds, config.model_key)
    ordered = sort_longest_first(units, lambda u: cache.duration(u.item) * 1000 + len(u.reasoning))
    with AppendWriter(output_path) as writer, tqdm(total=len(ordered), desc=f"conditioned {config.model_key}",
                                                   unit="run", dynamic_ncols=True) as progress:
        for batch, loaded in Prefetcher(batches(ordered, config.batch_size), lambda u: u.item, cache, config.workers):
            records = _run_batch(backend, batch, loaded, config, profile)
            writer.write_many(record.to_json() for record in records)
            progress.update(len(batch))
    return summarize(output_path)


def _record(unit: Unit, config: ConditionedConfig) -> ConditionedRecord:
    return ConditionedRecord(
        id=unit.item.id, model=config.model_key, run=unit.run, condition="full", answer_mode=config.answer_mode,
        answer=unit.item.answer, subset=unit.item.subset, hop=unit.item.hop,
        baseline_prediction=unit.baseline_prediction, cot_source_model=unit.cot_source_model,
    )


def _run_batch(backend: Backend, batch: List[Unit], loaded, config: ConditionedConfig,
               profile: PromptProfile) -> List[ConditionedRecord]:
    records = [_record(unit, config) for unit in batch]
    runnable: List[int] = []
    inputs: List[ModelInput] = []
    for index, (unit, audio) in enumerate(zip(batch, loaded)):
        if audio.error is not None:
            records[index].error = audio.error
        elif not unit.reasoning.strip():
            records[index].error = "the baseline run has no reasoning to inject"
        else:
            runnable.append(index)
            inputs.append(ModelInput(user_text(unit.item, "cot", profile), audio.audio.samples,
                                     answer_prefix(unit.reasoning, profile)))
    if not runnable:
        return records
    if config.answer_mode == "logits":
        scores = backend.score_letters(inputs, [batch[i].item.letters for i in runnable])
        for index, letter_scores in zip(runnable, scores):
            records[index].letter_logprobs = {k: round(v, 6) for k, v in letter_scores.items()}
            records[index].prediction = max(letter_scores, key=letter_scores.get)
    else:
        settings = GenerationSettings(max_new_tokens=config.answer_max_new_tokens)
        texts = backend.generate(inputs, settings)
        for index, generated in zip(runnable, texts):
            # The cue ("Answer: (") is part of the answer statement the parser reads.
            raw = profile.answer_cue + generated[0]
            records[index].raw = raw
            records[index].prediction = parse_answer(raw, list(batch[index].item.choices))
    for index in runnable:
        record = records[index]
        if record.prediction is not None:
            record.correct = record.prediction == record.answer
            if record.baseline_prediction is not None:
                record.agrees = record.prediction == record.baseline_prediction
    return records
