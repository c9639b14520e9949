"""Command-line entry points. The per-model scripts in ``interface/`` call ``baseline_main`` and
``conditioned_main`` with their model key; ``audiofaith`` (``python -m audiofaith``) offers the
same commands with ``--model``.

Everything is validated (manifest schema, audio files, resume compatibility) before the model is
loaded, so a typo costs seconds, not a 16 GB model load.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

from audiofaith.backends import MODELS, backend_class, get_profile, get_spec, load_backend, models_main
from audiofaith.errors import UserError
from audiofaith.helptext import DefaultsHelpFormatter
from audiofaith.locking import OutputLock
from audiofaith.manifest import check_audio_files, load_manifest, parse_shard, select_shard
from audiofaith.protocols import OURS, PROTOCOLS, provenance as protocol_provenance, resolve as resolve_protocol
from audiofaith.provenance import Provenance
from audiofaith.resume import drop_lines, read_output_state, work_signature
from audiofaith.sharding import canonicalize, launcher_rank, merge_if_last, merge_shards, shard_output_path

log = logging.getLogger("audiofaith")

#: Only our own input errors exit 2 with a one-line message; anything else is a bug and keeps its traceback.
USER_ERRORS = (UserError,)


def _setup_logging(level: str) -> None:
    from audiofaith.progress import log_handler, on_terminal

    if not on_terminal():  # no carriage-return bars from transformers / huggingface_hub in log files either
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # through tqdm on a terminal (lines above the bar), plain lines in files and SLURM logs
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", handlers=[log_handler()])
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _batch_size(text: str):
    return "auto" if text == "auto" else _positive_int(text)


def _effective_batch_size(args: argparse.Namespace) -> int:
    return args.max_batch_size if args.batch_size == "auto" else args.batch_size


class _OptionRecorder:
    """Hands a backend's ``add_arguments`` an argument group and notes which options it added."""

    def __init__(self, group, skip_existing: bool = False) -> None:
        self.group = group
        self.dests: List[str] = []
        self.skip_existing = skip_existing  # listing every family: options two families share appear once
        self.shared: List[str] = []

    def add_argument(self, *args, **kwargs):
        if self.skip_existing and any(name in self.group._option_string_actions for name in args):
            self.shared.append(args[0])
            return None
        action = self.group.add_argument(*args, **kwargs)
        self.dests.append(action.dest)
        return action


def _add_backend_options(parser: argparse.ArgumentParser, model_key: Optional[str]) -> None:
    """The chosen backend's own options (``Backend.add_arguments``), e.g. SALMONN's checkout and
    weight paths; importing a backend module imports no torch."""
    dests: List[str] = []
    if model_key is not None:
        recorder = _OptionRecorder(parser.add_argument_group(f"{get_spec(model_key).display_name} options"))
        backend_class(model_key).add_arguments(recorder)
        dests = recorder.dests
    parser.set_defaults(backend_option_names=dests)


def backend_options(args: argparse.Namespace) -> dict:
    """The parsed values of the backend's own options, as constructor keyword arguments."""
    return {name: getattr(args, name) for name in getattr(args, "backend_option_names", [])}


def _options_fingerprint(args: argparse.Namespace) -> dict:
    options = backend_options(args)
    return {"backend_options": options} if options else {}


