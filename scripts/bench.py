#!/usr/bin/env python
"""Throughput benchmark: every figure is a ratio (or a rate) measured in this one run.

    python scripts/bench.py                 # CPU, tiny random-weight Qwen2-Audio (`make bench`)
    python scripts/bench.py --full_size     # GPU: full-size random-weight models built from configs

CPU mode reports, on the same items and the same tiny checkpoint:
  batched_speedup       baseline runner items/s at --batch_size ÷ at batch size 1
  runner_efficiency     baseline runner items/s ÷ raw processor + model.generate items/s on the same batches
  scoring_speedup       conditioned step: letter scoring items/s ÷ answer generation items/s (same batch size)
  seed_style_speedup    batched letter scoring ÷ one-at-a-time answer generation (what the seed scripts did)
  prefix_cache_speedup  early answering with the shared-prefix cache ÷ without it

--full_size builds each architecture at its real size from a config (no download; random bf16
weights) and reports generation tokens/s per batch size, scoring items/s, the runner's efficiency
and a projection for the SAKURA baseline (4000 items, 256-token CoTs). Random weights make the
text meaningless; only speed is measured.

--report_lines N times the report instead (no model): synthetic study-like result files
(``audiofaith.checkpoints.synthetic_outputs``: every line kind, two models, two runs) replicated with fresh ids
to at least N lines, then
  report_lines_per_s    lines ÷ the wall time of ``python -m audiofaith report`` on them (plots included)
  report_json_ratio     that time ÷ the time to parse the same lines with ``json.loads``
  report_cpu_json_ratio the same with CPU times (steadier on a shared machine); the report's CPU time
                        (cpu_seconds.report) is its own process's plus its children's: the plot worker
                        draws the PNGs in a process of its own (cpu_seconds.report_main, .report_children)
  report_peak_mb        the report process's peak resident memory
  report_children_peak_mb  the largest child's (the plot worker's) peak resident memory
  report_peak_sum_mb    the two added: an upper bound on the report's peak, both processes together
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from audiofaith.backends import GenerationSettings, ModelInput, get_profile, load_backend  # noqa: E402
from audiofaith.interventions import InterventionContext  # noqa: E402
from audiofaith.interventions import early_answering  # noqa: E402
from audiofaith.store.manifest import load_manifest  # noqa: E402
from audiofaith.store.records import BaselineRecord  # noqa: E402
from audiofaith.runners.baseline import BaselineConfig, run_baseline  # noqa: E402
from audiofaith.runners.common import AudioCache, batches, sort_longest_first  # noqa: E402
from audiofaith.runners.conditioned import conditioned_variants  # noqa: E402
from audiofaith.runners.variants import VariantConfig, run_variants  # noqa: E402
from audiofaith.text.prompts import user_text  # noqa: E402
from audiofaith.benchmarks.sakura import prepare_sakura  # noqa: E402
from audiofaith.checkpoints.synthetic import write_synthetic_sakura  # noqa: E402
from audiofaith.checkpoints.synthetic_outputs import replicate_outputs, write_synthetic_outputs  # noqa: E402
from audiofaith.checkpoints.tiny import build  # noqa: E402

log = logging.getLogger("bench")

# A realistic 6-sentence chain of thought (~90 words): the text only sets lengths.
REASONING = (
    "The recording starts with a short, sharp sound that repeats about twice per second. "
    "Its pitch is fairly low and it has a rough, noisy texture. "
    "Crows caw with a harsher and higher call, and roosters crow in a long rising phrase. "
    "Cows produce a long, low moo rather than short repeated bursts. "
    "A dog's bark matches the short, repeated and rough bursts heard here. "
    "So the animal in the audio is most likely the dog."
)

# Real sizes of the 7B-class language models and audio encoders (random weights, no download).
FULL_SIZE = {
    "qwen2_audio": {
        "text_config": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                            num_key_value_heads=32, vocab_size=156032, max_position_embeddings=8192),
        "audio_config": dict(d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120),
    },
    "af3": {
        "text_config": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                            num_key_value_heads=4, vocab_size=151672, max_position_embeddings=32768),
        "audio_config": dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=20, intermediate_size=5120),
    },
    "qwen_omni": {
        "text_config": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                            num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768),
        "audio_config": dict(d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
                             output_dim=3584),
        "vision_config": dict(depth=2, embed_dim=1280, hidden_size=1280, out_hidden_size=3584, num_heads=16),
    },
}


def timed(call: Callable[[], Any], device: str) -> float:
    """Wall-clock seconds of ``call`` (CUDA synchronised)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    call()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def synthetic_items(workdir: Path, n_items: int, clip_seconds: float = 0.0):
    """``n_items`` SAKURA-shaped Animal items (half single-, half multi-hop) on synthetic audio."""
    root = workdir / "data"
    write_synthetic_sakura(root / "SAKURA", rows_per_track=max(1, (n_items + 1) // 2), seed=1,
                           clip_seconds=clip_seconds or None)
    manifests = prepare_sakura(root / "SAKURA", workdir / "manifests", root, tracks=["animal"])
    return load_manifest(manifests["animal"])[:n_items], root


def synthetic_baseline(items, model_key: str) -> List[BaselineRecord]:
    return [BaselineRecord(id=i.id, model=model_key, prompt_mode="cot", answer=i.answer, subset=i.subset, hop=i.hop,
                           runs_reasonings=[REASONING], runs_raw=[REASONING + "\nAnswer: (A)"],
                           runs_predictions=["A"], runs_correct=[i.answer == "A"]) for i in items]


def raw_generate_seconds(backend, items, data_root, batch_size: int, settings: GenerationSettings,
                         profile, device: str) -> float:
    """Processor + ``model.generate`` on the runner's batches (audio decoded beforehand)."""
    cache = AudioCache(data_root, backend.max_audio_seconds, backend.key)
    ordered = sort_longest_first(items, lambda item: cache.duration(item) * 1000 + len(user_text(item, "cot", profile)))
    prepared = [[ModelInput(user_text(item, "cot", profile), cache.load(item).audio.samples) for item in batch]
                for batch in batches(ordered, batch_size)]
    config = backend._generation_config(settings)

    def run() -> None:
        for inputs in prepared:
            backend.model.generate(**backend.encode(inputs), **backend.generate_kwargs(), generation_config=config)

    return timed(run, device)


def runner_seconds(backend, items, data_root, out: Path, config: BaselineConfig, profile, device: str) -> float:
    if out.exists():
        out.unlink()
    return timed(lambda: run_baseline(backend, items, data_root, out, config, profile), device)


def variants_seconds(backend, variants, data_root, out: Path, config: VariantConfig, profile, device: str) -> float:
    if out.exists():
        out.unlink()
    return timed(lambda: run_variants(backend, variants, data_root, out, config, profile), device)


def cpu_bench(args: argparse.Namespace, workdir: Path) -> Dict[str, Any]:
    key = "qwen2_audio"
    checkpoint = build(key, workdir / "tiny")
    items, data_root = synthetic_items(workdir, args.items)
    backend = load_backend(key, str(checkpoint), device=args.device)
    profile = get_profile(key)
    device = backend.device
    # Random weights may emit the end-of-turn token at any step; without a stop token every
    # generation runs exactly the requested length, so runs compare like for like.
    backend._generation_defaults.eos_token_id = None
    n, size, tokens = len(items), args.batch_size, args.new_tokens
    backend.generate([ModelInput("warm up", None)], GenerationSettings(max_new_tokens=2))
    log.info("tiny %s on %s: %d items, batch size %d, %d new tokens", key, device, n, size, tokens)

    base = BaselineConfig(model_key=key, batch_size=size, max_new_tokens=tokens, letter_logprobs=False)
    one = BaselineConfig(model_key=key, batch_size=1, max_new_tokens=tokens, letter_logprobs=False)
    t_batched = runner_seconds(backend, items, data_root, workdir / "b.jsonl", base, profile, device)
    t_single = runner_seconds(backend, items, data_root, workdir / "b1.jsonl", one, profile, device)
    t_raw = raw_generate_seconds(backend, items, data_root, size, GenerationSettings(max_new_tokens=tokens), profile,
                                 device)
    log.info("baseline runner: %.2f items/s at batch %d, %.2f at batch 1; raw generate %.2f items/s",
             n / t_batched, size, n / t_single, n / t_raw)

    results = synthetic_baseline(items, key)
    conditioned = conditioned_variants(results, items)
    score = VariantConfig(model_key=key, batch_size=size, answer_mode="logits")
    generate = VariantConfig(model_key=key, batch_size=size, answer_mode="generate", answer_max_new_tokens=20)
    generate_one = VariantConfig(model_key=key, batch_size=1, answer_mode="generate", answer_max_new_tokens=20)
    t_score = variants_seconds(backend, conditioned, data_root, workdir / "c.jsonl", score, profile, device)
    t_gen = variants_seconds(backend, conditioned, data_root, workdir / "g.jsonl", generate, profile, device)
    t_gen_one = variants_seconds(backend, conditioned, data_root, workdir / "g1.jsonl", generate_one, profile, device)
    log.info("conditioned: scoring %.2f items/s, generating 20 tokens %.2f items/s (%.2f at batch 1)",
             n / t_score, n / t_gen, n / t_gen_one)

    context = InterventionContext(items=items, results=results, profile=profile, options={}, backend=backend,
                                  model_key=key)
    early = early_answering.build_variants(context)
    early_config = VariantConfig(model_key=key, batch_size=size, answer_mode="logits")
    backend.prefix_cache = True
    t_cached = variants_seconds(backend, early, data_root, workdir / "e1.jsonl", early_config, profile, device)
    backend.prefix_cache = False
    t_uncached = variants_seconds(backend, early, data_root, workdir / "e0.jsonl", early_config, profile, device)
    backend.prefix_cache = True
    log.info("early answering (%d variants): %.2f lines/s with the prefix cache, %.2f without",
             len(early), len(early) / t_cached, len(early) / t_uncached)
    return {
        "mode": "cpu-tiny", "device": device, "items": n, "batch_size": size, "new_tokens": tokens,
        "batched_speedup": round(t_single / t_batched, 3),
        "runner_efficiency": round(t_raw / t_batched, 3),
        "scoring_speedup": round(t_gen / t_score, 3),
        "seed_style_speedup": round(t_gen_one / t_score, 3),
        "prefix_cache_speedup": round(t_uncached / t_cached, 3),
        "seconds": {"runner_batched": round(t_batched, 3), "runner_batch1": round(t_single, 3),
                    "raw_generate": round(t_raw, 3), "score": round(t_score, 3), "generate_answer": round(t_gen, 3),
                    "generate_answer_batch1": round(t_gen_one, 3), "early_cached": round(t_cached, 3),
                    "early_uncached": round(t_uncached, 3)},
    }


def json_parse_seconds(root: Path) -> Tuple[float, float]:
    """(wall, CPU) seconds to read every result file under ``root`` and parse each of its lines with
    ``json.loads``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    for path in sorted(root.rglob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for text in handle:
                json.loads(text)
    return time.perf_counter() - start, time.process_time() - start_cpu


#: ``python -m audiofaith report ...`` in a process that reports last its own CPU time and peak
#: resident memory, then its children's (the plot worker's, once the report has waited for it).
REPORT_PROCESS = ("import resource, sys\nfrom audiofaith.cli.main import main\ncode = main(sys.argv[1:])\n"
                  "own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, "
                  "resource.RUSAGE_CHILDREN))\n"
                  "print('cpu_s', own.ru_utime + own.ru_stime, 'peak_kb', own.ru_maxrss, 'children_cpu_s', "
                  "children.ru_utime + children.ru_stime, 'children_peak_kb', children.ru_maxrss, file=sys.stderr)\n"
                  "sys.exit(code)")


def report_bench(args: argparse.Namespace, workdir: Path) -> Dict[str, Any]:
    """The report's throughput on ``args.report_lines`` synthetic lines, against parsing them as JSON."""
    base, outputs = workdir / "base", workdir / "output"
    write_synthetic_outputs(base, n_clips=40, runs=2, seed=0)
    lines = replicate_outputs(base, outputs, args.report_lines)
    parse, parse_cpu = json_parse_seconds(outputs)
    command = [sys.executable, "-c", REPORT_PROCESS, "report", str(outputs), "--out", str(workdir / "report"),
               "--manifest_dir", str(workdir / "no_manifests"), "--log_level", "warning"]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"the report failed: {done.stderr[-2000:]}")
    _, own_cpu, _, peak_kb, _, children_cpu, _, children_peak_kb = done.stderr.strip().splitlines()[-1].split()
    cpu = float(own_cpu) + float(children_cpu)
    peak_mb, children_peak_mb = int(peak_kb) / 1024, int(children_peak_kb) / 1024  # kB on Linux
    return {"mode": "report", "lines": lines, "seconds": {"report": round(seconds, 3), "json_parse": round(parse, 3)},
            "cpu_seconds": {"report": round(cpu, 3), "report_main": round(float(own_cpu), 3),
                            "report_children": round(float(children_cpu), 3), "json_parse": round(parse_cpu, 3)},
            "report_lines_per_s": round(lines / seconds), "report_json_ratio": round(seconds / parse, 2),
            "report_cpu_json_ratio": round(cpu / parse_cpu, 2), "report_peak_mb": round(peak_mb),
            "report_children_peak_mb": round(children_peak_mb),
            "report_peak_sum_mb": round(peak_mb + children_peak_mb)}


