"""The whole pipeline on one known-answer checkpoint's held-out set, through the same entry points
as the interface scripts (``interface/Qwen2Audio_*.py``): CoT baseline, conditioned step, audio
conditions (swap in both modes; silence, no audio, noise and a full mask with the clean CoT), the
CoT interventions, early answering again with the answer generated and parsed, and a second
baseline with two sampled runs per item and its conditioned and early-answering steps. Used by
``make demo`` and tests/validation/. No torch here; the backend loads it when a step runs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
from pathlib import Path
from typing import List, Optional

from audiofaith.cli.commands import baseline_main, conditioned_main, intervene_main
from audiofaith.store.jsonl import read_jsonl, write_jsonl
from audiofaith.store.manifest import load_manifest, write_manifest
from audiofaith.store.provenance import sidecar_path
from audiofaith.store.records import BaselineRecord, ManifestItem
from audiofaith.checkpoints.known_answer.contrast import REWRITER

log = logging.getLogger(__name__)

MODEL = "qwen2_audio"
#: Interventions run on the held-out set, with the options that differ from their defaults.
#: No espeak-ng is needed: no spoken-answer injection. The audio step puts every variant of an
#: item (its clean clip silenced, and the swap that lends it another clip) in one batch, where an
#: audio loader keyed by item id instead of by file would give the swap the clean clip (a bug
#: the validation suite must catch; docs/validation.md).
#: (output file stem, kind, options).
INTERVENTIONS = (
    ("audio", "audio", ["--perturbations", "silence", "swap", "--modes", "regenerate", "fixed_cot",
                        "--batch_size", "256"]),
    # the clean CoT with audio that has no call (planted: faithful follows the CoT, posthoc has no
    # answer), and with noise at an SNR inside the training range (planted: both keep their answer)
    ("audio_fixed_cot", "audio", ["--perturbations", "no_audio", "noise_rms", "noise_snr", "mask",
                                  "--modes", "fixed_cot", "--snr_db", "20", "--mask_ratios", "1"]),
    ("early_answering", "early_answering", []),
    ("filler", "filler", ["--filler_fractions", "0", "0.5", "1"]),
    ("adding_mistakes", "adding_mistakes", ["--rewriter_model", REWRITER, "--no_continue"]),
    ("paraphrasing", "paraphrasing", ["--rewriter_model", REWRITER]),
)
#: The other sets, each in a folder of its own beside ``out`` (``<out>.<name>``: the report keeps
#: read-outs and baselines apart by folder): (name, baseline options or None to reuse the main
#: baseline, answer options of the conditioned step and the interventions, interventions).
#: ``generate``: the answer generated and parsed instead of read from the letter log-probabilities.
EXTRA_SETS = (
    ("generate", None, ["--answer_mode", "generate"], (("early_answering", "early_answering", []),)),
)
#: ``runs2``: a baseline with two runs per item whose CoTs name different classes, for the steps
#: that must pair each run with its own CoT (a run-index mix-up is invisible when runs agree, and
#: sampled runs of these models nearly always do). Run 0 is the main baseline; run 1 is the
#: model's own greedy baseline while it heard the next held-out clip (the next class), so its CoT
#: names that class and its letters were read after it. Planted: faithful answers each run's own
#: CoT (agreement 1 in both runs); posthoc answers the clip (run 0 agrees, run 1 never does).
RUNS2 = "runs2"
RUNS2_INTERVENTIONS = (("early_answering", "early_answering", []),)


def set_folders(out: "str | Path") -> dict:
    """{set name: output folder} of ``run_pipeline(..., out)``: "main" is ``out``."""
    out = Path(out)
    names = [name for name, *_ in EXTRA_SETS] + [RUNS2]
    return {"main": out, **{name: out.with_name(f"{out.name}.{name}") for name in names}}


def lend_next_clip(items: List[ManifestItem]) -> List[ManifestItem]:
    """Each item with the audio of the next item in the list (the held-out classes cycle, so the
    next item's clip is of the next class)."""
    return [dataclasses.replace(item, audio=items[(index + 1) % len(items)].audio) for index, item in enumerate(items)]


def two_run_baseline(first: Path, second: Path, out: Path) -> Path:
    """Write ``out``: each item of the baseline file ``first`` with the run of ``second`` appended
    as its run 1 (both one-run baselines of the same items, in the same order)."""
    pairs = zip(read_jsonl(first), read_jsonl(second))
    records = []
    for number, (a, b) in enumerate(pairs, 1):
        one, other = BaselineRecord.from_json(a, f"{first}:{number}"), BaselineRecord.from_json(b, f"{second}:{number}")
        if one.id != other.id:
            raise ValueError(f"{first}:{number} and {second}:{number} hold different items ({one.id}, {other.id})")
        joined = {name: getattr(one, name) + getattr(other, name) for name in
                  ("runs_reasonings", "runs_raw", "runs_predictions", "runs_correct", "runs_letter_logprobs",
                   "runs_finish_reasons")}
        records.append(dataclasses.replace(one, **joined).to_json())
    write_jsonl(out, records)
    # provenance: both runs were decoded as the first file's sidecar says (greedy); say how they were joined
    meta = json.loads(sidecar_path(first).read_text(encoding="utf-8"))
    meta["two_run_baseline"] = {"run 0": str(first), "run 1": str(second),
                                "how": "run 1 is the model's own baseline while it heard another clip"}
    sidecar_path(out).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out


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
    main_baseline = _run_set(checkpoint, out, max_new_tokens, batch_size, [], [], INTERVENTIONS, None)
    folders = set_folders(out)
    for name, baseline_options, answer_options, interventions in EXTRA_SETS:
        _run_set(checkpoint, folders[name], max_new_tokens, batch_size, baseline_options or [], answer_options,
                 interventions, None if baseline_options is not None else main_baseline)
    runs2 = folders[RUNS2]
    lent_folder = out.with_name(f"{out.name}.lent_clips")  # apart: its ids are the held-out set's
    lent_manifest = lent_folder / "heldout_manifest.jsonl"
    write_manifest(lent_manifest, lend_next_clip(load_manifest(checkpoint / "task" / "heldout_manifest.jsonl")))
    lent = _run_set(checkpoint, lent_folder, max_new_tokens, batch_size, [], [], (), None,
                    manifest=lent_manifest, conditioned=False)
    baseline = two_run_baseline(main_baseline, lent, runs2 / "baseline_heldout.jsonl")
    _run_set(checkpoint, runs2, max_new_tokens, batch_size, [], [], RUNS2_INTERVENTIONS, baseline)
    return out


def _without_option(argv: List[str], flag: str) -> List[str]:
    """``argv`` without ``flag`` and its value (a step that sets its own value passes it once)."""
    index = argv.index(flag)
    return argv[:index] + argv[index + 2:]


def _run_set(checkpoint: Path, out: Path, max_new_tokens: int, batch_size: int, baseline_options: List[str],
             answer_options: List[str], interventions, baseline: Optional[Path], manifest: Optional[Path] = None,
             conditioned: bool = True) -> Path:
    """One set: its own baseline (unless ``baseline`` is given), the conditioned step and the
    ``interventions``; returns the baseline file."""
    task_dir = checkpoint / "task"
    manifest = manifest or task_dir / "heldout_manifest.jsonl"
    common = ["--data_root", str(task_dir), "--model_path", str(checkpoint), "--batch_size", str(batch_size)]
    if baseline is None:
        baseline = out / "baseline_heldout.jsonl"
        _run(baseline_main, "Qwen2Audio_wrapper.py",
             ["--input", str(manifest), "--output", str(baseline), "--max_new_tokens", str(max_new_tokens)]
             + common + baseline_options)
    if conditioned:
        _run(conditioned_main, "Qwen2Audio_conditioned.py",
             ["--manifest_file", str(manifest), "--input_results_file", str(baseline),
              "--output_conditioned_file", str(out / "conditioned_heldout.jsonl")] + common + answer_options)
    for stem, kind, options in interventions:
        shared = _without_option(common, "--batch_size") if "--batch_size" in options else common
        _run(intervene_main, "Qwen2Audio_intervene.py",
             ["--kind", kind, "--manifest_file", str(manifest), "--input_results_file", str(baseline),
              "--output_file", str(out / "interventions" / f"{stem}_heldout.jsonl"),
              "--cot_max_new_tokens", str(max_new_tokens)] + shared + answer_options + options)
    return baseline
