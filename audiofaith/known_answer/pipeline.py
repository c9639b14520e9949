"""The whole pipeline on one known-answer checkpoint's held-out set, through the same entry points
as the interface scripts (``interface/Qwen2Audio_*.py``): CoT baseline, conditioned step, audio
swap (both modes) and the CoT interventions. Used by ``make demo`` and tests/validation/.
No torch here; the backend loads it when a step runs.
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import List, Optional

from audiofaith.commands import baseline_main, conditioned_main, intervene_main
from audiofaith.known_answer.contrast import REWRITER

log = logging.getLogger(__name__)

MODEL = "qwen2_audio"
#: Interventions run on the held-out set, with the options that differ from their defaults.
#: No espeak-ng is needed: no spoken-answer injection. The audio step puts every variant of an
#: item (its clean clip silenced, and the swap that lends it another clip) in one batch, where an
#: audio loader keyed by item id instead of by file would give the swap the clean clip (a bug
#: the validation suite must catch; docs/validation.md).
INTERVENTIONS = (
    ("audio", ["--perturbations", "silence", "swap", "--modes", "regenerate", "fixed_cot", "--batch_size", "256"]),
    ("early_answering", []),
    ("filler", ["--filler_fractions", "0", "0.5", "1"]),
    ("adding_mistakes", ["--rewriter_model", REWRITER, "--no_continue"]),
    ("paraphrasing", ["--rewriter_model", REWRITER]),
)


def _run(main, script: str, argv: List[str]) -> None:
    log.info("$ python interface/%s %s", script, " ".join(shlex.quote(a) for a in argv))
    if main(MODEL, argv) != 0:
        raise RuntimeError(f"interface/{script} failed")


def run_pipeline(checkpoint: "str | Path", out: "str | Path", max_new_tokens: int = 40, batch_size: int = 16,
                 threads: Optional[int] = 1) -> Path:
    """Run every step on ``checkpoint``'s ``task/heldout_manifest.jsonl``; outputs go under ``out``
    (one folder per checkpoint, as the report expects one model per folder). Returns ``out``.

    ``threads``: torch's CPU threads while it runs (restored after; None: leave as is). These
    models are so small that one thread is fastest; on a shared 2-core machine two threads were
    over ten times slower (measured: early answering 1 vs 14 lines/s)."""
    if threads is None:
        return _run_all(Path(checkpoint), Path(out), max_new_tokens, batch_size)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run_all(Path(checkpoint), Path(out), max_new_tokens, batch_size)
    finally:
        torch.set_num_threads(before)


def _run_all(checkpoint: Path, out: Path, max_new_tokens: int, batch_size: int) -> Path:
    task_dir = checkpoint / "task"
    manifest = task_dir / "heldout_manifest.jsonl"
    common = ["--data_root", str(task_dir), "--model_path", str(checkpoint), "--batch_size", str(batch_size)]
    baseline = out / "baseline_heldout.jsonl"
    _run(baseline_main, "Qwen2Audio_wrapper.py",
         ["--input", str(manifest), "--output", str(baseline), "--max_new_tokens", str(max_new_tokens)] + common)
    _run(conditioned_main, "Qwen2Audio_conditioned.py",
         ["--manifest_file", str(manifest), "--input_results_file", str(baseline),
          "--output_conditioned_file", str(out / "conditioned_heldout.jsonl")] + common)
    for kind, options in INTERVENTIONS:
        _run(intervene_main, "Qwen2Audio_intervene.py",
             ["--kind", kind, "--manifest_file", str(manifest), "--input_results_file", str(baseline),
              "--output_file", str(out / "interventions" / f"{kind}_heldout.jsonl"),
              "--cot_max_new_tokens", str(max_new_tokens)] + common + options)
    return out
