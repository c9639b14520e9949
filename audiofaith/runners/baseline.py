"""Baseline runner: a CoT (or direct) answer per item and run, plus the letter log-probabilities
read after the reasoning. Model-agnostic: talks to the backend protocol only."""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from audiofaith.text.answers import parse_answer
from audiofaith.backends.base import (Backend, GenerationSettings, ModelInput, finish_reason_of,
                                      thinking_finish_reason_of)
from audiofaith.store.jsonl import iter_jsonl
from audiofaith.text.prompts import PromptProfile, answer_prefix, reasoning_and_answer, user_text
from audiofaith.text.protocols import PAPER, PaperProtocol
from audiofaith.store.records import BaselineRecord, ManifestItem
from audiofaith.runners.backoff import with_backoff
from audiofaith.runners.common import AudioCache, LoadedAudio, completed_keys, run_resumable
from audiofaith.seeds import derive_seed

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
    thinking: Optional[str] = None  # --thinking on|off of a model with both modes (recorded on every line)

    def generation_settings(self) -> GenerationSettings:
        sampling = self.num_runs > 1
        return GenerationSettings(
            max_new_tokens=self.max_new_tokens, do_sample=sampling,
            temperature=self.temperature if sampling else 1.0, top_p=self.top_p if sampling else 1.0,
            num_return_sequences=self.num_runs, seed=self.seed,
        )


def completed_ids(output_path: Path) -> Set[str]:
    """Ids already in a (possibly interrupted) baseline output; duplicates are an error."""
    return {key[0] for key in completed_keys(output_path, BaselineRecord.from_json)}


def summarize(output_path: Path) -> Dict[str, int]:
    """Counts over the whole output file: items, runs, parse failures, errors."""
    counts = {"items": 0, "runs": 0, "parse_failures": 0, "errors": 0, "truncated_audio": 0, "cut_by_length": 0,
              "traces_cut_by_length": 0}
    if not output_path.exists():
        return counts
    for line_number, obj in iter_jsonl(output_path, allow_torn_tail=True):
        record = BaselineRecord.from_json(obj, f"{output_path}:{line_number}")
        counts["items"] += 1
        counts["runs"] += len(record.runs_predictions)
        counts["parse_failures"] += sum(p is None for p in record.runs_predictions)
        counts["errors"] += record.error is not None
        counts["truncated_audio"] += any("truncated" in w for w in record.warnings)
        counts["cut_by_length"] += sum(r == "length" for r in record.runs_finish_reasons)
        counts["traces_cut_by_length"] += sum(r == "length" for r in record.runs_thinking_finish_reasons)
    return counts


def run_baseline(backend: Backend, items: Sequence[ManifestItem], data_root: "str | Path",
                 output_path: "str | Path", config: BaselineConfig, profile: PromptProfile,
                 paper: Optional[PaperProtocol] = None) -> Dict[str, int]:
    """Run every item not yet in ``output_path`` and append its record, one fsync per batch.
    With ``paper`` (the study's protocol for this model) its prompts, reasoning cut and answer
    reading replace ours, and no letter log-probabilities are read (it has no answer cue)."""
    cache = AudioCache(data_root, backend.max_audio_seconds, config.model_key)
    settings = config.generation_settings()
    backend = with_backoff(backend, config.batch_size)

    def answer_batch(batch: List[ManifestItem], loaded: List[LoadedAudio]) -> List[BaselineRecord]:
        if paper is None:
            return _run_batch(backend, batch, loaded, config, settings, profile)
        return _run_batch_paper(backend, batch, loaded, config, settings, paper)

    run_resumable(
        items, output_path, read_record=BaselineRecord.from_json, unit_key=lambda item: (item.id,),
        # longest first: audio duration from the file header, then prompt length
        sort_key=lambda item: -(cache.duration(item) * 1000 + len(user_text(item, config.prompt_mode, profile))),
        item_of=lambda item: item, cache=cache, batch_size=config.batch_size, workers=config.workers,
        desc=f"baseline {config.model_key}", unit_name="item", answer_batch=answer_batch)
    return summarize(Path(output_path))


#: A baseline record's per-run lists while its batch is answered: field name -> values.
_Runs = Dict[str, List[Any]]


def _start_batch(batch: List[ManifestItem], loaded: List[LoadedAudio], config: BaselineConfig,
                 settings: GenerationSettings, protocol: Optional[str],
                 build_input: Callable[[ManifestItem, Any], ModelInput]
                 ) -> Tuple[Dict[str, BaselineRecord], List[ManifestItem], List[ModelInput]]:
    """A record per item (an error record where the audio failed; its runs are filled in by
    ``_finish``) and the model inputs of the rest."""
    records: Dict[str, BaselineRecord] = {}
    runnable: List[ManifestItem] = []
    inputs: List[ModelInput] = []
    extra: Dict[str, Any] = {} if protocol is None else {"protocol": protocol}
    if config.thinking is not None:
        extra["thinking"] = config.thinking
    for item, audio in zip(batch, loaded):
        common = dict(id=item.id, model=config.model_key, prompt_mode=config.prompt_mode, answer=item.answer,
                      subset=item.subset, hop=item.hop, dataset=item.dataset, **extra)
        if audio.error is not None:
            records[item.id] = BaselineRecord(error=audio.error, **common)
            continue
        records[item.id] = BaselineRecord(audio_seconds=round(audio.audio.seconds, 3),
                                          warnings=tuple(audio.audio.warnings), **common)
        runnable.append(item)
        # Each run is seeded from (seed, item id, run) alone: the same samples at any batch size,
        # batch composition, out-of-memory back-off or resume.
        run_seeds = tuple(derive_seed(config.seed, item.id, run) for run in range(config.num_runs))
        # The audio is named by its file: rows of one file can share their prompt prefix.
        inputs.append(dataclasses.replace(build_input(item, audio.audio.samples), audio_key=item.audio,
                                          run_seeds=run_seeds if settings.do_sample else None))
    return records, runnable, inputs


