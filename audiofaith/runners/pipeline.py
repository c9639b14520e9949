"""The pipeline under the command line: one frozen config per stage, and ``run_stage``.

A notebook or another tool drives every stage without argparse::

    from audiofaith.runners.pipeline import BaselineStage, ConditionedStage, Hardware, InterventionStage, Selection, run_stage

    hw = Hardware(model_path="checkpoints/qwen2_audio", batch_size=16)
    run_stage(BaselineStage(model="qwen2_audio", manifest="m.jsonl", output="out/baseline.jsonl", hardware=hw,
                            selection=Selection(sample=40)))
    run_stage(ConditionedStage(model="qwen2_audio", manifest="m.jsonl", baseline="out/baseline.jsonl",
                               output="out/conditioned.jsonl", hardware=hw, selection=Selection(sample=40)))
    run_stage(InterventionStage(kind="filler", model="qwen2_audio", manifest="m.jsonl",
                                baseline="out/baseline.jsonl", output="out/filler.jsonl",
                                options={"filler_fractions": [0.5, 1.0]}, hardware=hw))

A field left ``None`` takes the same default as the command-line flag of that name (which can
depend on the protocol); the ``arguments`` a run records in its sidecar are the config with those
defaults filled in. The command-line entry points (``audiofaith.cli.commands``) only parse arguments
into these configs. ``run_stage`` checks everything that needs no model first, in the order of
docs/architecture.md ("One run per output"), raises ``UserError`` for problems with what it was
given, and returns a ``StageResult``. No torch here: the backend imports it when the model loads.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Dict, Mapping, Optional, Union

from audiofaith.backends import backend_class, get_profile, get_spec, load_backend
from audiofaith.errors import DiskFull, UserError
from audiofaith.store.locking import OutputLock
from audiofaith.backends.model_source import tiny_max_new_tokens
from audiofaith.store.manifest import check_audio_files, load_manifest, parse_shard, select_shard
from audiofaith.text.protocols import OURS, PROTOCOLS, provenance as protocol_provenance, resolve as resolve_protocol
from audiofaith.store.provenance import Provenance, content_fingerprint, sidecar_path
from audiofaith.store.resume import drop_lines, read_output_state, work_signature
from audiofaith.store.sharding import canonicalize, launcher_rank, merge_if_last, shard_output_path, slurm_array_shard

log = logging.getLogger("audiofaith")

ANSWER_MODES = ("logits", "generate")
COT_SOURCES = ("own", "reference")


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class Selection:
    """Which manifest items this process runs (``--sample``, then ``--shard``, then ``--limit``;
    docs/architecture.md) and whether the output's errored lines are redone."""

    limit: Optional[int] = None
    sample: Optional[int] = None
    sample_seed: int = 0
    shard: Optional[str] = None  # "K/N"
    retry_errors: bool = False


@dataclass(frozen=True)
class Hardware:
    """The checkpoint (``None``: the registry's default) and how it runs. ``batch_size`` is a
    number or ``"auto"`` (start at ``max_batch_size``); ``backend_options`` are the backend's own
    options (``Backend.add_arguments``, e.g. SALMONN's weight paths), defaults filled in."""

    model_path: Optional[str] = None
    device: str = "auto"
    dtype: str = "auto"
    batch_size: Union[int, str] = 8
    max_batch_size: int = 64
    workers: int = 2
    backend_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "backend_options", _frozen_mapping(self.backend_options))

    def effective_batch_size(self) -> int:
        return self.max_batch_size if self.batch_size == "auto" else int(self.batch_size)


@dataclass(frozen=True)
class BaselineStage:
    """A baseline run: a chain of thought (or a direct answer) and an answer per item."""

    model: str
    manifest: str
    output: str
    data_root: str = "data/"
    reasoning: bool = True  # False: the direct-answer prompt (--no_reasoning)
    num_runs: int = 1  # 1: greedy; N > 1: N seeded samples
    max_new_tokens: Optional[int] = None  # None: 512 with reasoning, 32 without; the study's under paper
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0
    letter_logprobs: bool = True  # always off under --protocol paper
    protocol: str = OURS
    selection: Selection = field(default_factory=Selection)
    hardware: Hardware = field(default_factory=Hardware)


