"""The command line's arguments: one argparse parser per command, and the conversion of parsed
arguments into the pipeline's stage configs (``audiofaith.runners.pipeline``). Nothing here runs a stage.
"""

from __future__ import annotations

import argparse
from typing import List, Optional

from audiofaith.backends import MODELS, backend_class, get_spec
from audiofaith.helptext import ArgumentParser, DefaultsHelpFormatter
from audiofaith.runners.pipeline import BaselineStage, ConditionedStage, Hardware, InterventionStage, Selection
from audiofaith.text.protocols import OURS, PROTOCOLS


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _batch_size(text: str):
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}")
    return value


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


def _add_common(parser: argparse.ArgumentParser, model_key: Optional[str], backend_key: Optional[str] = None) -> None:
    group = parser.add_argument_group("model and hardware")
    if model_key is None:
        group.add_argument("--model", required=True, choices=sorted(MODELS), help="model key from the registry")
    default = get_spec(model_key).default_checkpoint if model_key else "the model's hub checkpoint"
    group.add_argument("--model_path", default=None,
                       help=f"hub id or local checkpoint directory (default: {default}); "
                            "a tiny test checkpoint from `python -m audiofaith.checkpoints.tiny` works too")
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
    parser = ArgumentParser(
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
                          "the study's length for the model, e.g. 1024 for Qwen2.5-Omni; with reasoning on a tiny "
                          "test checkpoint, the max_new_tokens of its generation_config.json, 48)")
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
    parser = ArgumentParser(
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


def intervene_parser(model_key: Optional[str] = None, prog: Optional[str] = None,
                     backend_key: Optional[str] = None, kind: Optional[str] = None) -> argparse.ArgumentParser:
    from audiofaith.interventions import KINDS, family

    name = get_spec(model_key).display_name if model_key else "a registered model"
    parser = ArgumentParser(
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
                          "from its .meta.json sidecar, else a tiny test checkpoint's own (48), else 512 with a "
                          "warning; decoded as the baseline's CoT was, its sampler and run seeds read from the same "
                          "sidecar; unused under --protocol paper, whose lengths are the study's)")
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



def merge_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="audiofaith merge",
        description="Merge <stem>.shard-K-of-N<suffix> files (written by runs with --shard K/N) into the requested "
                    "output, in the canonical order a single-process run leaves, with a merged provenance sidecar. "
                    "Refuses missing, unfinished or overlapping shards and shards made with other settings.")
    parser.add_argument("--output", required=True, help="the --output / --output_*_file the shards were run with")
    parser.add_argument("--manifest_file", required=True, help="the manifest (gives the canonical item order)")
    parser.add_argument("--num_shards", type=_positive_int, default=None, help="N, if shards of several N exist")
    parser.add_argument("--log_level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def chosen(rest: List[str], flag: str) -> Optional[str]:
    """The value of ``flag`` in an argument list, before full parsing (it decides which options exist)."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument(flag)
    return getattr(peek.parse_known_args(rest)[0], flag.lstrip("-"))


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(limit=args.limit, sample=args.sample, sample_seed=args.sample_seed, shard=args.shard,
                     retry_errors=args.retry_errors)


def _hardware(args: argparse.Namespace) -> Hardware:
    return Hardware(model_path=args.model_path, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                    max_batch_size=args.max_batch_size, workers=args.workers, backend_options=backend_options(args))


def baseline_stage(model_key: str, args: argparse.Namespace) -> BaselineStage:
    """The stage config of parsed ``baseline_parser`` arguments."""
    return BaselineStage(model=model_key, manifest=args.input, output=args.output, data_root=args.data_root,
                         reasoning=not args.no_reasoning, num_runs=args.num_runs, max_new_tokens=args.max_new_tokens,
                         temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                         letter_logprobs=not args.no_letter_logprobs, protocol=args.protocol,
                         selection=_selection(args), hardware=_hardware(args))


def conditioned_stage(model_key: str, args: argparse.Namespace) -> ConditionedStage:
    """The stage config of parsed ``conditioned_parser`` arguments."""
    return ConditionedStage(model=model_key, manifest=args.manifest_file, baseline=args.input_results_file,
                            output=args.output_conditioned_file, data_root=args.data_root,
                            answer_mode=args.answer_mode, answer_max_new_tokens=args.answer_max_new_tokens,
                            cot_source=args.cot_source, allow_foreign_cot=args.allow_foreign_cot,
                            protocol=args.protocol, selection=_selection(args), hardware=_hardware(args))


def intervention_stage(model_key: str, args: argparse.Namespace) -> InterventionStage:
    """The stage config of parsed ``intervene_parser`` arguments (parsed with ``kind`` given)."""
    options = {name: getattr(args, name) for name in getattr(args, "kind_option_names", [])}
    return InterventionStage(kind=args.kind, model=model_key, manifest=args.manifest_file,
                             baseline=args.input_results_file, output=args.output_file, data_root=args.data_root,
                             options=options, answer_mode=args.answer_mode,
                             answer_max_new_tokens=args.answer_max_new_tokens,
                             cot_max_new_tokens=args.cot_max_new_tokens, seed=args.seed, cot_source=args.cot_source,
                             allow_foreign_cot=args.allow_foreign_cot, protocol=args.protocol,
                             selection=_selection(args), hardware=_hardware(args))