def shrunk(sizes: Dict[str, Dict[str, int]], divisor: int = 8) -> Dict[str, Dict[str, int]]:
    """The same architecture with widths ÷ ``divisor`` and one layer: for checking this script's
    full-size code path on a CPU, never for reported figures."""
    layer_keys = {"num_hidden_layers", "encoder_layers", "depth"}
    width_keys = {"hidden_size", "intermediate_size", "d_model", "encoder_ffn_dim", "output_dim", "embed_dim",
                  "out_hidden_size"}
    return {part: {k: 1 if k in layer_keys else v // divisor if k in width_keys else v for k, v in values.items()}
            for part, values in sizes.items()}


def full_size_backend(key: str, workdir: Path, device: str, shrink: bool = False):
    """The tiny checkpoint's backend (processor, toy tokenizer) with its model swapped for a
    full-size random-weight one built from the tiny config with real sizes."""
    import torch

    backend = load_backend(key, str(build(key, workdir / f"tiny_{key}")), device=device, dtype="bf16")
    config = backend.model.config.to_dict()
    sizes = shrunk(FULL_SIZE[key]) if shrink else FULL_SIZE[key]
    for part, values in sizes.items():
        config[part].update(values)
        config[part].pop("layer_types", None)  # derived from the layer count
    if key == "qwen_omni":  # multimodal rotary sections must sum to head_dim / 2 (64 at full size)
        head_dim = sizes["text_config"]["hidden_size"] // sizes["text_config"]["num_attention_heads"]
        config["text_config"]["rope_parameters"]["mrope_section"] = [head_dim // 8, 3 * head_dim // 16,
                                                                     3 * head_dim // 16]
    full_config = type(backend.model.config).from_dict(config)
    torch.manual_seed(0)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # build in bf16 directly: half the memory and init time
    try:
        with torch.device(device):
            model = type(backend.model)(full_config).eval()
    finally:
        torch.set_default_dtype(default_dtype)
    backend.model = model
    backend.dtype = torch.bfloat16
    backend._generation_defaults = copy.deepcopy(model.generation_config)
    backend._generation_defaults.pad_token_id = backend.tokenizer.pad_token_id
    backend._generation_defaults.eos_token_id = None  # random weights: always the requested length
    params = sum(p.numel() for p in model.parameters()) / 1e9
    log.info("%s: full-size random-weight model with %.2f B parameters on %s", key, params, device)
    return backend, params


def full_bench(args: argparse.Namespace, workdir: Path) -> Dict[str, Any]:
    import torch

    device = "cuda" if torch.cuda.is_available() else args.device
    items, data_root = synthetic_items(workdir, max(args.full_batch_sizes) , clip_seconds=10.0)
    report: Dict[str, Any] = {"mode": "full-size-shrunk-check" if args.shrink else "full-size", "device": torch.cuda.get_device_name(0) if device == "cuda" else device,
                              "new_tokens": args.new_tokens, "audio_seconds": 10.0, "models": {}}
    for key in args.models:
        backend, params = full_size_backend(key, workdir, device, shrink=args.shrink)
        profile = get_profile(key)
        cache = AudioCache(data_root, backend.max_audio_seconds, key)
        inputs = [ModelInput(user_text(item, "cot", profile), cache.load(item).audio.samples) for item in items]
        forced = GenerationSettings(max_new_tokens=args.new_tokens)
        config = backend._generation_config(forced)
        config.update(min_new_tokens=args.new_tokens)  # random weights: never stop early
        backend.generate(inputs[:2], GenerationSettings(max_new_tokens=4))  # warm-up
        model_report: Dict[str, Any] = {"parameters_b": round(params, 2), "generate_tokens_per_s": {}}
        for size in args.full_batch_sizes:
            batch = inputs[:size]
            tokens = args.new_tokens if size > 1 else min(args.new_tokens, 32)
            run_config = copy.deepcopy(config)
            run_config.update(max_new_tokens=tokens, min_new_tokens=tokens)
            try:
                seconds = timed(lambda: backend.model.generate(**backend.encode(batch), **backend.generate_kwargs(),
                                                               generation_config=run_config), device)
            except torch.cuda.OutOfMemoryError:
                log.warning("%s: out of memory at batch %d", key, size)
                torch.cuda.empty_cache()
                model_report["generate_tokens_per_s"][str(size)] = "oom"
                continue
            model_report["generate_tokens_per_s"][str(size)] = round(size * tokens / seconds, 1)
            log.info("%s: batch %d generates %.1f tokens/s", key, size, size * tokens / seconds)
        scoring = [ModelInput(inp.user_text, inp.audio, REASONING * 3 + "\n\nAnswer: (") for inp in inputs[:32]]
        backend.score_letters(scoring[:2], [list("ABCD")] * 2)
        seconds = timed(lambda: backend.score_letters(scoring, [list("ABCD")] * len(scoring)), device)
        model_report["score_items_per_s_batch32"] = round(len(scoring) / seconds, 1)
        log.info("%s: scoring %.1f items/s at batch 32", key, len(scoring) / seconds)
        if device.startswith("cuda"):  # the same, with the log-mel features computed on the CPU
            backend.features_on_device = False
            cpu_seconds = timed(lambda: backend.score_letters(scoring, [list("ABCD")] * len(scoring)), device)
            backend.features_on_device = True
            model_report["score_items_per_s_batch32_cpu_features"] = round(len(scoring) / cpu_seconds, 1)
            log.info("%s: scoring %.1f items/s with features on the CPU", key, len(scoring) / cpu_seconds)
        if key == args.models[0] and args.runner_items > 0:
            size = args.runner_batch_size
            subset = items[: args.runner_items]
            base = BaselineConfig(model_key=key, batch_size=size, max_new_tokens=args.new_tokens, letter_logprobs=False)
            t_runner = runner_seconds(backend, subset, data_root, workdir / f"r_{key}.jsonl", base, profile, device)
            t_raw = raw_generate_seconds(backend, subset, data_root, size, GenerationSettings(max_new_tokens=args.new_tokens),
                                         profile, device)
            model_report["runner_efficiency"] = round(t_raw / t_runner, 3)
            log.info("%s: runner %.2f items/s vs raw generate %.2f items/s at batch %d", key, len(subset) / t_runner,
                     len(subset) / t_raw, size)
        rates = [v for v in model_report["generate_tokens_per_s"].values() if isinstance(v, float)]
        if rates:
            best = max(rates)
            minutes = (4000 * 256 / best + 4000 / model_report["score_items_per_s_batch32"]) / 60
            model_report["sakura_baseline_projected_minutes"] = round(minutes, 1)
        report["models"][key] = model_report
        if args.out:  # keep what is measured so far, should a later model fail or time run out
            Path(args.out).write_text(json.dumps(report) + "\n")
        backend = None  # release the model before the next one is built
        torch.cuda.empty_cache()
    first = report["models"][args.models[0]]
    rates = first["generate_tokens_per_s"]
    numeric = {int(k): v for k, v in rates.items() if isinstance(v, float)}
    if 1 in numeric and len(numeric) > 1:  # generation tokens/s at the largest batch ÷ at batch 1
        report["batched_speedup"] = round(max(numeric.values()) / numeric[1], 1)
    report["runner_efficiency"] = first.get("runner_efficiency")
    return report


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full_size", action="store_true", help="full-size random-weight models (needs a GPU)")
    parser.add_argument("--items", type=int, default=24, help="CPU mode: synthetic items")
    parser.add_argument("--batch_size", type=int, default=8, help="CPU mode: batch size compared with 1")
    parser.add_argument("--new_tokens", type=int, default=None, help="generated tokens (CPU 32, full size 128)")
    parser.add_argument("--models", nargs="+", default=["qwen2_audio", "af3", "qwen_omni"], help="full-size models")
    parser.add_argument("--full_batch_sizes", type=int, nargs="+", default=[1, 32, 128, 256],
                        help="with --full_size: batch sizes to time (out-of-memory sizes are reported as such)")
    parser.add_argument("--runner_batch_size", type=int, default=32, help="with --full_size: runner vs raw batch size")
    parser.add_argument("--runner_items", type=int, default=64, help="with --full_size: items for runner vs raw")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--shrink", action="store_true",
                        help="with --full_size: widths ÷ 8 and one layer, to check the code path on a CPU (no figures)")
    parser.add_argument("--report_lines", type=int, default=None,
                        help="time the report (no model) on at least this many synthetic result lines")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    args.new_tokens = args.new_tokens or (128 if args.full_size else 32)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("audiofaith", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="audiofaith-bench-") as scratch:
        if args.report_lines:
            result = report_bench(args, Path(scratch))
        else:
            result = (full_bench if args.full_size else cpu_bench)(args, Path(scratch))
    line = json.dumps(result)
    if args.out:
        Path(args.out).write_text(line + "\n")
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