@dataclass(frozen=True)
class ConditionedStage:
    """The conditioned step: each baseline run's reasoning injected back, the answer read after it."""

    model: str
    manifest: str
    baseline: str
    output: str
    data_root: str = "data/"
    answer_mode: Optional[str] = None  # None: logits; generate under --protocol paper
    answer_max_new_tokens: Optional[int] = None  # None: 16; the study's under paper
    cot_source: str = "own"  # or "reference": the benchmark's reference reasoning
    allow_foreign_cot: bool = False
    protocol: str = OURS
    selection: Selection = field(default_factory=Selection)
    hardware: Hardware = field(default_factory=Hardware)


@dataclass(frozen=True)
class InterventionStage:
    """An intervention family (``kind``, docs/conditions.md) on the baseline runs. ``options`` are
    the family's own options by name (``filler_fractions``, ``perturbations``, ...); the ones not
    given take the family's defaults, unknown names are refused."""

    kind: str
    model: str
    manifest: str
    baseline: str
    output: str
    data_root: str = "data/"
    options: Mapping[str, Any] = field(default_factory=dict)
    answer_mode: Optional[str] = None
    answer_max_new_tokens: Optional[int] = None
    cot_max_new_tokens: Optional[int] = None  # None: the baseline's max_new_tokens from its sidecar, else 512
    seed: int = 0
    cot_source: str = "own"
    allow_foreign_cot: bool = False
    protocol: str = OURS
    selection: Selection = field(default_factory=Selection)
    hardware: Hardware = field(default_factory=Hardware)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _frozen_mapping(self.options))


Stage = Union[BaselineStage, ConditionedStage, InterventionStage]