def _add_common(parser: argparse.ArgumentParser, model_key: Optional[str], backend_key: Optional[str] = None) -> None:
    group = parser.add_argument_group("model and hardware")
    if model_key is None:
        group.add_argument("--model", required=True, choices=sorted(MODELS), help="model key from the registry")
    default = get_spec(model_key).default_checkpoint if model_key else "the model's hub checkpoint"
    group.add_argument("--model_path", default=None,
                       help=f"hub id or local checkpoint directory (default: {default}); "
                            "a tiny test checkpoint from `python -m audiofaith.tiny` works too")
    group.add_argument("--device", default="auto", help="cuda, cuda:1, cpu ... (default: auto = cuda if available)")
    group.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), bf16, fp16 or fp32")
    group.add_argument("--batch_size", type=_batch_size, default=8,
                       help="inputs per forward pass, or 'auto': start at --max_batch_size and halve on "
                            "out-of-memory (any size backs off on OOM instead of dying; the failed batch is retried)")
    group.add_argument("--max_batch_size", type=_positive_int, default=64, help="starting size for --batch_size auto")
    group.add_argument("--workers", type=_positive_int, default=2,
                       help="CPU threads decoding audio ahead of the model (default 2)")
    sel = parser.add_argument_group("which items")
    sel.add_argument("--limit", type=_positive_int, default=None,
                     help="only the first N items (after --sample and --shard); manifests are sorted by class, so "
                          "for a pilot use --sample")
    sel.add_argument("--sample", type=_positive_int, default=None, metavar="N",
                     help="a reproducible sample of N manifest items, stratified over subset x hop x gold letter x "
                          "class (before --shard); see docs/architecture.md")
    sel.add_argument("--sample_seed", type=int, default=0, help="seed of --sample")
    sel.add_argument("--retry_errors", action="store_true",
                     help="redo the items (lines) of the output that carry an error, replacing those lines")
    sel.add_argument("--shard", default=None, metavar="K/N",
                     help="only shard K of N (0-based; every N-th manifest item from K), for job arrays; writes "
                          "<output stem>.shard-K-of-N<suffix>, joined afterwards by `python -m audiofaith merge`")
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default=OURS,
                        help="ours: our prompts, the CoT continued in the assistant turn, letters from "
                             "log-probabilities; paper: the published study's prompts, generation lengths and "
                             "conditioning per model (arXiv 2509.22363), answers by short generation, parsed "
                             "(docs/protocols.md). Recorded in every line and the sidecar; never pooled in reports")
    parser.add_argument("--log_level", default="info", choices=["debug", "info", "warning", "error"])
    _add_backend_options(parser, backend_key or model_key)


def baseline_parser(model_key: Optional[str] = None, prog: Optional[str] = None,
                    backend_key: Optional[str] = None) -> argparse.ArgumentParser:
    name = get_spec(model_key).display_name if model_key else "a registered model"
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"Baseline run of {name}: for every manifest item, generate a chain of thought and an answer "
                    "(or a direct answer with --no_reasoning), parse the chosen letter, and read the letter "
                    "log-probabilities after the reasoning. Writes one JSON line per item (all runs of that item), "
                    "appended and fsynced per batch; rerunning the same command resumes where it stopped. A "
                    "<output>.meta.json sidecar records the model, prompts, settings and code version.",
        formatter_class=DefaultsHelpFormatter,
    )
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", "--manifest_file", dest="input", required=True,
                    help="manifest JSONL (e.g. processed_input/sakura/animal/sakura_manifest.jsonl)")
    io.add_argument("--output", required=True, help="baseline JSONL to write or resume")
    io.add_argument("--data_root", default="data/", help="directory the manifest's audio paths are relative to")
    gen = parser.add_argument_group("prompting and generation")
    gen.add_argument("--no_reasoning", action="store_true", help="direct-answer prompt instead of chain of thought")
    gen.add_argument("--num_runs", type=_positive_int, default=1,
                     help="answers per item; 1 = greedy decoding, N > 1 = N seeded samples")
    gen.add_argument("--max_new_tokens", type=_positive_int, default=None,
                     help="generation length (default 512 with reasoning, 32 without; under --protocol paper "
                          "the study's length for the model, e.g. 1024 for Qwen2.5-Omni)")
    gen.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (only when --num_runs > 1)")
    gen.add_argument("--top_p", type=float, default=0.9, help="nucleus sampling p (only when --num_runs > 1)")
    gen.add_argument("--seed", type=int, default=0,
                     help="base seed; run r of item i samples with its own generator seeded from (seed, i, r), so "
                          "samples do not depend on batch size, batch composition, OOM back-off or resume")
    gen.add_argument("--no_letter_logprobs", action="store_true",
                     help="skip reading the letter log-probabilities after each run (one forward pass per run "
                          "saved); always skipped under --protocol paper, whose prompts have no answer cue")
    _add_common(parser, model_key, backend_key)
    return parser


