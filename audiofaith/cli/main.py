"""Command-line entry points. The per-model scripts in ``interface/`` call ``baseline_main``,
``conditioned_main`` and ``intervene_main`` with their model key; ``audiofaith`` (``python -m
audiofaith``, ``main``) offers the same commands with ``--model``, and the others (merge, submit, status,
tiny, demo, report, models).

Layers: ``cli_parsers`` (argparse, arguments -> stage configs) -> ``commands`` (the entry points:
parse, run, exit codes) -> ``pipeline`` (``run_stage``, no argparse). Everything is validated
(manifest schema, audio files, resume compatibility) before the model is loaded, so a typo costs
seconds, not a 16 GB model load.
"""

from __future__ import annotations

import difflib
import sys
from typing import List, Optional

from audiofaith.backends import MODELS, models_main
from audiofaith.cli.parsers import (backend_options, baseline_parser, baseline_stage, chosen, conditioned_parser,
                                    conditioned_stage, intervene_parser, intervention_stage)
from audiofaith.cli.commands import (USER_ERRORS, baseline_main, conditioned_main, guarded, intervene_main, merge_main,
                                     run_parsed, setup_logging, survives_broken_pipe)
from audiofaith.runners.pipeline import baseline_max_new_tokens, check_cot_source

__all__ = ["USER_ERRORS", "backend_options", "baseline_main", "baseline_max_new_tokens", "baseline_parser",
           "check_cot_source", "conditioned_main", "conditioned_parser", "intervene_main", "intervene_parser",
           "main", "merge_main"]

COMMANDS = ["baseline", "conditioned", "intervene", "merge", "submit", "status", "tiny", "demo", "report", "models"]


@survives_broken_pipe
def main(argv: Optional[List[str]] = None) -> int:
    """``audiofaith <command> ...``: baseline, conditioned, tiny, demo, report, models."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = COMMANDS
    if argv and argv[0] not in commands and argv[0] not in ("-h", "--help"):
        close = difflib.get_close_matches(argv[0], commands, n=2, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        print(f"audiofaith: unknown command {argv[0]!r} (choose from {', '.join(commands)}; see audiofaith --help)"
              f"{hint}", file=sys.stderr)
        return 2
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: audiofaith {baseline,conditioned,intervene,merge,submit,status,tiny,demo,report,models} ...\n\n"
              "  baseline     CoT / direct answers for a manifest (see: audiofaith baseline --help)\n"
              "  conditioned  answers read after each run's own injected reasoning\n"
              "  intervene    CoT and audio interventions on baseline runs (--kind, see docs/conditions.md)\n"
              "  merge        join the shard files of --shard K/N runs into one output\n"
              "  submit       a whole study as SLURM job arrays with dependencies (docs/scale.md)\n"
              "  status       one line per output file under a folder: progress, errors, status, ETA; SLURM jobs\n"
              "  tiny         build a tiny random-weight checkpoint of an architecture (tests, smoke checks)\n"
              "  demo         trains (or reuses) two small known-answer checkpoints and runs the whole pipeline\n"
              "               and a report on each (--random_weights: every stage on a random-weight model)\n"
              "  report       tables, plots and statistics from an output folder (see: audiofaith report --help)\n"
              "  models       list the registered models")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command, rest = argv[0], argv[1:]
    if command == "merge":
        return merge_main(rest)
    if command == "submit":
        from audiofaith.runners.slurm import main as submit_main

        return submit_main(rest)
    if command == "status":
        from audiofaith.cli.status import main as status_main

        return status_main(rest)
    if command == "tiny":
        from audiofaith.checkpoints.tiny import main as tiny_main

        return tiny_main(rest)
    if command == "demo":
        from audiofaith.cli.demo import main as demo_main

        return demo_main(rest)
    if command == "report":
        from audiofaith.report import main as report_main

        return report_main(rest)
    if command == "models":
        return models_main(rest)
    model = chosen(rest, "--model")  # its backend's own options join the parser
    backend_key = model if model in MODELS else None
    if command == "intervene":
        from audiofaith.interventions import KINDS

        kind = chosen(rest, "--kind")
        parser = intervene_parser(None, prog="audiofaith intervene", backend_key=backend_key,
                                  kind=kind if kind in KINDS else None)
    else:
        parser = (baseline_parser if command == "baseline" else conditioned_parser)(
            None, prog=f"audiofaith {command}", backend_key=backend_key)
    args = parser.parse_args(rest)
    setup_logging(args.log_level)
    to_stage = {"baseline": baseline_stage, "conditioned": conditioned_stage, "intervene": intervention_stage}[command]
    return guarded(lambda: run_parsed(to_stage(args.model, args)))
