"""Convert results written by other tools into audiofaith's baseline record format.

``python -m audiofaith.convert anchor IN OUT --model qwen_omni --manifest processed_input/sakura/{track}/sakura_manifest.jsonl``

The "anchor" format is that of the Measuring-Faithfulness-of-CoT-Reasoning-LALMs runner
(arXiv 2509.22363): one line per item with ``id`` (``sakura_<track>_<row>_<hop>``),
``true_letter``, ``true_answer`` (``"(b) cat"``), ``predicted_letters``, ``raw_model_outputs``
and ``reasoning`` (lists, one entry per run). Its ``<row>`` indexes the track's audio files in
sorted file-name order, not the metadata order of our manifests (``meta.row``); every converted
line is checked against the manifest's gold answer, so a wrong mapping fails loudly.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from audiofaith.errors import UserError
from audiofaith.helptext import DefaultsHelpFormatter
from audiofaith.jsonl import JsonlError, iter_jsonl, write_jsonl
from audiofaith.manifest import ManifestError, load_manifest
from audiofaith.records import BaselineRecord, ManifestItem, RecordError

log = logging.getLogger("audiofaith.convert")

ANCHOR_ID = re.compile(r"^sakura_(?P<track>[a-z]+)_(?P<row>\d+)_(?P<hop>single|multi)$")
ROW_ORDERS = ("sorted_file", "metadata")


class ConvertError(UserError):
    """An input line that cannot be converted; the message names the file and line."""


def row_index(items: Sequence[ManifestItem], row_order: str) -> Dict[Tuple[int, str], ManifestItem]:
    """(anchor row, hop) → manifest item under ``row_order``.

    ``sorted_file``: row = position of the item's audio file among the track's file names sorted
    as strings (what the anchor's runner used); ``metadata``: row = ``meta.row``.
    """
    if row_order == "metadata":
        return {(int(item.meta["row"]), item.hop): item for item in items}
    if row_order != "sorted_file":
        raise ValueError(f"row order must be one of {ROW_ORDERS}, got {row_order!r}")
    rank = {name: index for index, name in enumerate(sorted({item.meta["file"] for item in items}))}
    return {(rank[item.meta["file"]], item.hop): item for item in items}


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def _gold_label(item: ManifestItem) -> str:
    return f"({item.answer.lower()}) {item.choices[item.letters.index(item.answer)]}"


def anchor_prompt_mode(path: Path) -> str:
    """``direct`` for the anchor's ``*_No_REAS.jsonl`` files, otherwise ``cot``."""
    return "direct" if "no_reas" in path.name.lower() else "cot"


def convert_anchor_line(obj: Any, index: Dict[Tuple[int, str], ManifestItem], model: str, prompt_mode: str,
                        where: str) -> BaselineRecord:
    """One anchor line as a BaselineRecord; predictions, raw outputs and reasoning kept as they are."""
    if not isinstance(obj, dict) or not all(k in obj for k in ("id", "true_letter", "predicted_letters")):
        raise ConvertError(f"{where}: not an anchor record (needs id, true_letter, predicted_letters)")
    match = ANCHOR_ID.match(str(obj["id"]))
    if not match:
        raise ConvertError(f"{where}: id {obj['id']!r} is not sakura_<track>_<row>_<hop>")
    item = index.get((int(match["row"]), match["hop"]))
    if item is None or item.subset != match["track"]:
        raise ConvertError(f"{where}: no {match['track']} manifest item for row {match['row']} ({match['hop']})")
    label = obj.get("true_answer")
    if obj["true_letter"] != item.answer or (label is not None and _normalise(label) != _normalise(_gold_label(item))):
        raise ConvertError(f"{where}: gold answer {obj['true_letter']} {label!r} does not match manifest item "
                           f"{item.id} ({item.answer} {_gold_label(item)!r}); wrong --row_order?")
    predictions: List[Optional[str]] = list(obj["predicted_letters"])
    reasonings = list(obj.get("reasoning") or [""] * len(predictions))
    return BaselineRecord(
        id=item.id, model=model, prompt_mode=prompt_mode, answer=item.answer, subset=item.subset, hop=item.hop,
        dataset=item.dataset,
        runs_reasonings=["" if r is None else r for r in reasonings],
        runs_raw=list(obj.get("raw_model_outputs") or []), runs_predictions=predictions,
        runs_correct=[None if p is None else p == item.answer for p in predictions],
        warnings=[f"converted from anchor id {obj['id']}"],
    )


def convert_anchor(source: Path, destination: Path, model: str, manifest: str, row_order: str = "sorted_file",
                   prompt_mode: Optional[str] = None) -> int:
    """Convert one anchor file; ``manifest`` may contain ``{track}``. Returns the number of records."""
    first = next(iter_jsonl(source), None)
    if first is None:
        raise ConvertError(f"{source}: empty file")
    match = ANCHOR_ID.match(str(first[1].get("id", ""))) if isinstance(first[1], dict) else None
    if not match:
        raise ConvertError(f"{source}:{first[0]}: id is not sakura_<track>_<row>_<hop>")
    index = row_index(load_manifest(manifest.format(track=match["track"])), row_order)
    mode = prompt_mode or anchor_prompt_mode(source)
    records = [convert_anchor_line(obj, index, model, mode, f"{source}:{number}").to_json()
               for number, obj in iter_jsonl(source)]
    write_jsonl(destination, records)
    return len(records)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audiofaith.convert",
        description="Convert another tool's results into audiofaith baseline records (docs/records.md).")
    sub = parser.add_subparsers(dest="format", required=True)
    anchor = sub.add_parser("anchor", help="the arXiv 2509.22363 runner's baseline_*_REAS / _No_REAS JSONL",
                            formatter_class=DefaultsHelpFormatter)
    anchor.add_argument("input", help="anchor JSONL file")
    anchor.add_argument("output", help="baseline JSONL to write (overwritten)")
    anchor.add_argument("--model", required=True, help="model key to record, e.g. qwen_omni")
    anchor.add_argument("--manifest", default="processed_input/sakura/{track}/sakura_manifest.jsonl",
                        help="manifest path; {track} is replaced by the track named in the ids")
    anchor.add_argument("--row_order", choices=ROW_ORDERS, default="sorted_file",
                        help="how the anchor's row index maps to manifest items")
    anchor.add_argument("--prompt_mode", choices=["cot", "direct"], default=None,
                        help="default: direct for *_No_REAS files, cot otherwise")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        count = convert_anchor(Path(args.input), Path(args.output), args.model, args.manifest, args.row_order,
                               args.prompt_mode)
    except (ConvertError, JsonlError, RecordError, ManifestError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 2
    log.info("wrote %d record(s) to %s", count, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