def conditioned_parser(model_key: Optional[str] = None, prog: Optional[str] = None,
                       backend_key: Optional[str] = None) -> argparse.ArgumentParser:
    name = get_spec(model_key).display_name if model_key else "a registered model"
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"Conditioned run of {name}: inject each baseline run's reasoning back as the model's own "
                    "assistant turn, followed by the answer cue, and read the final letter (from letter "
                    "log-probabilities in one forward pass, or by short generation + parsing). Records baseline vs "
                    "conditioned letter, agreement and correctness, one line per (item, run); resumable.",
        formatter_class=DefaultsHelpFormatter,
    )
    io = parser.add_argument_group("input and output")
    io.add_argument("--manifest_file", required=True, help="the manifest the baseline was run on")
    io.add_argument("--input_results_file", required=True, help="baseline JSONL (from the *_wrapper.py script)")
    io.add_argument("--output_conditioned_file", required=True, help="conditioned JSONL to write or resume")
    io.add_argument("--data_root", default="data/", help="directory the manifest's audio paths are relative to")
    ans = parser.add_argument_group("answer")
    ans.add_argument("--answer_mode", choices=["logits", "generate"], default=None,
                     help="logits: argmax of the option letters' log-probabilities (one forward pass); "
                          "generate: greedy generation of --answer_max_new_tokens tokens, then parsing "
                          "(default: logits; generate under --protocol paper, the only mode it has)")
    ans.add_argument("--answer_max_new_tokens", type=_positive_int, default=None,
                     help="generation length in --answer_mode generate (default 16; under --protocol paper "
                          "the study's length for the model)")
    ans.add_argument("--cot_source", choices=["own", "reference"], default="own",
                     help="own: each baseline run's reasoning; reference: the benchmark's reference reasoning "
                          "(manifest meta.reference_cot, i.e. MMAR's human-written 'thinking') instead, labelled "
                          "cot_source=reference on every line (docs/benchmarks.md)")
    _add_foreign_cot(io)
    _add_common(parser, model_key, backend_key)
    return parser


def _add_foreign_cot(group) -> None:
    group.add_argument("--allow_foreign_cot", action="store_true",
                       help="accept a baseline written by another model (its CoT injected into this one); the "
                            "lines then carry cot_source_model and the report shows them as 'X conditioned on Y's "
                            "CoT', never as X's own faithfulness. Without it such a file is refused")


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


def baseline_max_new_tokens(results_path: str) -> Optional[int]:
    """The baseline's generation length, from its provenance sidecar (None when it has none)."""
    import json

    from audiofaith.provenance import sidecar_path

    path = sidecar_path(results_path)
    if not path.is_file():
        return None
    generation = json.loads(path.read_text(encoding="utf-8")).get("fingerprint", {}).get("generation", {})
    value = generation.get("max_new_tokens")
    return int(value) if isinstance(value, int) and value > 0 else None


