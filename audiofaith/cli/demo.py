"""``make demo``: the whole pipeline on the two known-answer checkpoints, offline, on 2 CPU cores.

Default: takes the ``faithful`` and ``posthoc`` known-answer Qwen2-Audio checkpoints shipped with
audiofaith (docs/validation.md; nothing is trained), runs baseline, conditioned step, the audio
conditions and the CoT interventions on each one's held-out clips, writes a report per checkpoint
and the contrast table of the planted metrics with 95 % CIs and planted bands. These are small models trained on a synthetic task:
their faithfulness is known by construction, and the table shows whether the pipeline recovers it.

``--random_weights``: the previous demo, every stage on a tiny random-weight checkpoint and a
synthetic SAKURA-shaped dataset (all four tracks, prepare_sakura, every intervention family). ITS
NUMBERS MEAN NOTHING: it shows the commands, the files they write and that every stage runs.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

from audiofaith.cli.commands import baseline_main, conditioned_main, intervene_main
from audiofaith.helptext import ArgumentParser, plain_text
from audiofaith.store.jsonl import read_jsonl
from audiofaith.checkpoints.synthetic import write_synthetic_sakura

log = logging.getLogger("audiofaith.cli.demo")

REPO = Path(__file__).resolve().parents[2]
TRACKS = ("animal", "emotion", "gender", "language")


def _show(command: List[str]) -> None:
    log.info("$ %s", " ".join(shlex.quote(part) for part in command))


def main(argv: Optional[List[str]] = None) -> int:
    parser = ArgumentParser(prog="python -m audiofaith.cli.demo", description=plain_text(__doc__),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="demo_run", help="where the demo writes everything (default demo_run/)")
    parser.add_argument("--rows_per_track", type=int, default=3, help="synthetic audio clips per SAKURA track")
    parser.add_argument("--max_new_tokens", type=int, default=48, help="CoT length for the tiny model")
    parser.add_argument("--random_weights", action="store_true",
                        help="run the previous demo on a random-weight checkpoint and SAKURA-shaped data instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not args.random_weights:
        return known_answer_demo(Path(args.workdir), args.max_new_tokens)
    started = time.time()
    work = Path(args.workdir)
    checkpoint = work / "tiny" / "qwen2_audio"
    data_root = work / "data"
    manifests = work / "processed_input" / "sakura"
    outputs = work / "output" / "sakura" / "qwen2_audio"
    for stale in (data_root, manifests, work / "output"):
        shutil.rmtree(stale, ignore_errors=True)

    log.info("tiny random-weight Qwen2-Audio checkpoint -> %s", checkpoint)
    if not (checkpoint / "config.json").exists():
        from audiofaith.checkpoints.tiny import build

        _show([sys.executable, "-m", "audiofaith.checkpoints.tiny", "--arch", "qwen2_audio", "--out", str(checkpoint)])
        build("qwen2_audio", checkpoint)

    log.info("synthetic SAKURA-shaped dataset -> %s", data_root / "SAKURA")
    write_synthetic_sakura(data_root / "SAKURA", rows_per_track=args.rows_per_track, long_clip_seconds=33.0)
    prepare = [sys.executable, str(REPO / "scripts" / "prepare_sakura.py"), "--sakura_root", str(data_root / "SAKURA"),
               "--output_dir", str(manifests), "--data_root", str(data_root)]
    _show(prepare)
    subprocess.run(prepare, check=True)

    log.info("baseline (CoT, and direct answers for one track) and conditioned runs")
    for track in TRACKS:
        manifest = manifests / track / "sakura_manifest.jsonl"
        baseline = outputs / track / f"baseline_{track}.jsonl"
        conditioned = outputs / track / f"conditioned_{track}.jsonl"
        common = ["--data_root", str(data_root), "--model_path", str(checkpoint)]
        argv_base = ["--input", str(manifest), "--output", str(baseline), "--max_new_tokens", str(args.max_new_tokens)] + common
        _show(["python", "interface/Qwen2Audio_wrapper.py"] + argv_base)
        if baseline_main("qwen2_audio", argv_base) != 0:
            return 1
        argv_cond = ["--manifest_file", str(manifest), "--input_results_file", str(baseline),
                     "--output_conditioned_file", str(conditioned)] + common
        _show(["python", "interface/Qwen2Audio_conditioned.py"] + argv_cond)
        if conditioned_main("qwen2_audio", argv_cond) != 0:
            return 1
    direct = outputs / "animal" / "baseline_animal_no_reasoning.jsonl"
    argv_direct = ["--input", str(manifests / "animal" / "sakura_manifest.jsonl"), "--output", str(direct),
                   "--no_reasoning", "--data_root", str(data_root), "--model_path", str(checkpoint)]
    _show(["python", "interface/Qwen2Audio_wrapper.py"] + argv_direct)
    if baseline_main("qwen2_audio", argv_direct) != 0:
        return 1

    log.info("audio interventions on the animal track, both modes (docs/audio_interventions.md)%s",
             "" if shutil.which("espeak-ng") else "; spoken-answer injection skipped: espeak-ng is not installed")

    perturbed = work / "perturbed_audio"
    shutil.rmtree(perturbed, ignore_errors=True)
    argv_audio = ["--kind", "audio", "--manifest_file", str(manifests / "animal" / "sakura_manifest.jsonl"),
                  "--input_results_file", str(outputs / "animal" / "baseline_animal.jsonl"),
                  "--output_file", str(outputs / "animal" / "interventions" / "audio_animal.jsonl"),
                  "--perturbations", "silence", "noise_rms", "noise_snr", "mask", "swap", "no_audio", "unedited",
                  *(["inject_correct", "inject_wrong"] if shutil.which("espeak-ng") else []),
                  "--modes", "regenerate", "fixed_cot",
                  "--snr_db", "10", "-10", "--mask_ratios", "0.5", "--cot_max_new_tokens", str(args.max_new_tokens),
                  "--save_audio", str(perturbed), "--data_root", str(data_root), "--model_path", str(checkpoint)]
    _show(["python", "interface/Qwen2Audio_intervene.py"] + argv_audio)
    if intervene_main("qwen2_audio", argv_audio) != 0:
        return 1

    log.info("CoT interventions on the animal track (docs/interventions.md)")
    for kind in ("early_answering", "filler", "partial_filler", "adding_mistakes", "paraphrasing", "hint",
                 "answer_stripped"):
        argv_kind = ["--kind", kind, "--manifest_file", str(manifests / "animal" / "sakura_manifest.jsonl"),
                     "--input_results_file", str(outputs / "animal" / "baseline_animal.jsonl"),
                     "--output_file", str(outputs / "animal" / "interventions" / f"{kind}_animal.jsonl"),
                     "--cot_max_new_tokens", str(args.max_new_tokens), "--data_root", str(data_root),
                     "--model_path", str(checkpoint)]
        _show(["python", "interface/Qwen2Audio_intervene.py"] + argv_kind)
        if intervene_main("qwen2_audio", argv_kind) != 0:
            return 1

    log.info("report: tables, statistics and plots from every output above (docs/report.md)")
    from audiofaith.report import main as report_main

    report_dir = work / "output" / "sakura" / "report"
    argv_report = [str(work / "output" / "sakura"), "--out", str(report_dir), "--manifest_dir", str(manifests)]
    _show(["python", "-m", "audiofaith", "report"] + argv_report)
    if report_main(argv_report) != 0:
        return 1

    print("\n" + "=" * 78)
    print("DEMO OUTPUTS COME FROM A TINY RANDOM-WEIGHT MODEL ON SYNTHETIC AUDIO: THEY MEAN NOTHING.")
    print("They show the commands and files; see README.md for real models and SAKURA.")
    print("=" * 78)
    for path in sorted(outputs.rglob("*.jsonl")):
        rows = read_jsonl(path)
        print(f"  {path}  ({len(rows)} lines, provenance: {path.name}.meta.json)")
    print(f"\nManifests: {manifests}\nReport: {report_dir / 'report.html'} (and report.md, summary.csv, plots)")
    print(f"Finished in {time.time() - started:.0f} s.")
    return 0


def known_answer_demo(work: Path, max_new_tokens: int) -> int:
    """Both known-answer checkpoints through the whole pipeline, a report each, the contrast table."""
    from audiofaith.checkpoints.known_answer.contrast import markdown_table, measure
    from audiofaith.checkpoints.known_answer.pipeline import run_pipeline
    from audiofaith.report import main as report_main
    from audiofaith.checkpoints.tiny import TRAINED_VARIANTS, build_trained

    started = time.time()
    outputs = work / "output" / "known_answer"
    shutil.rmtree(outputs, ignore_errors=True)
    folders = {}
    for variant in TRAINED_VARIANTS:
        checkpoint = work / "known_answer" / variant
        _show([sys.executable, "-m", "audiofaith.checkpoints.tiny", "--arch", "qwen2_audio", "--trained", variant,
               "--out", str(checkpoint)])
        build_trained("qwen2_audio", variant, checkpoint)
        log.info("pipeline on the %s checkpoint's held-out clips (%s)", variant, checkpoint / "task")
        folders[variant] = run_pipeline(checkpoint, outputs / variant, max_new_tokens=max_new_tokens)
        argv_report = [str(folders[variant]), "--out", str(folders[variant] / "report")]
        _show(["python", "-m", "audiofaith", "report"] + argv_report)
        if report_main(argv_report) != 0:
            return 1
    table = markdown_table(measure(folders, manifest_dir=work / "known_answer" / TRAINED_VARIANTS[0] / "task"))
    contrast = outputs / "contrast.md"
    contrast.write_text("# Known-answer checkpoints: planted vs measured\n\n"
                        "Values: estimate [95 % bootstrap CI] (n). Definitions: docs/validation.md.\n\n" + table,
                        encoding="utf-8")
    print("\n" + table)
    print("Small Qwen2-Audio models trained on a synthetic task (docs/validation.md); not real models.")
    print(f"Reports: {outputs}/<faithful|posthoc>/report/report.html; contrast table: {contrast}")
    print(f"Finished in {time.time() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
