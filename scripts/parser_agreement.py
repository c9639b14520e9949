#!/usr/bin/env python
"""Agreement of ``parse_answer`` with hand labels, and the random draw of anchor responses to label.

    python scripts/parser_agreement.py sample --n 80 --seed 20261130   # print responses to label
    python scripts/parser_agreement.py measure                         # agreement on the fresh sample
    python scripts/parser_agreement.py measure --parser /tmp/answers_before.py   # another parser file
    python scripts/parser_agreement.py af3-sample --split heldout      # real AF3 responses to label
    python scripts/parser_agreement.py measure --labels tests/golden/af3_heldout_labels.jsonl

``sample`` draws anchor responses (real Qwen2.5-Omni outputs in ``../shared/anchor-outputs/``) at
random with a fixed seed from those not already in ``tests/golden/anchor_labels.jsonl`` and prints
each with its options, for a person to read and label. ``measure`` reads a label file
(``tests/golden/fresh_sample_labels.jsonl`` by default), in which a line is either an anchor
reference (``file``, ``id``, ``run``, ``choices``: the response text is read from ``../shared`` and
never committed) or carries its own ``text`` and ``choices`` (synthetic responses), and prints the
agreement overall and per ``source``, and every disagreement. ``--parser`` loads ``parse_answer``
from another file, e.g. an older revision (``git show REV:audiofaith/text/answers.py > /tmp/a.py``).

``af3-sample`` draws real Audio Flamingo 3 responses from the published study's raw outputs
(``../shared/anchor-outputs/study-e4cee03/results/flamingo_hf/``: its MMAR baseline and random
partial filler runs), each distinct (file, id, response) once, in one fixed-seed draw that is cut
into a held-out part (the first ``--heldout`` responses) and a development part (the next
``--dev``), so the two never overlap. A label line of such a response is a reference (``study_file``,
``line``: the 0-based line of that file, ``sha256`` of the response text), with ``choices`` and
``label``; the text itself stays in ``../shared`` and is never committed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

ANCHORS = REPO.parent / "shared" / "anchor-outputs" / "qwen2.5-omni"
STUDY = REPO.parent / "shared" / "anchor-outputs" / "study-e4cee03"
AF3_FILES = ("results/flamingo_hf/baseline/baseline_flamingo_hf_mmar.jsonl",
             *(f"results/flamingo_hf/random_partial_filler_text/random_partial_filler_text_flamingo_hf_mmar-lorem"
               f".part_{part}.jsonl" for part in range(1, 6)))
AF3_SEED = 20261206
MANIFESTS = REPO / "processed_input" / "sakura"
GOLDEN = REPO / "tests" / "golden"
TRACKS = ("animal", "emotion", "gender", "language")


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def anchor_choices(anchors_dir: Path = ANCHORS) -> Dict[Tuple[str, str], List[str]]:
    """(track, anchor id) -> the item's options. Anchor ids count a (track, hop)'s items in
    audio-file-name order (checked: every anchor's ``true_letter`` equals the manifest answer)."""
    table: Dict[Tuple[str, str], List[str]] = {}
    for track in TRACKS:
        items = read_jsonl(MANIFESTS / track / "sakura_manifest.jsonl")
        by_hop = {hop: sorted((it for it in items if it["hop"] == hop), key=lambda it: it["meta"]["file"])
                  for hop in ("single", "multi")}
        for path in sorted((anchors_dir / track).glob("*.jsonl")):
            for obj in read_jsonl(path):
                m = re.fullmatch(r"sakura_(\w+?)_(\d+)_(single|multi)", obj["id"])
                item = by_hop[m.group(3)][int(m.group(2))]
                if item["answer"] != obj["true_letter"]:
                    raise SystemExit(f"{path}: {obj['id']} does not align with the manifest")
                table[(track, obj["id"])] = item["choices"]
    return table


def sample(n: int, seed: int) -> None:
    labelled = {(lab["file"], lab["id"], lab["run"]) for lab in read_jsonl(GOLDEN / "anchor_labels.jsonl")}
    choices = anchor_choices()
    pool = []
    for path in sorted(ANCHORS.glob("*/*.jsonl")):
        rel = f"{path.parent.name}/{path.name}"
        for obj in read_jsonl(path):
            for run, text in enumerate(obj["raw_model_outputs"]):
                if (rel, obj["id"], run) not in labelled:
                    pool.append((rel, obj["id"], run, text))
    drawn = random.Random(seed).sample(pool, n)
    for rel, aid, run, text in drawn:
        ch = choices[(rel.split("/")[0], aid)]
        print(json.dumps({"file": rel, "id": aid, "run": run, "choices": ch}, ensure_ascii=False))
        print(text)
        print("-" * 100)


def study_choices(listing: str) -> List[str]:
    """The options of a study record, from its listing of one "(A) text" line per option."""
    return [m.group(1).strip() for m in re.finditer(r"^\([A-J]\)[ \t]*(.*)$", listing, re.M)]


def af3_pool(study_dir: Path = STUDY) -> List[Dict[str, Any]]:
    """Every distinct (file, id, response) of the study's AF3 files, as unlabelled reference lines."""
    pool, seen = [], set()
    for rel in AF3_FILES:
        with open(study_dir / rel, encoding="utf-8") as f:
            for number, raw in enumerate(f):
                if not raw.strip():
                    continue
                obj = json.loads(raw)
                text = obj["final_answer_raw"]
                key = (rel, obj["id"], text)
                if key in seen or not isinstance(text, str):
                    continue
                seen.add(key)
                pool.append({"study_file": rel, "line": number, "id": obj["id"],
                             "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                             "choices": study_choices(obj["choices"]), "text": text})
    return pool


def af3_split(split: str, heldout: int, dev: int, seed: int = AF3_SEED) -> List[Dict[str, Any]]:
    """The held-out or development part of the one fixed-seed draw from ``af3_pool``."""
    drawn = random.Random(seed).sample(af3_pool(), heldout + dev)
    return drawn[:heldout] if split == "heldout" else drawn[heldout:]


def load_parser(path: Optional[str]) -> Callable[[str, List[str]], Optional[str]]:
    if not path:
        from audiofaith.text.answers import parse_answer
        return parse_answer
    spec = importlib.util.spec_from_file_location("parser_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.parse_answer


def response_text(label: Dict[str, Any], cache: Dict[str, Any]) -> str:
    if "text" in label:
        return label["text"]
    if "study_file" in label:
        if label["study_file"] not in cache:
            cache[label["study_file"]] = (STUDY / label["study_file"]).read_text(encoding="utf-8").splitlines()
        text = json.loads(cache[label["study_file"]][label["line"]])["final_answer_raw"]
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != label["sha256"]:
            raise SystemExit(f"{label['study_file']} line {label['line']}: the response is not the labelled one")
        return text
    if label["file"] not in cache:
        cache[label["file"]] = {o["id"]: o["raw_model_outputs"] for o in read_jsonl(ANCHORS / label["file"])}
    return cache[label["file"]][label["id"]][label["run"]]


def measure(labels_path: Path, parser_path: Optional[str]) -> float:
    parse = load_parser(parser_path)
    labels = read_jsonl(labels_path)
    cache: Dict[str, Dict[str, List[str]]] = {}
    per_source: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for number, lab in enumerate(labels, 1):
        got = parse(response_text(lab, cache), lab["choices"])
        ok = got == lab["label"]
        per_source[lab["source"]][0] += ok
        per_source[lab["source"]][1] += 1
        if not ok:
            misses.append(f"  line {number} [{lab['source']}] label {lab['label']} got {got}: {lab.get('why', '')}")
    agree = sum(a for a, _ in per_source.values())
    total = sum(t for _, t in per_source.values())
    for source, (a, t) in sorted(per_source.items()):
        print(f"{source}: {a}/{t} = {a / t:.3f}")
    print(f"all: {agree}/{total} = {agree / total:.3f}")
    if misses:
        print("disagreements:")
        print("\n".join(misses))
    return agree / total


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="print randomly drawn, not yet labelled anchor responses to label")
    s.add_argument("--n", type=int, default=80, help="how many responses to draw")
    s.add_argument("--seed", type=int, default=20261130, help="seed of the draw")
    m = sub.add_parser("measure", help="agreement of parse_answer with a label file")
    m.add_argument("--labels", default=str(GOLDEN / "fresh_sample_labels.jsonl"), help="label JSONL file")
    m.add_argument("--parser", default=None, help="a Python file defining parse_answer (default: audiofaith.text.answers)")
    a = sub.add_parser("af3-sample", help="print a part of the fixed-seed draw of real AF3 responses to label")
    a.add_argument("--split", choices=("heldout", "dev"), required=True)
    a.add_argument("--heldout", type=int, default=200, help="size of the held-out part")
    a.add_argument("--dev", type=int, default=120, help="size of the development part")
    args = parser.parse_args(argv)
    if args.command == "sample":
        sample(args.n, args.seed)
    elif args.command == "af3-sample":
        for ref in af3_split(args.split, args.heldout, args.dev):
            text = ref.pop("text")
            print(json.dumps(ref, ensure_ascii=False))
            print(text)
            print("-" * 100)
    else:
        measure(Path(args.labels), args.parser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