def intervene_parser(model_key: Optional[str] = None, prog: Optional[str] = None,
                     backend_key: Optional[str] = None, kind: Optional[str] = None) -> argparse.ArgumentParser:
    from audiofaith.interventions import KINDS, family

    name = get_spec(model_key).display_name if model_key else "a registered model"
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"Interventions on {name}'s baseline runs (docs/conditions.md): each --kind edits the "
                    "chain of thought or the audio of every baseline run into variants and reads the answer under "
                    "each one, one line per (item, run, condition, parameters); resumable, with provenance.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--kind", required=True, choices=sorted(KINDS), help="intervention family")
    io = parser.add_argument_group("input and output")
    io.add_argument("--manifest_file", required=True, help="the manifest the baseline was run on")
    io.add_argument("--input_results_file", required=True, help="CoT baseline JSONL (from the *_wrapper.py script)")
    io.add_argument("--output_file", required=True,
                    help="intervention JSONL to write or resume (e.g. …/interventions/early_answering_animal.jsonl)")
    io.add_argument("--data_root", default="data/", help="directory the manifest's audio paths are relative to")
    ans = parser.add_argument_group("answer")
    ans.add_argument("--answer_mode", choices=["logits", "generate"], default=None,
                     help="logits: argmax of the option letters' log-probabilities; generate: short generation + "
                          "parsing (default: logits; generate under --protocol paper, the only mode it has)")
    ans.add_argument("--answer_max_new_tokens", type=_positive_int, default=None,
                     help="generation length in --answer_mode generate (default 16; under --protocol paper "
                          "the study's length for the model)")
    ans.add_argument("--cot_max_new_tokens", type=_positive_int, default=None,
                     help="length of regenerated or continued reasoning (default: the baseline's max_new_tokens "
                          "from its .meta.json sidecar, else 512 with a warning)")
    _add_foreign_cot(io)
    ans.add_argument("--seed", type=int, default=0, help="base seed of seeded edits (per item)")
    ans.add_argument("--cot_source", choices=["own", "reference"], default="own",
                     help="own: each baseline run's reasoning; reference (text families only): the benchmark's "
                          "reference reasoning (manifest meta.reference_cot, i.e. MMAR's human-written 'thinking') "
                          "instead, labelled "
                          "cot_source=reference on every line (docs/benchmarks.md)")
    # With --kind X only X's options exist (others are errors); without it (e.g. --help) every
    # family's options are listed, grouped by family.
    for shown in ([kind] if kind is not None else sorted(KINDS)):
        add_arguments = getattr(family(shown), "add_arguments", None)
        if add_arguments is not None:
            title = f"{shown} options" + ("" if kind is not None else f" (with --kind {shown})")
            recorder = _OptionRecorder(parser.add_argument_group(title), skip_existing=kind is None)
            add_arguments(recorder)
            if recorder.shared:
                recorder.group.description = f"also {', '.join(recorder.shared)} (listed above)"
            if kind is not None:
                parser.set_defaults(kind_option_names=recorder.dests)
    _add_common(parser, model_key, backend_key)
    return parser


class _Selection:
    """The items this process runs and where it writes: the requested output, or its shard file
    under ``--shard K/N`` or a multi-process launcher (torchrun / accelerate launch)."""

    def __init__(self, args: argparse.Namespace, manifest_path: str, requested_output: str) -> None:
        manifest = load_manifest(manifest_path)
        rank = launcher_rank()
        if rank is not None and args.shard:
            raise UserError("--shard cannot be combined with a multi-process launcher (it shards by rank already)")
        shard = f"{rank[0]}/{rank[1]}" if rank is not None else args.shard
        self.manifest = manifest
        self.manifest_ids = [item.id for item in manifest]
        chosen = manifest
        if args.sample is not None:
            from audiofaith.sampling import stratified_sample

            chosen = stratified_sample(manifest, args.sample, args.sample_seed)
        self.items = select_shard(chosen, shard)
        if args.limit is not None:
            self.items = self.items[: args.limit]
        check_audio_files(self.items, args.data_root, manifest_path)
        self.requested_output = requested_output
        self.launched = rank is not None
        self.shard = parse_shard(shard) if shard else None
        self.output = str(shard_output_path(requested_output, *self.shard)) if self.shard else requested_output

    def finish(self, provenance: Provenance, counts: dict, started: float) -> None:
        canonicalize(self.output, self.manifest_ids)
        provenance.finish("completed", counts)
        log.info("done in %.1f s: %s", time.time() - started, counts)
        log.info("output: %s (provenance: %s)", self.output, provenance.path)
        if self.launched:
            if merge_if_last(self.requested_output, self.shard[1], self.manifest_ids):
                log.info("all %d ranks finished: merged into %s", self.shard[1], self.requested_output)
        elif self.shard:
            log.info("when all %d shards are done: python -m audiofaith merge --output %s --manifest_file <manifest>",
                     self.shard[1], self.requested_output)


