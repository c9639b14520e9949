#!/usr/bin/env python
"""Write audiofaith manifests for the SAKURA benchmark from a local clone.

Example (from the repository root, after `git clone https://github.com/ckyang1124/SAKURA data/SAKURA`):

    python scripts/prepare_sakura.py

writes processed_input/sakura/{animal,emotion,gender,language}/sakura_manifest.jsonl, one line per
question (500 audio files x single/multi hop = 1000 lines per track). See docs/sakura.md.
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
import tempfile  # noqa: E402
from typing import Dict, List, Optional  # noqa: E402

from audiofaith.store.jsonl import read_jsonl  # noqa: E402
from audiofaith.store.manifest import ManifestError, load_manifest  # noqa: E402
from audiofaith.benchmarks.sakura import (  # noqa: E402
                                          CLONE_HINT, METADATA_SOURCES, TRACKS, SakuraError, prepare_sakura, summarize,
                                          )

log = logging.getLogger("prepare_sakura")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prepare_sakura.py",
        description=(
            "Build audiofaith manifests (JSON Lines) from a local clone of the SAKURA benchmark. "
            "Each track's metadata row gives two questions (single-hop and multi-hop); the options "
            "and the gold letter are parsed from the instruction and answer text and checked "
            "against each other, and every audio file must exist."),
        epilog=(f"Get the data first:  {CLONE_HINT}\n"
                "Output: <output_dir>/<track>/sakura_manifest.jsonl (ids sakura/<track>/<hop>/<file stem>; "
                "audio paths relative to --data_root). Format and quirks: docs/sakura.md"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sakura_root", default="data/SAKURA",
                        help="the SAKURA clone (the folder holding data/<Track>/) (default: %(default)s)")
    parser.add_argument("--output_dir", default="processed_input/sakura",
                        help="where <track>/sakura_manifest.jsonl are written (default: %(default)s)")
    parser.add_argument("--data_root", default="data/",
                        help="audio paths in the manifests are relative to this folder, which must "
                             "contain --sakura_root; pass the same --data_root to the model scripts "
                             "(default: %(default)s)")
    parser.add_argument("--tracks", nargs="+", default=list(TRACKS), choices=list(TRACKS), metavar="TRACK",
                        help=f"tracks to prepare, from: {' '.join(TRACKS)} (default: all)")
    parser.add_argument("--metadata", default="auto", choices=METADATA_SOURCES,
                        help="read metadata.json, metadata.csv, or auto: the JSON when present, else the "
                             "CSV (default: %(default)s)")
    parser.add_argument("--no_cross_check", dest="cross_check", action="store_false",
                        help="when a track has both metadata.csv and metadata.json, do not check that "
                             "they agree (they are checked by default)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing: build the manifests in a temporary folder and compare them with the "
                             "ones in --output_dir (e.g. the committed manifests against your clone); exit 1 with "
                             "a summary of the differences when they differ")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _lines_by_id(path: Path) -> Dict[str, dict]:
    return {obj["id"]: obj for obj in read_jsonl(path)} if path.is_file() else {}


def compare_manifests(built: Path, committed: Path) -> List[str]:
    """What differs between two manifests, one summary line per kind of difference (empty: same)."""
    if not committed.is_file():
        return [f"{committed} does not exist"]
    new, old = _lines_by_id(built), _lines_by_id(committed)
    problems = []
    only_new = [i for i in new if i not in old]
    only_old = [i for i in old if i not in new]
    changed = [i for i in new if i in old and new[i] != old[i]]
    if only_new:
        problems.append(f"{len(only_new)} item(s) only in the clone, e.g. {only_new[0]}")
    if only_old:
        problems.append(f"{len(only_old)} item(s) only in {committed}, e.g. {only_old[0]}")
    if changed:
        fields = sorted({k for i in changed for k in set(new[i]) | set(old[i]) if new[i].get(k) != old[i].get(k)})
        problems.append(f"{len(changed)} item(s) differ in {', '.join(fields)}, e.g. {changed[0]}")
    if not problems and list(new) != list(old):
        problems.append("same items in a different order")
    return problems


def check(args: argparse.Namespace) -> int:
    """Build into a temporary folder and compare with --output_dir; writes nothing there."""
    with tempfile.TemporaryDirectory(prefix="prepare_sakura_check_") as scratch:
        written = prepare_sakura(args.sakura_root, scratch, args.data_root, args.tracks, args.metadata,
                                 args.cross_check)
        differences = 0
        for track, path in written.items():
            committed = Path(args.output_dir) / Path(path).relative_to(scratch)
            problems = compare_manifests(Path(path), committed)
            if problems:
                differences += 1
                log.error("%-8s differs from %s: %s", track, committed, "; ".join(problems))
            else:
                log.info("%-8s identical to %s", track, committed)
    if differences:
        log.error("%d of %d manifest(s) differ from the clone %s; nothing was written (rerun without --check "
                  "to rewrite them)", differences, len(written), args.sakura_root)
        return 1
    log.info("all %d manifest(s) under %s match the clone %s", len(written), args.output_dir, args.sakura_root)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.check:
        try:
            return check(args)
        except (SakuraError, ManifestError, OSError) as exc:
            log.error("%s", exc)
            return 2
    try:
        written = prepare_sakura(args.sakura_root, args.output_dir, args.data_root, args.tracks,
                                 args.metadata, args.cross_check)
        for track, path in written.items():
            items = load_manifest(path)  # re-read exactly as the model scripts will
            for hop, counts in summarize(items).items():
                letters = " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if k != "n")
                log.info("%-8s %-6s %4d items  gold letters: %s", track, hop, counts["n"], letters)
            log.info("%-8s wrote %d items to %s", track, len(items), path)
    except (SakuraError, ManifestError, OSError) as exc:
        log.error("%s", exc)
        return 1
    log.info("done: %d manifest(s) under %s (audio relative to --data_root %s)",
             len(written), args.output_dir, args.data_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