def stage_to_json(stage: Any) -> Dict[str, Any]:
    """A stage config (or one of its parts) as plain JSON values."""
    out: Dict[str, Any] = {}
    for part in dataclasses.fields(stage):
        value = getattr(stage, part.name)
        if dataclasses.is_dataclass(value):
            value = stage_to_json(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[part.name] = value
    return json.loads(json.dumps(out, default=str))


@dataclass(frozen=True)
class StageResult:
    """What a stage did: the file it wrote (a shard file under ``Selection.shard``), the counts of
    the finished output, or the reason it had nothing to do."""

    output: str
    requested_output: str
    sidecar: str
    counts: Mapping[str, Any]
    nothing_to_do: Optional[str] = None


def run_stage(stage: Stage) -> StageResult:
    """Run one stage: check, load the model, run, finish (see the module docstring)."""
    if isinstance(stage, BaselineStage):
        return _run_baseline(stage)
    if isinstance(stage, ConditionedStage):
        return _run_conditioned(stage)
    if isinstance(stage, InterventionStage):
        return _run_intervention(stage)
    raise TypeError(f"run_stage takes a BaselineStage, ConditionedStage or InterventionStage, not {type(stage).__name__}")


def _check_common(stage: Stage) -> None:
    """What argparse checks on the command line, for configs built in code."""
    get_spec(stage.model)  # an unknown model is a UserError naming the known ones
    if stage.protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {stage.protocol!r}; known: {', '.join(PROTOCOLS)}")
    hardware, selection = stage.hardware, stage.selection
    if hardware.batch_size != "auto" and (not isinstance(hardware.batch_size, int) or hardware.batch_size < 1):
        raise UserError(f"batch_size must be a positive integer or 'auto', got {hardware.batch_size!r}")
    for name, value in (("max_batch_size", hardware.max_batch_size), ("workers", hardware.workers),
                        ("limit", selection.limit), ("sample", selection.sample)):
        if value is not None and value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")
    for name in ("answer_mode", "cot_source"):
        value, allowed = getattr(stage, name, None), {"answer_mode": ANSWER_MODES, "cot_source": COT_SOURCES}[name]
        if value is not None and value not in allowed:
            raise UserError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def declared_options(add_arguments: Optional[Callable[[Any], None]], given: Mapping[str, Any],
                     owner: str) -> Dict[str, Any]:
    """The options a family or backend declares (``add_arguments``), with their command-line
    defaults, overridden by ``given``; a name it does not declare is refused."""
    import argparse  # only to read the declared defaults exactly as the command line has them

    parser = argparse.ArgumentParser(add_help=False)
    if add_arguments is not None:
        add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "none"
        raise UserError(f"{owner} has no option(s) {', '.join(unknown)} (its options: {known})")
    return {**defaults, **given}


def check_cot_source(results, model_key: str, path: str, allow_foreign: bool) -> None:
    """Refuse baseline records written by another model unless ``allow_foreign`` (the error names both)."""
    foreign = sorted({record.model for record in results if record.model and record.model != model_key})
    if foreign and not allow_foreign:
        raise UserError(f"{path}: the baseline was written by {', '.join(foreign)}, not by {model_key}: its CoT "
                        f"would be injected into {model_key}. Pass --allow_foreign_cot to measure {model_key} "
                        f"conditioned on {', '.join(foreign)}'s CoT on purpose")
    if foreign:
        log.warning("%s: injecting %s's CoT into %s (--allow_foreign_cot)", path, ", ".join(foreign), model_key)
    unnamed = sum(1 for record in results if not record.model)
    if unnamed:
        log.warning("%s: %d baseline record(s) have no 'model' field: whose CoT they are cannot be checked",
                    path, unnamed)


def _baseline_generation(results_path: str) -> Optional[Dict[str, Any]]:
    """The baseline's generation settings, from its provenance sidecar (None when it has none)."""
    path = sidecar_path(results_path)
    if not path.is_file():
        return None
    generation = json.loads(path.read_text(encoding="utf-8")).get("fingerprint", {}).get("generation")
    return generation if isinstance(generation, dict) else None


def baseline_max_new_tokens(results_path: str) -> Optional[int]:
    """The baseline's generation length, from its provenance sidecar (None when it has none)."""
    value = (_baseline_generation(results_path) or {}).get("max_new_tokens")
    return int(value) if isinstance(value, int) and value > 0 else None


def baseline_cot_sampler(results_path: str):
    """How the baseline decoded its CoTs (a ``runners.variants.CotSampler``: greedy, or its
    temperature, top-p and seed), from its provenance sidecar; None when it has none."""
    from audiofaith.runners.variants import CotSampler

    generation = _baseline_generation(results_path)
    if generation is None:
        return None
    if not generation.get("do_sample"):
        return CotSampler()
    return CotSampler(do_sample=True, temperature=float(generation["temperature"]), top_p=float(generation["top_p"]),
                      seed=int(generation.get("seed", 0)))


#: The command-line flag of each stage's output, named in the messages about it.
OUTPUT_FLAGS = {"baseline": "--output", "conditioned": "--output_conditioned_file", "intervene": "--output_file"}


def check_output_file(path: str, flag: str, example: str) -> None:
    """A folder given as the output (an existing one, or a path ending in ``/``) is one line that
    says what to pass: the runners write a JSONL *file* there."""
    text = str(path)
    if text.endswith(("/", "\\")) or Path(text).is_dir():
        folder = text.rstrip("/\\") or text
        raise UserError(f"{flag} {text}: a folder, not a file; give the JSONL file to write in it, "
                        f"e.g. {flag} {Path(folder) / example}")


class _Selected:
    """The items this process runs and where it writes: the requested output, or its shard file
    under ``Selection.shard``, a multi-process launcher (torchrun / accelerate launch) or a SLURM
    job array."""

    def __init__(self, selection: Selection, data_root: str, manifest_path: str, requested_output: str) -> None:
        manifest = load_manifest(manifest_path)
        rank = launcher_rank()
        if rank is not None and selection.shard:
            raise UserError("--shard cannot be combined with a multi-process launcher (it shards by rank already)")
        if rank is None and not selection.shard:  # an explicit --shard wins over the array's task id
            rank = slurm_array_shard()
            if rank is not None:
                log.info("SLURM array task %d of %d: shard %d/%d", rank[0], rank[1], rank[0], rank[1])
        elif rank is not None and slurm_array_shard() is not None:
            raise UserError("a multi-process launcher inside a SLURM job array: shard by one of them (pass "
                            "--shard K/N, or set AUDIOFAITH_ARRAY_SHARDS=0)")
        shard = f"{rank[0]}/{rank[1]}" if rank is not None else selection.shard
        self.manifest = manifest
        self.manifest_ids = [item.id for item in manifest]
        chosen = manifest
        if selection.sample is not None:
            from audiofaith.runners.selection import stratified_sample

            if selection.sample >= len(manifest):
                log.warning("--sample %d is not smaller than the %d items of %s: every item runs (a pilot needs "
                            "fewer; leave --sample out to run them all on purpose)", selection.sample,
                            len(manifest), manifest_path)
            chosen = stratified_sample(manifest, selection.sample, selection.sample_seed)
        self.items = select_shard(chosen, shard)
        if selection.limit is not None:
            self.items = self.items[: selection.limit]
        check_audio_files(self.items, data_root, manifest_path)
        self.requested_output = requested_output
        self.launched = rank is not None
        self.shard = parse_shard(shard) if shard else None
        self.output = str(shard_output_path(requested_output, *self.shard)) if self.shard else requested_output

    def finish(self, provenance: Provenance, counts: dict, started: float) -> None:
        from audiofaith.store.run_summary import log_run_end

        canonicalize(self.output, self.manifest_ids)
        provenance.finish("completed", counts)
        log.info("done in %.1f s: %s", time.time() - started, counts)
        log_run_end(self.output)  # each error reason once; null answers, labelled
        log.info("output: %s (provenance: %s)", self.output, provenance.path)
        if self.launched:
            if merge_if_last(self.requested_output, self.shard[1], self.manifest_ids):
                log.info("all %d ranks / array tasks finished: merged into %s", self.shard[1], self.requested_output)
        elif self.shard:
            log.info("when all %d shards are done: python -m audiofaith merge --output %s --manifest_file <manifest>",
                     self.shard[1], self.requested_output)


def _load_and_run(stage: Stage, selected: _Selected, fingerprint: dict, inputs: Dict[str, str], details: dict,
                  run, nothing_to_do=None) -> StageResult:
    """Under the output's lock: check everything that needs no model (settings, duplicates, what
    is left, the model path), write the provenance sidecar, load the model, run
    ``run(backend, provenance) -> counts``, finish. ``nothing_to_do(provenance, state)`` returns a
    message when the output is already complete. ``inputs``: the fingerprint entries that are
    input files' contents, by the path they are read from now (old sidecars named the path)."""
    started = time.time()
    hardware = stage.hardware
    model_path = hardware.model_path or get_spec(stage.model).default_checkpoint
    backend_options = dict(hardware.backend_options)
    with OutputLock(selected.output):
        state = read_output_state(selected.output)  # duplicates are refused here
        provenance = Provenance(
            selected.output,
            fingerprint={"stage": fingerprint.pop("stage"), "model_key": stage.model, "checkpoint": model_path,
                         **({"backend_options": backend_options} if backend_options else {}), **fingerprint},
            details={"arguments": stage_to_json(stage), "lines_at_start": len(state.keys), **details},
            inputs=inputs,
        )
        retry = state.errored if stage.selection.retry_errors else set()
        done_message = None if retry or nothing_to_do is None else nothing_to_do(provenance, state)
        if done_message is not None:
            log.info("%s: %s; nothing to do", selected.output, done_message)
            return StageResult(selected.output, selected.requested_output, str(provenance.path), {}, done_message)
        backend_class(stage.model).check_model_path(model_path)
        if retry:
            log.info("--retry_errors: redoing %d errored line(s) of %s", drop_lines(selected.output, retry),
                     selected.output)
        provenance.write()
        log.info("%s: %s; loading %s from %s", provenance.fingerprint["stage"],
                 ", ".join(f"{k} {v}" for k, v in details.items() if k not in ("work", "expected_lines")),
                 stage.model, model_path)
        try:
            backend = load_backend(stage.model, model_path, device=hardware.device, dtype=hardware.dtype,
                                   **backend_options)
            provenance.update(backend=backend.provenance(), model_loaded=time.time())
            counts = run(backend, provenance)
        except KeyboardInterrupt:
            provenance.finish("interrupted", {})
            raise
        except DiskFull:
            # the sidecar cannot be written either: it keeps "running", which the rerun marks interrupted
            log.debug("%s: not marked failed (the disk is full)", provenance.path)
            raise
        except BaseException as exc:
            provenance.finish("failed", {}, error=f"{type(exc).__name__}: {exc}")
            raise
        selected.finish(provenance, counts, started)
    return StageResult(selected.output, selected.requested_output, str(provenance.path), dict(counts))


def _with_backend_defaults(stage: Stage) -> Stage:
    options = declared_options(getattr(backend_class(stage.model), "add_arguments", None),
                               stage.hardware.backend_options, f"the {stage.model} backend")
    return dataclasses.replace(stage, hardware=dataclasses.replace(stage.hardware, backend_options=options))


def _run_baseline(stage: BaselineStage) -> StageResult:
    from audiofaith.runners.baseline import BaselineConfig, run_baseline, summarize

    _check_common(stage)
    stage = _with_backend_defaults(stage)
    model_key = stage.model
    paper = resolve_protocol(stage.protocol, model_key)
    check_output_file(stage.output, OUTPUT_FLAGS["baseline"], "baseline.jsonl")
    selected = _Selected(stage.selection, stage.data_root, stage.manifest, stage.output)
    prompt_mode = "cot" if stage.reasoning else "direct"
    default_length = paper.max_new_tokens(prompt_mode) if paper else (512 if stage.reasoning else 32)
    tiny_length = tiny_max_new_tokens(stage.hardware.model_path)
    if stage.max_new_tokens is None and paper is None and stage.reasoning and tiny_length:
        log.info("a tiny test checkpoint: reasoning up to %d tokens, from its generation_config.json "
                 "(--max_new_tokens changes it)", tiny_length)
        default_length = tiny_length
    stage = dataclasses.replace(stage, max_new_tokens=stage.max_new_tokens or default_length)
    config = BaselineConfig(model_key=model_key, prompt_mode=prompt_mode, num_runs=stage.num_runs,
                            batch_size=stage.hardware.effective_batch_size(), max_new_tokens=stage.max_new_tokens,
                            temperature=stage.temperature, top_p=stage.top_p, seed=stage.seed,
                            workers=stage.hardware.workers, letter_logprobs=stage.letter_logprobs and paper is None,
                            thinking=stage.hardware.backend_options.get("thinking"))
    profile = get_profile(model_key, config.thinking)
    fingerprint = {"stage": "baseline", "manifest": content_fingerprint(stage.manifest), "prompt_mode": prompt_mode,
                   "prompt_profile": profile.to_json(), "prompt_hash": profile.hash(),
                   **protocol_provenance(stage.protocol, model_key),
                   "generation": config.generation_settings().to_json(), "letter_logprobs": config.letter_logprobs}
    if config.num_runs > 1:  # files sampled before per-run seeds cannot be resumed into
        fingerprint["sampling_seeds"] = "per (seed, item id, run)"

    def nothing_to_do(provenance, state):
        if any(item.id not in state.ids for item in selected.items):
            return None
        previous = provenance.previous_sessions()
        if not previous or previous[-1].get("status") != "completed":  # killed after its last line
            canonicalize(selected.output, selected.manifest_ids)
            provenance.finish("completed", summarize(Path(selected.output)))
        return f"all {len(selected.items)} selected item(s) are done"

    return _load_and_run(stage, selected, fingerprint, {"manifest": stage.manifest},
                         {"items_selected": len(selected.items), "expected_lines": len(selected.items)},
                         lambda backend, provenance: run_baseline(backend, selected.items, stage.data_root,
                                                                  selected.output, config, profile, paper),
                         nothing_to_do)


def _run_variant_stage(stage: Union[ConditionedStage, InterventionStage], name: str, build_variants,
                       fingerprint: dict, cot_max_new_tokens: int, cot_sampler=None) -> StageResult:
    """Shared by the conditioned step and every intervention: validate, load, build variants, run.
    ``cot_sampler``: the baseline's CoT decoding (None: its sidecar is missing; greedy, and with
    several runs per item a warning and a ``cot_sampler`` note in the fingerprint)."""
    from audiofaith.runners.conditioned import load_baseline_results
    from audiofaith.runners.variants import CotSampler, VariantConfig, run_variants, with_cue_references

    model_key = stage.model
    paper = resolve_protocol(stage.protocol, model_key)
    if paper is not None and stage.answer_mode == "logits":
        raise UserError("--protocol paper reads every answer by short generation, parsed; "
                        "drop --answer_mode logits (or use --protocol ours)")
    stage = dataclasses.replace(
        stage, answer_mode=stage.answer_mode or ("generate" if paper else "logits"),
        answer_max_new_tokens=stage.answer_max_new_tokens or (paper.answer_max_new_tokens if paper else 16))
    check_output_file(stage.output, OUTPUT_FLAGS["conditioned" if name == "conditioned" else "intervene"],
                      f"{name.split(':')[-1]}.jsonl")
    selected = _Selected(stage.selection, stage.data_root, stage.manifest, stage.output)
    chosen = {item.id for item in selected.items}
    results = [record for record in load_baseline_results(stage.baseline, selected.manifest, chosen)
               if record.id in chosen]
    baseline_missing = len(chosen - {record.id for record in results})  # warned about by load_baseline_results
    other = sorted({record.protocol for record in results} - {stage.protocol})
    if other:
        raise UserError(f"{stage.baseline}: the baseline was run with --protocol {other[0]}; run this "
                        f"step with the same protocol (results of two protocols are never mixed)")
    check_cot_source(results, model_key, stage.baseline, stage.allow_foreign_cot)
    thinking = stage.hardware.backend_options.get("thinking")
    modes = sorted({record.thinking or "" for record in results} - {thinking or ""})
    if modes:
        raise UserError(f"{stage.baseline}: the baseline was run with --thinking {modes[0] or '(none)'}; run this step "
                        f"with the same mode (results of two thinking modes are never mixed)")
    if cot_sampler is None:
        runs = max((len(record.runs_reasonings) for record in results), default=0)
        if runs > 1:  # e.g. a converted file: its sampler is unknown; greedy, said and recorded
            log.warning("%s: %d runs per item but no provenance sidecar: how they were sampled is unknown, so "
                        "continued / regenerated reasoning is decoded greedily and its agreement mixes the change "
                        "of decoder with the intervention (recorded as cot_sampler in the sidecar)",
                        stage.baseline, runs)
            fingerprint = {**fingerprint, "cot_sampler": "unknown (no baseline sidecar): greedy"}
        else:
            log.info("%s has no provenance sidecar; one run per item: continued / regenerated reasoning is greedy",
                     stage.baseline)
        cot_sampler = CotSampler()
    reference = stage.cot_source == "reference"
    if reference:  # the benchmark's reference CoT instead of the model's own (audiofaith.benchmarks.reference)
        from audiofaith.benchmarks import reference as reference_cot

        reference_cot.check_items(selected.items)
        results = reference_cot.with_reference_cot(results, selected.items)
        fingerprint = {**fingerprint, "cot_source": "reference"}
    config = VariantConfig(model_key=model_key, answer_mode=stage.answer_mode,
                           batch_size=stage.hardware.effective_batch_size(),
                           answer_max_new_tokens=stage.answer_max_new_tokens, cot_max_new_tokens=cot_max_new_tokens,
                           workers=stage.hardware.workers, desc=name, cot_sampler=cot_sampler, thinking=thinking)
    profile = get_profile(model_key, thinking)
    fingerprint = {"stage": name, "manifest": content_fingerprint(stage.manifest),
                   "baseline_results": content_fingerprint(stage.baseline),
                   "answer_mode": stage.answer_mode, "answer_max_new_tokens": stage.answer_max_new_tokens,
                   "prompt_profile": profile.to_json(), "prompt_hash": profile.hash(),
                   **protocol_provenance(stage.protocol, model_key), **fingerprint}

    # what this session is asked to answer: a completed session with the same work leaves nothing to do
    work = work_signature([[record.id, record.runs_reasonings, record.runs_predictions] for record in results])

    def run(backend, provenance):
        # the reference of letter read-out lines: each baseline run's own letter read-out
        variants = with_cue_references(build_variants(selected.items, results, profile, backend, selected.manifest),
                                       results)
        if reference:
            variants = reference_cot.mark_reference(variants)
        log.info("%d variant(s) to answer", len(variants))
        provenance.update(expected_lines=len(variants))
        return run_variants(backend, variants, stage.data_root, selected.output, config, profile, paper)

    def nothing_to_do(provenance, state):
        previous = provenance.previous_sessions()
        if previous and previous[-1].get("status") == "completed" and previous[-1].get("work") == work:
            return f"all {len(state.keys)} line(s) for these {len(results)} baseline record(s) are done"
        return None

    return _load_and_run(stage, selected, fingerprint, {"manifest": stage.manifest, "baseline_results": stage.baseline},
                         {"baseline_records": len(results), "items_selected": len(selected.items),
                          "baseline_missing": baseline_missing, "work": work}, run, nothing_to_do)


def _run_conditioned(stage: ConditionedStage) -> StageResult:
    from audiofaith.runners.conditioned import conditioned_variants
    from audiofaith.runners.variants import CotSampler

    _check_common(stage)
    return _run_variant_stage(_with_backend_defaults(stage), "conditioned",
                              lambda items, results, profile, backend, manifest: conditioned_variants(results, items),
                              {}, cot_max_new_tokens=512, cot_sampler=CotSampler())


def _run_intervention(stage: InterventionStage) -> StageResult:
    from audiofaith.interventions import KINDS, InterventionContext, family

    _check_common(stage)
    if stage.kind not in KINDS:
        raise UserError(f"unknown intervention kind {stage.kind!r}; known: {', '.join(sorted(KINDS))}")
    module = family(stage.kind)
    stage = _with_backend_defaults(stage)
    options = declared_options(getattr(module, "add_arguments", None), stage.options, f"--kind {stage.kind}")
    stage = dataclasses.replace(stage, options=options)
    if stage.protocol != OURS and getattr(module, "CHANGES_USER_TURN", False):
        raise UserError(f"--kind {stage.kind} rewrites our prompt's user turn, which --protocol {stage.protocol} "
                        "defines per model; run it with --protocol ours (docs/protocols.md)")
    if stage.cot_max_new_tokens is None:
        from_baseline = baseline_max_new_tokens(stage.baseline)
        tiny_length = tiny_max_new_tokens(stage.hardware.model_path)
        if from_baseline is None and tiny_length:
            log.info("a tiny test checkpoint: continued / regenerated reasoning up to %d tokens, from its "
                     "generation_config.json (--cot_max_new_tokens changes it)", tiny_length)
            from_baseline = tiny_length
        elif from_baseline is None:
            log.warning("%s has no provenance sidecar with max_new_tokens: continued / regenerated reasoning is cut "
                        "at 512 tokens (set --cot_max_new_tokens)", stage.baseline)
        else:
            log.info("continued / regenerated reasoning: up to %d tokens, the baseline's max_new_tokens",
                     from_baseline)
        stage = dataclasses.replace(stage, cot_max_new_tokens=from_baseline or 512)
    if stage.cot_source == "reference":
        from audiofaith.benchmarks.reference import check_kind

        check_kind(stage.kind)
    check_options = getattr(module, "check_options", None)
    if check_options is not None:
        check_options(options)  # before the model loads: a typo must not cost a 16 GB load

    def build(items, results, profile, backend, manifest):
        context = InterventionContext(items=items, results=results, profile=profile, options=options,
                                      seed=stage.seed, backend=backend, model_key=stage.model, manifest=manifest,
                                      protocol=stage.protocol)
        return module.build_variants(context)

    # continued / regenerated reasoning is decoded as the baseline's CoT was (sampled: its sampler, run seeds)
    sampler = baseline_cot_sampler(stage.baseline)
    fingerprint = {"kind": stage.kind, "kind_options": options, "seed": stage.seed,
                   "cot_max_new_tokens": stage.cot_max_new_tokens}
    if sampler is not None and sampler.do_sample:  # greedy files from before this field still resume
        fingerprint["cot_sampler"] = sampler.to_json()
        log.info("continued / regenerated reasoning: sampled as the baseline was (temperature %g, top-p %g, "
                 "run r seeded as baseline run r)", sampler.temperature, sampler.top_p)
    return _run_variant_stage(stage, f"intervene:{stage.kind}", build, fingerprint,
                              cot_max_new_tokens=stage.cot_max_new_tokens, cot_sampler=sampler)