def _load_and_run(model_key: str, args: argparse.Namespace, selection: _Selection, fingerprint: dict,
                  details: dict, run, nothing_to_do=None) -> int:
    """Under the output's lock: check everything that needs no model (settings, duplicates, what
    is left, the model path), write the provenance sidecar, load the model, run
    ``run(backend, provenance) -> counts``, finish. ``nothing_to_do(provenance, state)`` returns a
    message when the output is already complete."""
    started = time.time()
    model_path = args.model_path or get_spec(model_key).default_checkpoint
    with OutputLock(selection.output):
        state = read_output_state(selection.output)  # duplicates are refused here
        provenance = Provenance(
            selection.output,
            fingerprint={"stage": fingerprint.pop("stage"), "model_key": model_key, "checkpoint": model_path,
                         **_options_fingerprint(args), **fingerprint},
            details={"arguments": vars(args), "lines_at_start": len(state.keys), **details},
        )
        retry = state.errored if args.retry_errors else set()
        done_message = None if retry or nothing_to_do is None else nothing_to_do(provenance, state)
        if done_message is not None:
            log.info("%s: %s; nothing to do", selection.output, done_message)
            return 0
        backend_class(model_key).check_model_path(model_path)
        if retry:
            log.info("--retry_errors: redoing %d errored line(s) of %s", drop_lines(selection.output, retry),
                     selection.output)
        provenance.write()
        log.info("%s: %s; loading %s from %s", provenance.fingerprint["stage"],
                 ", ".join(f"{k} {v}" for k, v in details.items() if k not in ("work", "expected_lines")),
                 model_key, model_path)
        try:
            backend = load_backend(model_key, model_path, device=args.device, dtype=args.dtype,
                                   **backend_options(args))
            provenance.update(backend=backend.provenance(), model_loaded=time.time())
            counts = run(backend, provenance)
        except KeyboardInterrupt:
            provenance.finish("interrupted", {})
            raise
        except BaseException as exc:
            provenance.finish("failed", {}, error=f"{type(exc).__name__}: {exc}")
            raise
        selection.finish(provenance, counts, started)
    return 0


def run_baseline_command(model_key: str, args: argparse.Namespace) -> int:
    from audiofaith.runners.baseline import BaselineConfig, run_baseline, summarize

    paper = resolve_protocol(args.protocol, model_key)
    selection = _Selection(args, args.input, args.output)
    prompt_mode = "direct" if args.no_reasoning else "cot"
    default_length = paper.max_new_tokens(prompt_mode) if paper else (32 if args.no_reasoning else 512)
    max_new_tokens = args.max_new_tokens or default_length
    config = BaselineConfig(model_key=model_key, prompt_mode=prompt_mode, num_runs=args.num_runs,
                            batch_size=_effective_batch_size(args), max_new_tokens=max_new_tokens,
                            temperature=args.temperature, top_p=args.top_p, seed=args.seed, workers=args.workers,
                            letter_logprobs=not args.no_letter_logprobs and paper is None)
    profile = get_profile(model_key)
    fingerprint = {"stage": "baseline", "manifest": str(args.input), "prompt_mode": prompt_mode,
                   "prompt_profile": profile.to_json(), "prompt_hash": profile.hash(),
                   **protocol_provenance(args.protocol, model_key),
                   "generation": config.generation_settings().to_json(), "letter_logprobs": config.letter_logprobs}
    if config.num_runs > 1:  # files sampled before per-run seeds cannot be resumed into
        fingerprint["sampling_seeds"] = "per (seed, item id, run)"
    def nothing_to_do(provenance, state):
        if any(item.id not in state.ids for item in selection.items):
            return None
        previous = provenance.previous_sessions()
        if not previous or previous[-1].get("status") != "completed":  # killed after its last line
            canonicalize(selection.output, selection.manifest_ids)
            provenance.finish("completed", summarize(Path(selection.output)))
        return f"all {len(selection.items)} selected item(s) are done"

    return _load_and_run(model_key, args, selection, fingerprint,
                         {"items_selected": len(selection.items), "expected_lines": len(selection.items)},
                         lambda backend, provenance: run_baseline(backend, selection.items, args.data_root,
                                                                  selection.output, config, profile, paper),
                         nothing_to_do)


