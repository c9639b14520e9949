#!/usr/bin/env python
"""Write audiofaith manifests for MMAU test-mini or MMAR from the benchmark's metadata file.

Example (from the repository root, metadata and audio downloaded as in docs/benchmarks.md):

    python scripts/prepare_benchmark.py mmau --metadata data/MMAU/mmau-test-mini.json \
        --audio_dir data/MMAU/test-mini-audios --data_root data/ --output_dir processed_input/mmau

writes processed_input/mmau/<task>/mmau_manifest.jsonl (MMAR: processed_input/mmar/<modality>/
mmar_manifest.jsonl), one line per question. See docs/benchmarks.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a checkout without installing the package: put the repository root on the path.
_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

import argparse  # noqa: E402
import logging  # noqa: E402
from typing import List, Optional  # noqa: E402

from audiofaith.benchmarks import BENCHMARKS, get_spec  # noqa: E402
from audiofaith.benchmarks.common import (  # noqa: E402
                                          BenchmarkError, build_benchmark, diff_manifests, summarize, write_manifests,
                                          )
from audiofaith.store.manifest import ManifestError, load_manifest  # noqa: E402

log = logging.getLogger("prepare_benchmark")

DEFAULTS = {
    "mmau": {"metadata": "data/MMAU/mmau-test-mini.json", "audio_dir": "data/MMAU/test-mini-audios"},
    "mmar": {"metadata": "data/MMAR/MMAR-meta.jsonl", "audio_dir": "data/MMAR/audio"},
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prepare_benchmark.py",
        description=(
            "Build audiofaith manifests (JSON Lines, one per subset) from the metadata file of MMAU test-mini "
            "(mmau-test-mini.json; subsets = tasks) or MMAR (MMAR-meta.jsonl; subsets = modalities). The gold "
            "letter is the option whose text equals the answer exactly; options repeated verbatim are merged and "
            "empty options are dropped; every audio file must exist in --audio_dir unless --skip_audio_check."),
        epilog=("Defaults per benchmark: " + "; ".join(
            f"{name}: --metadata {d['metadata']} --audio_dir {d['audio_dir']} --output_dir processed_input/{name}"
            for name, d in DEFAULTS.items()) + ". Format, downloads and quirks: docs/benchmarks.md"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS), help="which benchmark")
    parser.add_argument("--metadata", default=None, help="the benchmark's metadata file (default: see below)")
    parser.add_argument("--audio_dir", default=None,
                        help="the folder holding the audio files named in the metadata (default: see below)")
    parser.add_argument("--data_root", default="data/",
                        help="audio paths in the manifests are relative to this folder, which must contain "
                             "--audio_dir; pass the same --data_root to the model scripts (default: %(default)s)")
    parser.add_argument("--output_dir", default=None,
                        help="where <subset>/<benchmark>_manifest.jsonl are written (default: processed_input/<benchmark>)")
    parser.add_argument("--subsets", nargs="+", default=None, metavar="SUBSET",
                        help="only these subsets (MMAU tasks / MMAR modalities; default: all)")
    parser.add_argument("--skip_audio_check", action="store_true",
                        help="do not check that the audio files exist (a loud warning says so; the model scripts "
                             "still check them before loading a model)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing: compare what would be written with the manifests in --output_dir; "
                             "exit 1 with a summary of the differences when they differ")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    spec = get_spec(args.benchmark)
    metadata = args.metadata or DEFAULTS[spec.name]["metadata"]
    audio_dir = args.audio_dir or DEFAULTS[spec.name]["audio_dir"]
    output_dir = args.output_dir or f"processed_input/{spec.name}"
    try:
        if args.skip_audio_check:
            log.warning("=" * 78)
            log.warning("--skip_audio_check: the audio files in %s were NOT checked; these manifests may name "
                        "audio that does not exist (the model scripts refuse such items before loading)", audio_dir)
            log.warning("=" * 78)
        built = build_benchmark(spec, metadata, audio_dir, args.data_root, args.subsets,
                                require_audio=not args.skip_audio_check)
        total = sum(len(items) for items in built.values())
        merged = sum("source_choices" in item.meta for items in built.values() for item in items)
        if merged:
            log.warning("%d question(s) list an option twice verbatim or an empty option: repeats merged, empty "
                        "options dropped (meta.source_choices keeps the original list)", merged)
        if args.check:
            problems = diff_manifests(built, output_dir, spec.manifest_name)
            if problems:
                log.error("the manifests in %s differ from what %s gives (%d item(s) built):\n%s", output_dir,
                          metadata, total, "\n".join(problems))
                return 1
            log.info("check passed: the %d manifest(s) in %s match %s (%d items)", len(built), output_dir,
                     metadata, total)
            return 0
        written = write_manifests(built, output_dir, spec.manifest_name)
        for subset, path in written.items():
            counts = summarize(load_manifest(path))  # re-read exactly as the model scripts will
            letters = " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if len(k) == 1 and k != "n")
            options = " ".join(f"{k.split()[0]}:{v}" for k, v in sorted(counts.items()) if k.endswith("options"))
            log.info("%-22s %4d items  gold letters: %s  options: %s  -> %s", subset, counts["n"], letters, options, path)
    except (BenchmarkError, ManifestError, OSError) as exc:
        log.error("%s", exc)
        return 1
    log.info("done: %d item(s) in %d manifest(s) under %s (audio relative to --data_root %s)", total,
             len(written), output_dir, args.data_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
