"""The stage commands as a user types them: parse the arguments (``audiofaith.cli.parsers``),
build the stage config, ``audiofaith.runners.pipeline.run_stage`` it; logging, and exit codes (0 done,
2 a problem with what the user gave us, 130 interrupted; any other exception is a bug and keeps
its traceback). ``interface/*`` scripts reach these through ``audiofaith.cli.main``; ``audiofaith.cli.demo``
and the known-answer pipeline call them directly, so the ``audiofaith`` dispatcher
(``audiofaith.cli.main``), which runs the demo, is imported by nothing it imports.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import List, Optional

from audiofaith.cli.parsers import (baseline_parser, baseline_stage, chosen, conditioned_parser, conditioned_stage,
                                    intervene_parser, intervention_stage, merge_parser)
from audiofaith.errors import UserError, disk_full, is_disk_full
from audiofaith.store.manifest import load_manifest
from audiofaith.runners.pipeline import run_stage
from audiofaith.store.sharding import merge_shards

log = logging.getLogger("audiofaith")

#: Only our own input errors exit 2 with a one-line message; anything else is a bug and keeps its traceback.
USER_ERRORS = (UserError,)


def setup_logging(level: str) -> None:
    from audiofaith.progress import log_handler, on_terminal

    if not on_terminal():  # no carriage-return bars from transformers / huggingface_hub in log files either
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # through tqdm on a terminal (lines above the bar), plain lines in files and SLURM logs
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", handlers=[log_handler()])
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def survives_broken_pipe(function):
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


def guarded(function, *args) -> int:
    """``function(*args)``'s exit status; a ``UserError`` is logged on one line and exits 2."""
    try:
        return function(*args)
    except USER_ERRORS as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted; rerun the same command to resume")
        return 130
    except OSError as exc:  # a full disk met outside the writers that say what they kept
        if not is_disk_full(exc):
            raise
        log.error("%s", disk_full(exc.filename or "a file", "every batch written before it is safe"))
        return 2


def run_parsed(stage) -> int:
    """Run a stage config built from the command line; 0 when it finished or had nothing to do."""
    run_stage(stage)
    return 0


@survives_broken_pipe
def baseline_main(model_key: str, argv: Optional[List[str]] = None) -> int:
    """Entry point of ``interface/<Model>_wrapper.py``."""
    args = baseline_parser(model_key, prog=Path(sys.argv[0]).name).parse_args(argv)
    setup_logging(args.log_level)
    return guarded(lambda: run_parsed(baseline_stage(model_key, args)))


@survives_broken_pipe
def conditioned_main(model_key: str, argv: Optional[List[str]] = None) -> int:
    """Entry point of ``interface/<Model>_conditioned.py``."""
    args = conditioned_parser(model_key, prog=Path(sys.argv[0]).name).parse_args(argv)
    setup_logging(args.log_level)
    return guarded(lambda: run_parsed(conditioned_stage(model_key, args)))


@survives_broken_pipe
def intervene_main(model_key: str, argv: Optional[List[str]] = None) -> int:
    """Entry point of ``interface/<Model>_intervene.py``."""
    from audiofaith.interventions import KINDS

    argv = list(sys.argv[1:] if argv is None else argv)
    kind = chosen(argv, "--kind")
    args = intervene_parser(model_key, prog=Path(sys.argv[0]).name, kind=kind if kind in KINDS else None).parse_args(argv)
    setup_logging(args.log_level)
    return guarded(lambda: run_parsed(intervention_stage(model_key, args)))


@survives_broken_pipe
def merge_main(argv: Optional[List[str]] = None) -> int:
    """``audiofaith merge``: join the shard files of one output (from --shard K/N job arrays)."""
    args = merge_parser().parse_args(argv)
    setup_logging(args.log_level)

    def merge() -> int:
        ids = [item.id for item in load_manifest(args.manifest_file)]
        merge_shards(args.output, ids, args.num_shards)
        return 0

    return guarded(merge)