def _run_variant_stage(model_key: str, args: argparse.Namespace, stage: str, output: str, build_variants,
                       fingerprint: dict) -> int:
    """Shared by the conditioned step and every intervention: validate, load, build variants, run."""
    from audiofaith.runners.conditioned import load_baseline_results
    from audiofaith.runners.variants import VariantConfig, run_variants, with_cue_references

    paper = resolve_protocol(args.protocol, model_key)
    if paper is not None and args.answer_mode == "logits":
        raise UserError("--protocol paper reads every answer by short generation, parsed; "
                         "drop --answer_mode logits (or use --protocol ours)")
    args.answer_mode = args.answer_mode or ("generate" if paper else "logits")
    args.answer_max_new_tokens = args.answer_max_new_tokens or (paper.answer_max_new_tokens if paper else 16)
    selection = _Selection(args, args.manifest_file, output)
    selected = {item.id for item in selection.items}
    results = [record for record in load_baseline_results(args.input_results_file, selection.manifest, selected)
               if record.id in selected]
    other = sorted({record.protocol for record in results} - {args.protocol})
    if other:
        raise UserError(f"{args.input_results_file}: the baseline was run with --protocol {other[0]}; run this "
                         f"step with the same protocol (results of two protocols are never mixed)")
    check_cot_source(results, model_key, args.input_results_file, args.allow_foreign_cot)
    reference = getattr(args, "cot_source", "own") == "reference"
    if reference:  # the benchmark's reference CoT instead of the model's own (audiofaith.benchmarks.reference)
        from audiofaith.benchmarks import reference as reference_cot

        reference_cot.check_items(selection.items)
        results = reference_cot.with_reference_cot(results, selection.items)
        fingerprint = {**fingerprint, "cot_source": "reference"}
    config = VariantConfig(model_key=model_key, answer_mode=args.answer_mode, batch_size=_effective_batch_size(args),
                           answer_max_new_tokens=args.answer_max_new_tokens,
                           cot_max_new_tokens=getattr(args, "cot_max_new_tokens", None) or 512, workers=args.workers,
                           desc=stage)
    profile = get_profile(model_key)
    fingerprint = {"stage": stage, "manifest": str(args.manifest_file), "baseline_results": str(args.input_results_file),
                   "answer_mode": args.answer_mode, "answer_max_new_tokens": args.answer_max_new_tokens,
                   "prompt_profile": profile.to_json(), "prompt_hash": profile.hash(),
                   **protocol_provenance(args.protocol, model_key), **fingerprint}

    # what this session is asked to answer: a completed session with the same work leaves nothing to do
    work = work_signature([[record.id, record.runs_reasonings, record.runs_predictions] for record in results])

    def run(backend, provenance):
        # the reference of letter read-out lines: each baseline run's own letter read-out
        variants = with_cue_references(build_variants(selection.items, results, profile, backend, selection.manifest),
                                       results)
        if reference:
            variants = reference_cot.mark_reference(variants)
        log.info("%d variant(s) to answer", len(variants))
        provenance.update(expected_lines=len(variants))
        return run_variants(backend, variants, args.data_root, selection.output, config, profile, paper)

    def nothing_to_do(provenance, state):
        previous = provenance.previous_sessions()
        if previous and previous[-1].get("status") == "completed" and previous[-1].get("work") == work:
            return f"all {len(state.keys)} line(s) for these {len(results)} baseline record(s) are done"
        return None

    return _load_and_run(model_key, args, selection, fingerprint, {"baseline_records": len(results), "work": work},
                         run, nothing_to_do)


