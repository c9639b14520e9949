"""The runner behind the conditioned step and every intervention: a list of *variants* (an
edited version of one baseline run, ``audiofaith/runners/variant.py``) is answered in length-sorted
batches, resumably (the shared loop, ``runners/common.py`` ``run_resumable``).

A variant says what to inject (an edited CoT), what the user turn is (default: the CoT prompt),
how the audio is changed (default: untouched; an edit may also drop it for a text-only call) and
what to do:

- ``score``: read the answer after ``reasoning`` + answer cue (letter log-probabilities, or a short
  generation that is parsed, per ``answer_mode``);
- ``continue``: let the model continue its reasoning from ``reasoning`` (a prefix), then score;
- ``regenerate``: generate a whole new CoT, parse its answer, and score after its reasoning.

Continued and regenerated reasoning is decoded as the baseline's was (``CotSampler``, from its
sidecar): greedily after a greedy baseline; after a sampled one (``--num_runs > 1``) with its
temperature and top-p, run r of an item seeded as the baseline's run r, so that the only change
between the baseline run and the line is the intervention.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from audiofaith.text.answers import parse_answer
from audiofaith.backends.base import (Backend, GenerationSettings, ModelInput, finish_reason_of,
                                      thinking_finish_reason_of)
from audiofaith.text.cot import split_reasoning
from audiofaith.errors import UserError
from audiofaith.store.jsonl import iter_jsonl
from audiofaith.text.prompts import PromptProfile, answer_prefix, reasoning_and_answer, trace_prefix, user_text
from audiofaith.text.protocols import OURS, PAPER, PaperProtocol
from audiofaith.store.records import InterventionRecord
from audiofaith.runners.backoff import with_backoff
from audiofaith.runners.common import AudioCache, LoadedAudio, run_resumable
from audiofaith.runners.common import completed_keys as _completed_keys
from audiofaith.seeds import derive_seed
from audiofaith.runners.variant import ACTIONS, AudioEdit, Variant, with_cue_references

__all__ = ["ACTIONS", "ANSWER_MODES", "AudioEdit", "CotSampler", "Variant", "VariantConfig", "completed_keys",
           "reference_field", "run_variants", "summarize", "with_cue_references"]

log = logging.getLogger(__name__)

ANSWER_MODES = ("logits", "generate")


@dataclass(frozen=True)
class CotSampler:
    """How the baseline decoded its CoTs (its sidecar's generation settings); continued and
    regenerated reasoning is decoded the same way. ``seed`` is the baseline's ``--seed``: run r of
    item i is drawn with ``derive_seed(seed, i, r)``, the baseline run's own seed."""

    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0

    def settings(self, max_new_tokens: int) -> GenerationSettings:
        if not self.do_sample:
            return GenerationSettings(max_new_tokens=max_new_tokens)
        return GenerationSettings(max_new_tokens=max_new_tokens, do_sample=True, temperature=self.temperature,
                                  top_p=self.top_p, seed=self.seed)

    def seeded(self, inp: ModelInput, variant: Variant) -> ModelInput:
        """``inp`` with the baseline run's seed when sampling (unchanged when greedy)."""
        if not self.do_sample:
            return inp
        return dataclasses.replace(inp, run_seeds=(derive_seed(self.seed, variant.item.id, variant.run),))

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class VariantConfig:
    model_key: str
    answer_mode: str = "logits"
    batch_size: int = 8
    answer_max_new_tokens: int = 16
    cot_max_new_tokens: int = 512
    workers: int = 2
    desc: str = "variants"
    #: How continued and regenerated reasoning is decoded: the baseline's own decoding.
    cot_sampler: CotSampler = CotSampler()
    #: --thinking on|off of a model with both modes: recorded on every line (``thinking``).
    thinking: Optional[str] = None


def reference_field(variant: Variant, answer_mode: str) -> str:
    """Which baseline letter a line is compared with: like with like. A regenerated run and a
    generated answer are parsed, so they compare with the parsed baseline letter; a letter
    read-out (score or continue, logits mode) compares with the baseline's letter read-out."""
    if variant.action == "regenerate" or answer_mode == "generate":
        return "baseline_prediction"
    return "baseline_cue_prediction"


def completed_keys(output_path: Path) -> Set[Tuple]:
    """Resume keys already in an output file (a torn last line is ignored; duplicates are errors)."""
    return _completed_keys(output_path, InterventionRecord.from_json)


def summarize(output_path: Path) -> Dict[str, int]:
    """Counts over the whole output file; ``null_answers`` as ``audiofaith.store.run_summary`` defines them
    (no letter, on a line without an error), the number ``audiofaith status`` shows."""
    from audiofaith.store.run_summary import null_answers

    counts = {"lines": 0, "null_answers": 0, "errors": 0, "agree": 0, "disagree": 0}
    if not output_path.exists():
        return counts
    for line_number, obj in iter_jsonl(output_path, allow_torn_tail=True):
        record = InterventionRecord.from_json(obj, f"{output_path}:{line_number}")
        counts["lines"] += 1
        counts["null_answers"] += null_answers(record)
        counts["errors"] += record.error is not None
        counts["agree"] += record.agrees is True
        counts["disagree"] += record.agrees is False
    return counts


def run_variants(backend: Backend, variants: Sequence[Variant], data_root: "str | Path",
                 output_path: "str | Path", config: VariantConfig, profile: PromptProfile,
                 paper: Optional[PaperProtocol] = None) -> Dict[str, int]:
    """Answer every variant whose key is not yet in ``output_path``; append one line each. With
    ``paper`` (the study's protocol for this model) its prompts build every call and answers are
    read by its short generation, parsed."""
    if config.answer_mode not in ANSWER_MODES:
        raise ValueError(f"answer mode must be one of {ANSWER_MODES}, got {config.answer_mode!r}")
    bad = sorted({v.action for v in variants} - set(ACTIONS))
    if bad:
        raise ValueError(f"unknown variant action(s) {bad}")
    if paper is not None:
        if config.answer_mode != "generate":
            raise UserError("the paper protocol reads answers by short generation: --answer_mode generate")
        overridden = sorted({v.condition for v in variants if v.user_text is not None and v.user_mode != "direct"})
        if overridden:
            raise UserError(f"condition(s) {overridden} change the user turn, which the paper protocol defines "
                             "per model; run them with --protocol ours (docs/protocols.md)")
    cache = AudioCache(data_root, backend.max_audio_seconds, config.model_key)
    backend = with_backoff(backend, config.batch_size)
    run_resumable(
        variants, output_path, read_record=InterventionRecord.from_json, unit_key=Variant.key,
        # longest first; variants of one (item, run) stay adjacent so a backend can share their prefix
        sort_key=lambda v: (-cache.duration(v.item), v.item.id, v.run, -len(v.reasoning)),
        item_of=lambda v: v.item, cache=cache, batch_size=config.batch_size, workers=config.workers,
        desc=f"{config.desc} {config.model_key}", unit_name="line",
        answer_batch=lambda batch, loaded: _answer_batch(backend, batch, loaded, config, profile, paper))
    return summarize(Path(output_path))


def _new_record(variant: Variant, config: VariantConfig, protocol: str = OURS) -> InterventionRecord:
    item = variant.item
    return InterventionRecord(
        id=item.id, model=config.model_key, run=variant.run, condition=variant.condition,
        answer_mode=config.answer_mode, answer=item.answer, subset=item.subset, hop=item.hop, dataset=item.dataset,
        params=dict(variant.params), baseline_prediction=variant.baseline_prediction,
        baseline_cue_prediction=variant.baseline_cue_prediction,
        reference_field=reference_field(variant, config.answer_mode), cot_source_model=variant.cot_source_model,
        extra={**variant.extra, **({} if config.thinking is None else {"thinking": config.thinking})},
        protocol=protocol,
    )


def _changed(records: List[InterventionRecord], index: int, extra: Optional[Dict[str, Any]] = None,
             **fields: Any) -> None:
    """Replace ``records[index]`` by a copy with ``fields`` set and ``extra`` added to its results."""
    if extra:
        fields["extra"] = {**records[index].extra, **extra}
    records[index] = dataclasses.replace(records[index], **fields)


def _model_input(variant: Variant, audio: LoadedAudio, profile: PromptProfile,
                 edited: Dict[Tuple[int, str], Tuple[str, Optional[np.ndarray]]]) -> ModelInput:
    samples, audio_key = audio.audio.samples, variant.item.audio
    if variant.audio_edit is not None:
        # One edited array per (edit, loaded file), so variants sharing both share the same
        # array and the same audio key (the file, then which of the batch's edits), which lets
        # a backend share their prompt prefix. Keyed by the file actually loaded, never by item id
        # (a swap keeps its item's id). The edits are alive for the whole run (held by the
        # variants), so their ids are unique.
        cache_key = (id(variant.audio_edit), variant.item.audio)
        if cache_key not in edited:
            edited[cache_key] = (f"{variant.item.audio} (edit {len(edited)})",
                                 variant.audio_edit(samples, variant.item))
        audio_key, samples = edited[cache_key]
    text = variant.user_text if variant.user_text is not None else user_text(variant.item, "cot", profile)
    return ModelInput(text, samples, audio_key=audio_key)


def _answer_batch(backend: Backend, batch: List[Variant], loaded: List[LoadedAudio], config: VariantConfig,
                  profile: PromptProfile, paper: Optional[PaperProtocol] = None) -> List[InterventionRecord]:
    records = [_new_record(variant, config, OURS if paper is None else PAPER) for variant in batch]
    runnable: List[Tuple[int, ModelInput]] = []
    edited: Dict[Tuple[int, str], Tuple[str, Optional[np.ndarray]]] = {}
    for index, (variant, audio) in enumerate(zip(batch, loaded)):
        if variant.skip_reason is not None:
            _changed(records, index, error=variant.skip_reason)
        elif audio.error is not None:
            _changed(records, index, error=audio.error)
        else:
            # e.g. the clip cut to the model's window; recorded on every line ([] = none)
            _changed(records, index, extra={"audio_warnings": list(audio.audio.warnings)})
            try:
                runnable.append((index, _model_input(variant, audio, profile, edited)))
            except (ValueError, OSError) as error:  # e.g. a perturbation undefined for this clip
                _changed(records, index, error=f"audio edit failed: {error}")
    # A batch goes to the model as all-with-audio or all-text-only.
    for with_audio in (True, False):
        group = [(i, inp) for i, inp in runnable if (inp.audio is not None) == with_audio]
        if group:
            answer = _answer_group if paper is None else partial(_answer_group_paper, paper=paper)
            answered = [records[i] for i, _ in group]
            answer(backend, [batch[i] for i, _ in group], [inp for _, inp in group], answered, config, profile)
            for (i, _), record in zip(group, answered):
                records[i] = record
    for index, variant in enumerate(batch):
        record = records[index]
        if record.prediction is not None:
            reference = getattr(record, record.reference_field)
            _changed(records, index, correct=record.prediction == record.answer,
                     agrees=None if reference is None else record.prediction == reference)
        if "cue_prediction" in record.extra:  # regenerated: its letter read-out vs the baseline's
            cue, reference = record.extra["cue_prediction"], record.baseline_cue_prediction
            _changed(records, index, extra={"cue_agrees": None if cue is None or reference is None else cue == reference})
        if variant.annotate is not None and record.error is None:
            _changed(records, index, extra=variant.annotate(records[index]))
    return records


def _trace_extra(text: str, profile: PromptProfile) -> Dict[str, Any]:
    """A thinking model's generated line records why its trace stopped (``stop`` or ``length``)."""
    return {} if profile.thinking is None else {"thinking_finish_reason": thinking_finish_reason_of(text)}


def _answer_group(backend: Backend, variants: List[Variant], inputs: List[ModelInput],
                  records: List[InterventionRecord], config: VariantConfig, profile: PromptProfile) -> None:
    """Answer one all-audio or all-text group; ``records`` are replaced in place by answered copies."""
    reasonings = [v.reasoning for v in variants]
    sampler = config.cot_sampler
    cot_settings = sampler.settings(config.cot_max_new_tokens)
    regenerate = [i for i, v in enumerate(variants) if v.action == "regenerate"]
    parsed: Dict[int, Optional[str]] = {}
    if regenerate:
        texts = backend.generate([sampler.seeded(inputs[i], variants[i]) for i in regenerate], cot_settings)
        for i, generated in zip(regenerate, texts):
            raw = generated[0]
            reasonings[i], answer_text = reasoning_and_answer(raw, profile)  # a thinking model's: its trace
            _changed(records, i, raw=str(raw), reasoning=reasonings[i],
                     extra={"finish_reason": finish_reason_of(raw), **_trace_extra(raw, profile)})
            parsed[i] = parse_answer(answer_text, list(variants[i].item.choices))
    to_continue = [i for i, v in enumerate(variants) if v.action == "continue"]
    if to_continue:
        # a thinking model continues its trace inside its open marker
        prefixed = [sampler.seeded(dataclasses.replace(inputs[i], assistant_prefix=trace_prefix(reasonings[i], profile)),
                                   variants[i]) for i in to_continue]
        texts = backend.generate(prefixed, cot_settings)
        for call, i, generated in zip(prefixed, to_continue, texts):
            if profile.thinking is not None:  # the trace: the open marker's partial trace + its continuation
                reasonings[i] = reasoning_and_answer(call.assistant_prefix + generated[0], profile)[0]
            else:
                reasonings[i] = split_reasoning(reasonings[i] + generated[0])[0]
            _changed(records, i, reasoning=reasonings[i], extra={"continuation": str(generated[0]),
                                                                 "finish_reason": finish_reason_of(generated[0]),
                                                                 **_trace_extra(generated[0], profile)})
    answer_inputs = [dataclasses.replace(inp, assistant_prefix=answer_prefix(reasoning, profile))
                     for inp, reasoning in zip(inputs, reasonings)]
    if config.answer_mode == "logits":
        scores = backend.score_letters(answer_inputs, [v.item.letters for v in variants])
        for i, letter_scores in enumerate(scores):
            _changed(records, i, letter_logprobs={k: round(v, 6) for k, v in letter_scores.items()},
                     prediction=max(letter_scores, key=letter_scores.get))
    else:
        texts = backend.generate(answer_inputs, GenerationSettings(max_new_tokens=config.answer_max_new_tokens))
        for i, (variant, generated) in enumerate(zip(variants, texts)):
            answer_text = profile.answer_cue + generated[0]
            prediction = parse_answer(answer_text, list(variant.item.choices))
            if variant.action == "score":
                _changed(records, i, raw=answer_text, prediction=prediction)
            else:
                _changed(records, i, prediction=prediction, extra={"answer_raw": answer_text})
    for i in regenerate:
        # A regenerated run is compared like a baseline run, by its own parsed answer; the answer
        # read after its reasoning + cue is kept beside it.
        _changed(records, i, prediction=parsed[i], extra={"cue_prediction": records[i].prediction})


def _answer_group_paper(backend: Backend, variants: List[Variant], inputs: List[ModelInput],
                        records: List[InterventionRecord], config: VariantConfig, profile: PromptProfile,
                        paper: PaperProtocol) -> None:
    """``_answer_group`` under the study's protocol: a new CoT from its baseline prompt, a
    continuation from its continuation prompt, and the answer from its conditioned prompt (the
    reasoning where the protocol puts it), by a short greedy generation, parsed. A regenerated
    run's ``prediction`` is read as the baseline's letter was (``PaperProtocol.baseline_answer``):
    parsed from the new response, or from its answer turn."""
    reasonings = [v.reasoning for v in variants]
    sampler = config.cot_sampler
    regenerate = [i for i, v in enumerate(variants) if v.action == "regenerate"]
    parsed: Dict[int, Optional[str]] = {}
    if regenerate:
        calls = [sampler.seeded(paper.baseline_input(variants[i].item, "cot", inputs[i].audio), variants[i])
                 for i in regenerate]
        texts = backend.generate(calls, sampler.settings(paper.cot_max_new_tokens))
        for i, generated in zip(regenerate, texts):
            raw = generated[0]
            reasonings[i] = paper.reasoning(raw)
            _changed(records, i, raw=raw, reasoning=reasonings[i])
            parsed[i] = paper.response_answer(raw, variants[i].item)
    to_continue = [i for i, v in enumerate(variants) if v.action == "continue"]
    if to_continue:
        # the study's continuation decoding where its code sets one, else the baseline's
        continuing = paper.continue_sampler(sampler)
        calls = [continuing.seeded(paper.continue_input(variants[i].item, reasonings[i], inputs[i].audio), variants[i])
                 for i in to_continue]
        texts = backend.generate(calls, continuing.settings(paper.continue_max_new_tokens))
        for i, generated in zip(to_continue, texts):
            # cut again as the baseline's was (the study's experiments/cot/adding_mistakes.py)
            reasonings[i] = paper.reasoning(f"{reasonings[i].rstrip()} {generated[0].strip()}".strip())
            _changed(records, i, reasoning=reasonings[i], extra={"continuation": generated[0]})
    direct = [i for i, v in enumerate(variants) if v.user_mode == "direct"]
    calls = [paper.baseline_input(v.item, "direct", inp.audio) if i in direct
             else paper.answer_input(v.item, reasoning, inp.audio)
             for i, (v, inp, reasoning) in enumerate(zip(variants, inputs, reasonings))]
    # Where the baseline's letter is an answer turn (Qwen2-Audio), a regenerated run is read the
    # same way: its answer turn, at the baseline's answer length.
    answer_turn = paper.baseline_answer == "answer_turn"
    lengths = [paper.direct_max_new_tokens if i in direct
               else paper.baseline_answer_max_new_tokens if answer_turn and i in regenerate
               else config.answer_max_new_tokens for i in range(len(variants))]
    for length in sorted(set(lengths)):
        rows = [i for i, n in enumerate(lengths) if n == length]
        texts = backend.generate([calls[i] for i in rows], GenerationSettings(max_new_tokens=length))
        for i, generated in zip(rows, texts):
            answer_text = generated[0]
            prediction = paper.read_answer(answer_text, variants[i].item)
            if variants[i].action == "score":
                _changed(records, i, raw=answer_text, prediction=prediction)
            else:
                _changed(records, i, prediction=prediction, extra={"answer_raw": answer_text})
    for i in regenerate:
        if answer_turn:
            # compared with the baseline's answer-turn letter; the letter the new CoT states is kept beside it
            _changed(records, i, extra={"response_prediction": parsed[i]})
        else:
            _changed(records, i, prediction=parsed[i], extra={"cue_prediction": records[i].prediction})