def _finish(batch: List[ManifestItem], records: Dict[str, BaselineRecord],
            runs: Dict[str, _Runs]) -> List[BaselineRecord]:
    """The batch's records, in batch order, with the runs each item collected."""
    return [dataclasses.replace(records[item.id], **runs.get(item.id, {})) for item in batch]


def _run_batch(backend: Backend, batch: List[ManifestItem], loaded: List[LoadedAudio], config: BaselineConfig,
               settings: GenerationSettings, profile: PromptProfile) -> List[BaselineRecord]:
    records, runnable, inputs = _start_batch(
        batch, loaded, config, settings, None,
        lambda item, samples: ModelInput(user_text(item, config.prompt_mode, profile), samples))
    runs: Dict[str, _Runs] = {item.id: defaultdict(list) for item in runnable}
    if runnable:
        generations = backend.generate(inputs, settings)
        score_inputs: List[ModelInput] = []
        score_letters: List[str] = []
        for item, model_input, texts in zip(runnable, inputs, generations):
            collected = runs[item.id]
            for text in texts:
                # a thinking model's reasoning is its trace; its answer is parsed from the visible text only
                reasoning, answer_text = reasoning_and_answer(text, profile)
                if config.prompt_mode != "cot":
                    reasoning = ""
                prediction = parse_answer(answer_text, list(item.choices))
                collected["runs_reasonings"].append(reasoning)
                collected["runs_raw"].append(str(text))
                collected["runs_predictions"].append(prediction)
                collected["runs_correct"].append(None if prediction is None else prediction == item.answer)
                collected["runs_finish_reasons"].append(finish_reason_of(text))
                if profile.thinking is not None:
                    collected["runs_thinking_finish_reasons"].append(thinking_finish_reason_of(text))
                score_inputs.append(ModelInput(model_input.user_text, model_input.audio,
                                               answer_prefix(reasoning, profile), audio_key=model_input.audio_key))
                score_letters.append(item.letters)
        if config.letter_logprobs:
            scores = iter(backend.score_letters(score_inputs, score_letters))
            for item in runnable:
                runs[item.id]["runs_letter_logprobs"] = [
                    {k: round(v, 6) for k, v in next(scores).items()} for _ in runs[item.id]["runs_raw"]]
    return _finish(batch, records, runs)


def _run_batch_paper(backend: Backend, batch: List[ManifestItem], loaded: List[LoadedAudio], config: BaselineConfig,
                     settings: GenerationSettings, paper: PaperProtocol) -> List[BaselineRecord]:
    """One batch under the study's protocol: its prompt; the reasoning cut as it cut it; the answer
    parsed from the response, or from a second call after the cut reasoning where it asked that way."""
    records, runnable, inputs = _start_batch(
        batch, loaded, config, settings, PAPER,
        lambda item, samples: paper.baseline_input(item, config.prompt_mode, samples))
    runs: Dict[str, _Runs] = {item.id: defaultdict(list) for item in runnable}
    if not runnable:
        return _finish(batch, records, runs)
    generations = backend.generate(inputs, settings)
    answer_turns: List[ModelInput] = []
    for item, model_input, texts in zip(runnable, inputs, generations):
        collected = runs[item.id]
        for text in texts:
            reasoning = paper.reasoning(text) if config.prompt_mode == "cot" else ""
            collected["runs_raw"].append(text)
            collected["runs_reasonings"].append(reasoning)
            collected["runs_finish_reasons"].append(finish_reason_of(text))
            if config.prompt_mode == "cot" and paper.baseline_answer == "answer_turn":
                answer_turns.append(paper.answer_input(item, reasoning, model_input.audio))
            else:
                collected["runs_predictions"].append(paper.response_answer(text, item, config.prompt_mode))
    if answer_turns:
        answers = iter(backend.generate(answer_turns,
                                        GenerationSettings(max_new_tokens=paper.baseline_answer_max_new_tokens)))
        for item in runnable:
            collected = runs[item.id]
            for _ in collected["runs_raw"]:
                text = next(answers)[0]
                collected["runs_answer_raw"].append(text)
                collected["runs_predictions"].append(paper.read_answer(text, item))
    for item in runnable:
        collected = runs[item.id]
        collected["runs_correct"] = [None if p is None else p == item.answer for p in collected["runs_predictions"]]
    return _finish(batch, records, runs)