def run_conditioned_command(model_key: str, args: argparse.Namespace) -> int:
    from audiofaith.runners.conditioned import conditioned_variants

    return _run_variant_stage(model_key, args, "conditioned", args.output_conditioned_file,
                              lambda items, results, profile, backend, manifest: conditioned_variants(results, items),
                              {})


def run_intervene_command(model_key: str, args: argparse.Namespace) -> int:
    from audiofaith.interventions import InterventionContext, family

    options = {name: getattr(args, name) for name in getattr(args, "kind_option_names", [])}
    if args.protocol != OURS and getattr(family(args.kind), "CHANGES_USER_TURN", False):
        raise UserError(f"--kind {args.kind} rewrites our prompt's user turn, which --protocol {args.protocol} "
                         "defines per model; run it with --protocol ours (docs/protocols.md)")
    if args.cot_max_new_tokens is None:
        args.cot_max_new_tokens = baseline_max_new_tokens(args.input_results_file)
        if args.cot_max_new_tokens is None:
            args.cot_max_new_tokens = 512
            log.warning("%s has no provenance sidecar with max_new_tokens: continued / regenerated reasoning is cut "
                        "at 512 tokens (set --cot_max_new_tokens)", args.input_results_file)
        else:
            log.info("continued / regenerated reasoning: up to %d tokens, the baseline's max_new_tokens",
                     args.cot_max_new_tokens)
    if args.cot_source == "reference":
        from audiofaith.benchmarks.reference import check_kind

        check_kind(args.kind)
    check_options = getattr(family(args.kind), "check_options", None)
    if check_options is not None:
        check_options(options)  # before the model loads: a typo must not cost a 16 GB load

    def build(items, results, profile, backend, manifest):
        context = InterventionContext(items=items, results=results, profile=profile, options=options,
                                      seed=args.seed, backend=backend, model_key=model_key, manifest=manifest)
        return family(args.kind).build_variants(context)

    return _run_variant_stage(model_key, args, f"intervene:{args.kind}", args.output_file, build,
                              {"kind": args.kind, "kind_options": options, "seed": args.seed,
                               "cot_max_new_tokens": args.cot_max_new_tokens})


def _survives_broken_pipe(function):
    """``script --help | head`` ends quietly: a closed stdout is not an error of ours."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            try:
                return function(*args, **kwargs)
            finally:
                sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            return 0

    return wrapper


def _guarded(function, *args) -> int:
    try:
        return function(*args)
    except USER_ERRORS as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted; rerun the same command to resume")
        return 130


@_survives_broken_pipe
def baseline_main(model_key: str, argv: Optional[List[str]] = None) -> int:
    """Entry point of ``interface/<Model>_wrapper.py``."""
    args = baseline_parser(model_key, prog=Path(sys.argv[0]).name).parse_args(argv)
    _setup_logging(args.log_level)
    return _guarded(run_baseline_command, model_key, args)


@_survives_broken_pipe
def conditioned_main(model_key: str, argv: Optional[List[str]] = None) -> int:
    """Entry point of ``interface/<Model>_conditioned.py``."""
    args = conditioned_parser(model_key, prog=Path(sys.argv[0]).name).parse_args(argv)
    _setup_logging(args.log_level)
    return _guarded(run_conditioned_command, model_key, args)


@_survives_broken_pipe
def merge_main(argv: Optional[List[str]] = None) -> int:
    """``audiofaith merge``: join the shard files of one output (from --shard K/N job arrays)."""
    parser = argparse.ArgumentParser(
        prog="audiofaith merge",
        description="Merge <stem>.shard-K-of-N<suffix> files (written by runs with --shard K/N) into the requested "
                    "output, in the canonical order a single-process run leaves, with a merged provenance sidecar. "
                    "Refuses missing, unfinished or overlapping shards and shards made with other settings.")
    parser.add_argument("--output", required=True, help="the --output / --output_*_file the shards were run with")
    parser.add_argument("--manifest_file", required=True, help="the manifest (gives the canonical item order)")
    parser.add_argument("--num_shards", type=_positive_int, default=None, help="N, if shards of several N exist")
    parser.add_argument("--log_level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)

    def merge() -> int:
        ids = [item.id for item in load_manifest(args.manifest_file)]
        merge_shards(args.output, ids, args.num_shards)
        return 0

    return _guarded(merge)


def _chosen(rest: List[str], flag: str) -> Optional[str]:
    """The value of ``flag`` in an argument list, before full parsing (it decides which options exist)."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument(flag)
    return getattr(peek.parse_known_args(rest)[0], flag.lstrip("-"))


