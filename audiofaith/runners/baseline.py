"""Baseline runner: a CoT (or direct) answer per item and run, plus the letter log-probabilities
read after the reasoning. Model-agnostic: talks to the backend protocol only."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from audiofaith.answers import parse_answer
from audiofaith.backends.base import Backend, GenerationSettings, ModelInput, finish_reason_of
from audiofaith.cot import split_reasoning
from audiofaith.jsonl import AppendWriter, iter_jsonl
from audiofaith.progress import progress_bar
from audiofaith.prompts import PromptProfile, answer_prefix, user_text
from audiofaith.protocols import PAPER, PaperProtocol
from audiofaith.records import BaselineRecord, ManifestItem, RecordError
from audiofaith.runners.backoff import with_backoff
from audiofaith.runners.common import AudioCache, Prefetcher, batches, derive_seed, sort_longest_first

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaselineConfig:
    model_key: str
    prompt_mode: str = "cot"  # "cot" | "direct"
    num_runs: int = 1
    batch_size: int = 8
    max_new_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0
    workers: int = 2
    letter_logprobs: bool = True  # read the letter log-probabilities after each run's reasoning

    def generation_settings(self) -> GenerationSettings:
        sampling = self.num_runs > 1
        return GenerationSettings(
            max_new_tokens=self.max_new_tokens, do_sample=sampling,
            temperature=self.temperature if sampling else 1.0, top_p=self.top_p if sampling else 1.0,
            num_return_sequences=self.num_runs, seed=self.seed,
        )


def completed_ids(output_path: Path) -> Set[str]:
    """Ids already in a (possibly interrupted) baseline output; duplicates are an error."""
    done: Dict[str, int] = {}
    if not output_path.exists():
        return set()
    for line_number, obj in iter_jsonl(output_path, allow_torn_tail=True):
        where = f"{output_path}:{line_number}"
        record = BaselineRecord.from_json(obj, where)
        if record.id in done:
            raise RecordError(f"{where}: duplicate id {record.id!r} (first on line {done[record.id]})")
        done[record.id] = line_number
    return set(done)


def summarize(output_path: Path) -> Dict[str, int]:
    """Counts over the whole output file: items, runs, parse failures, errors."""
    counts = {"items": 0, "runs": 0, "parse_failures": 0, "errors": 0, "truncated_audio": 0, "cut_by_length": 0}
    if not output_path.exists():
        return counts
    for _, obj in iter_jsonl(output_path, allow_torn_tail=True):
        counts["items"] += 1
        counts["runs"] += len(obj.get("runs_predictions", []))
        counts["parse_failures"] += sum(p is None for p in obj.get("runs_predictions", []))
        counts["errors"] += obj.get("error") is not None
        counts["truncated_audio"] += any("truncated" in w for w in obj.get("warnings", []))
        counts["cut_by_length"] += sum(r == "length" for r in obj.get("runs_finish_reasons", []))
    return counts


def run_baseline(backend: Backend, items: Sequence[ManifestItem], data_root: "str | Path",
                 output_path: "str | Path", config: BaselineConfig, profile: PromptProfile,
                 paper: Optional[PaperProtocol] = None) -> Dict[str, int]:
    """Run every item not yet in ``output_path`` and append its record, one fsync per batch.
    With ``paper`` (the study's protocol for this model) its prompts, reasoning cut and answer
    reading replace ours, and no letter log-probabilities are read (it has no answer cue)."""
    output_path = Path(output_path)
    done = completed_ids(output_path)
    pending = [item for item in items if item.id not in done]
    if done:
        log.info("resuming %s: %d item(s) already done, %d to go", output_path, len(items) - len(pending), len(pending))
    cache = AudioCache(data_root, backend.max_audio_seconds, config.model_key)
    ordered = sort_longest_first(pending, lambda item: cache.duration(item) * 1000 + len(user_text(item, config.prompt_mode, profile)))
    settings = config.generation_settings()
    backend = with_backoff(backend, config.batch_size)
    with AppendWriter(output_path) as writer, progress_bar(len(ordered), f"baseline {config.model_key}",
                                                           "item") as progress:
        for batch, loaded in Prefetcher(batches(ordered, config.batch_size), lambda item: item, cache, config.workers):
            if paper is None:
                records = _run_batch(backend, batch, loaded, config, settings, profile)
            else:
                records = _run_batch_paper(backend, batch, loaded, config, settings, paper)
            writer.write_many(record.to_json() for record in records)
            progress.update(len(batch))
    return summarize(output_path)


def _start_batch(batch: List[ManifestItem], loaded, config: BaselineConfig, settings: GenerationSettings,
                 protocol: Optional[str], build_input: Callable[[ManifestItem, Any], ModelInput]
                 ) -> Tuple[Dict[str, BaselineRecord], List[ManifestItem], List[ModelInput]]:
    """A record per item (an error record where the audio failed) and the model inputs of the rest."""
    records: Dict[str, BaselineRecord] = {}
    runnable: List[ManifestItem] = []
    inputs: List[ModelInput] = []
    extra = {} if protocol is None else {"protocol": protocol}
    for item, audio in zip(batch, loaded):
        record = BaselineRecord(id=item.id, model=config.model_key, prompt_mode=config.prompt_mode,
                                answer=item.answer, subset=item.subset, hop=item.hop,
                                dataset=item.dataset, **extra)
        records[item.id] = record
        if audio.error is not None:
            record.error = audio.error
            continue
        record.audio_seconds = round(audio.audio.seconds, 3)
        record.warnings = list(audio.audio.warnings)
        runnable.append(item)
        # Each run is seeded from (seed, item id, run) alone: the same samples at any batch size,
        # batch composition, out-of-memory back-off or resume.
        run_seeds = tuple(derive_seed(config.seed, item.id, run) for run in range(config.num_runs))
        inputs.append(dataclasses.replace(build_input(item, audio.audio.samples),
                                          run_seeds=run_seeds if settings.do_sample else None))
    return records, runnable, inputs


def _run_batch(backend: Backend, batch: List[ManifestItem], loaded, config: BaselineConfig,
               settings: GenerationSettings, profile: PromptProfile) -> List[BaselineRecord]:
    records, runnable, inputs = _start_batch(
        batch, loaded, config, settings, None,
        lambda item, samples: ModelInput(user_text(item, config.prompt_mode, profile), samples))
    if runnable:
        generations = backend.generate(inputs, settings)
        score_inputs: List[ModelInput] = []
        score_letters: List[str] = []
        for item, model_input, texts in zip(runnable, inputs, generations):
            record = records[item.id]
            for text in texts:
                reasoning = split_reasoning(text)[0] if config.prompt_mode == "cot" else ""
                prediction = parse_answer(text, list(item.choices))
                record.runs_raw.append(str(text))
                record.runs_finish_reasons.append(finish_reason_of(text))
                record.runs_reasonings.append(reasoning)
                record.runs_predictions.append(prediction)
                record.runs_correct.append(None if prediction is None else prediction == item.answer)
                score_inputs.append(ModelInput(model_input.user_text, model_input.audio, answer_prefix(reasoning, profile)))
                score_letters.append(item.letters)
        if not config.letter_logprobs:
            return [records[item.id] for item in batch]
        scores = backend.score_letters(score_inputs, score_letters)
        position = 0
        for item in runnable:
            record = records[item.id]
            for _ in record.runs_raw:
                record.runs_letter_logprobs.append({k: round(v, 6) for k, v in scores[position].items()})
                position += 1
    return [records[item.id] for item in batch]


def _run_batch_paper(backend: Backend, batch: List[ManifestItem], loaded, config: BaselineConfig,
                     settings: GenerationSettings, paper: PaperProtocol) -> List[BaselineRecord]:
    """One batch under the study's protocol: its prompt; the reasoning cut as it cut it; the answer
    parsed from the response, or from a second call after the cut reasoning where it asked that way."""
    records, runnable, inputs = _start_batch(
        batch, loaded, config, settings, PAPER,
        lambda item, samples: paper.baseline_input(item, config.prompt_mode, samples))
    if not runnable:
        return [records[item.id] for item in batch]
    generations = backend.generate(inputs, settings)
    answer_turns: List[ModelInput] = []
    for item, model_input, texts in zip(runnable, inputs, generations):
        record = records[item.id]
        for text in texts:
            reasoning = paper.reasoning(text) if config.prompt_mode == "cot" else ""
            record.runs_raw.append(text)
            record.runs_reasonings.append(reasoning)
            record.runs_finish_reasons.append(finish_reason_of(text))
            if config.prompt_mode == "cot" and paper.baseline_answer == "answer_turn":
                answer_turns.append(paper.answer_input(item, reasoning, model_input.audio))
            else:
                record.runs_predictions.append(paper.read_answer(text, item))
    if answer_turns:
        answers = backend.generate(answer_turns, GenerationSettings(max_new_tokens=paper.baseline_answer_max_new_tokens))
        position = 0
        for item in runnable:
            record = records[item.id]
            for _ in record.runs_raw:
                text = answers[position][0]
                record.runs_answer_raw.append(text)
                record.runs_predictions.append(paper.read_answer(text, item))
                position += 1
    for item in runnable:
        record = records[item.id]
        record.runs_correct = [None if p is None else p == item.answer for p in record.runs_predictions]
    return [records[item.id] for item in batch]