@_survives_broken_pipe
def intervene_main(model_key: str, argv: Optional[List[str]] = None) -> int:
    """Entry point of ``interface/<Model>_intervene.py``."""
    from audiofaith.interventions import KINDS

    argv = list(sys.argv[1:] if argv is None else argv)
    kind = _chosen(argv, "--kind")
    args = intervene_parser(model_key, prog=Path(sys.argv[0]).name, kind=kind if kind in KINDS else None).parse_args(argv)
    _setup_logging(args.log_level)
    return _guarded(run_intervene_command, model_key, args)


@_survives_broken_pipe
def main(argv: Optional[List[str]] = None) -> int:
    """``audiofaith <command> ...``: baseline, conditioned, tiny, demo, report, models."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ["baseline", "conditioned", "intervene", "merge", "status", "tiny", "demo", "report", "models"]
    if argv and argv[0] not in commands and argv[0] not in ("-h", "--help"):
        print(f"audiofaith: unknown command {argv[0]!r} (choose from {', '.join(commands)}; see audiofaith --help)",
              file=sys.stderr)
        return 2
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: audiofaith {baseline,conditioned,intervene,merge,status,tiny,demo,report,models} ...\n\n"
              "  baseline     CoT / direct answers for a manifest (see: audiofaith baseline --help)\n"
              "  conditioned  answers read after each run's own injected reasoning\n"
              "  intervene    CoT and audio interventions on baseline runs (--kind, see docs/conditions.md)\n"
              "  merge        join the shard files of --shard K/N runs into one output\n"
              "  status       one line per output file under a folder: progress, errors, status, ETA\n"
              "  tiny         build a tiny random-weight checkpoint of an architecture (tests, smoke checks)\n"
              "  demo         the whole pipeline on a tiny checkpoint and synthetic data (meaningless outputs)\n"
              "  report       tables, plots and statistics from an output folder (see: audiofaith report --help)\n"
              "  models       list the registered models")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command, rest = argv[0], argv[1:]
    if command == "merge":
        return merge_main(rest)
    if command == "status":
        from audiofaith.status import main as status_main

        return status_main(rest)
    if command == "tiny":
        from audiofaith.tiny import main as tiny_main

        return tiny_main(rest)
    if command == "demo":
        from audiofaith.demo import main as demo_main

        return demo_main(rest)
    if command == "report":
        from audiofaith.report import main as report_main

        return report_main(rest)
    if command == "models":
        return models_main(rest)
    model = _chosen(rest, "--model")  # its backend's own options join the parser
    backend_key = model if model in MODELS else None
    if command == "intervene":
        from audiofaith.interventions import KINDS

        kind = _chosen(rest, "--kind")
        parser = intervene_parser(None, prog="audiofaith intervene", backend_key=backend_key,
                                  kind=kind if kind in KINDS else None)
    else:
        parser = (baseline_parser if command == "baseline" else conditioned_parser)(
            None, prog=f"audiofaith {command}", backend_key=backend_key)
    args = parser.parse_args(rest)
    _setup_logging(args.log_level)
    runner = {"baseline": run_baseline_command, "conditioned": run_conditioned_command,
              "intervene": run_intervene_command}[command]
    return _guarded(runner, args.model, args)
