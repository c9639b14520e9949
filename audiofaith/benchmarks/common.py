"""What MMAU and MMAR share: metadata rows -> checked manifest items -> one manifest per subset.

A benchmark gives its questions as an option list plus the gold answer *text*. The gold letter is
the position of the option that equals the answer text exactly (no substring or case-folded match:
"Satisfied" must never become the option "Not satisfied"). Options that are the very same text
twice (27 MMAU test-mini questions) are merged into one, keeping the first position, so that the
answer names exactly one option, and empty options (4 MMAR questions end with ``""``) are dropped;
the original list then stays in ``meta.source_choices``.

Core module: standard library and audiofaith's core only.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from audiofaith.errors import UserError
from audiofaith.store.jsonl import JsonlError, iter_jsonl
from audiofaith.store.manifest import ManifestError, load_manifest, path_inside, write_manifest
from audiofaith.store.records import LETTERS, ManifestItem, RecordError

log = logging.getLogger(__name__)

#: The ``hop`` of every MMAU / MMAR item: these benchmarks have no single-/multi-hop split.
NO_HOP = "none"
#: ``meta`` key of a benchmark's own reasoning text (MMAR ``thinking``), used by ``--cot_source reference``.
REFERENCE_COT_KEY = "reference_cot"
#: Letters a manifest question may use here: 2 to 8 options.
MAX_OPTIONS = 8


class BenchmarkError(UserError):
    """Bad benchmark metadata or arguments; the message names the file, row and id."""


@dataclass(frozen=True)
class SourceQuestion:
    """One metadata row, in the benchmark's own terms."""

    row: int  # 0-based position in the metadata file
    id: str
    subset: str
    audio: str  # the audio path as the metadata writes it (only its file name is used)
    question: str
    choices: Tuple[str, ...]
    answer_text: str
    meta: Dict[str, Any] = field(default_factory=dict)
    where: str = ""  # "<file> row N (id X)"


@dataclass(frozen=True)
class BenchmarkSpec:
    """Everything audiofaith knows about one benchmark."""

    name: str  # manifest ``dataset`` and folder name: "mmau"
    display_name: str  # "MMAU test-mini"
    subset_label: str  # what a subset is called in tables: "task", "modality"
    subsets: Tuple[str, ...]  # known subsets, in report order
    metadata_hint: str  # where the metadata file comes from
    audio_hint: str  # where the audio comes from
    read_questions: Callable[[Path], List[SourceQuestion]]
    #: ``meta`` keys the report breaks accuracy down by (subset x value), first one in report.md
    breakdowns: Tuple[str, ...]
    #: the prediction file of the benchmark's own evaluation script
    export_name: str
    export_row: Callable[[ManifestItem, Optional[str], str, str], Dict[str, Any]]
    export_jsonl: bool = False
    evaluation_script: str = ""

    @property
    def manifest_name(self) -> str:
        return f"{self.name}_manifest.jsonl"


# --------------------------------------------------------------------------------------------
# Reading metadata


def read_records(path: Path) -> List[Tuple[int, Dict[str, Any], str]]:
    """``(row, object, where)`` per question of a JSON list file or a JSON Lines file."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"{path}: metadata file not found")
    rows: List[Tuple[int, Any, str]] = []
    if path.suffix == ".jsonl":
        try:
            for line_number, obj in iter_jsonl(path):
                rows.append((len(rows), obj, f"{path}:{line_number}"))
        except JsonlError as exc:
            raise BenchmarkError(str(exc)) from None
    else:
        try:
            with open(path, encoding="utf-8-sig") as handle:
                data = json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BenchmarkError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise BenchmarkError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
        rows = [(index, obj, f"{path} item {index}") for index, obj in enumerate(data)]
    if not rows:
        raise BenchmarkError(f"{path}: the metadata has no questions")
    for _, obj, where in rows:
        if not isinstance(obj, dict):
            raise BenchmarkError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return rows


def require(obj: Dict[str, Any], keys: Sequence[str], where: str) -> None:
    """Every key present; id, question and answer non-empty strings; choices a list of them."""
    missing = [key for key in keys if key not in obj]
    if missing:
        raise BenchmarkError(f"{where}: missing key(s) {', '.join(missing)}")
    for key in ("id", "question", "answer"):
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise BenchmarkError(f"{where}: '{key}' must be a non-empty string, got {obj[key]!r}")
    choices = obj["choices"]
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise BenchmarkError(f"{where}: 'choices' must be a list of strings, got {choices!r}")


def subset_name(value: Any, key: str, where: str) -> str:
    """A subset (task / modality) usable as a folder name."""
    if not isinstance(value, str) or not value.strip() or value != value.strip() or "/" in value or "\\" in value:
        raise BenchmarkError(f"{where}: '{key}' must be a plain name (it becomes a folder), got {value!r}")
    return value


def one_label(value: Any, key: str, where: str) -> Optional[str]:
    """A category label as one string: MMAU writes 13 of its categories as a one-element list."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return value[0]
    raise BenchmarkError(f"{where}: '{key}' must be a string (or a list of one), got {value!r}")


LABEL_KEYS = ("category", "sub-category")


def source_question(row: int, obj: Dict[str, Any], where: str, fields: Sequence[str], meta_fields: Dict[str, str],
                    subset_key: str, audio_key: str) -> SourceQuestion:
    """One metadata row checked (``fields`` present) and read: ``meta_fields`` maps the source's
    keys to ``meta`` names (category labels as one string); the subset comes from ``subset_key``."""
    require(obj, fields, where)
    meta: Dict[str, Any] = {}
    for key, name in meta_fields.items():
        if key in obj:
            meta[name] = one_label(obj[key], key, where) if key in LABEL_KEYS else obj[key]
    return SourceQuestion(row=row, id=obj["id"], subset=subset_name(obj[subset_key], subset_key, where),
                          audio=obj[audio_key], question=obj["question"], choices=tuple(obj["choices"]),
                          answer_text=obj["answer"], meta=meta, where=where)


# --------------------------------------------------------------------------------------------
# Gold letters


def clean_choices(choices: Sequence[str]) -> Tuple[str, ...]:
    """The options without empty ones and without exact repeats (first occurrence kept), order
    otherwise unchanged. Nothing else is touched: whitespace and case stay as in the source."""
    return tuple(dict.fromkeys(choice for choice in choices if choice.strip()))


def gold_index(answer: str, choices: Sequence[str], where: str) -> int:
    """The position of the one option equal to ``answer`` (exact string equality)."""
    matches = [index for index, choice in enumerate(choices) if choice == answer]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise BenchmarkError(f"{where}: the answer {answer!r} is options {matches} of {list(choices)}")
    near = [f"({LETTERS[i].lower()}) {c!r}" for i, c in enumerate(choices)
            if c.strip().lower() == answer.strip().lower() or answer in c or c in answer]
    hint = f"; it only resembles {', '.join(near)} (not an exact match)" if near else ""
    raise BenchmarkError(f"{where}: the answer {answer!r} is not exactly one of its choices {list(choices)}{hint}")


def build_item(dataset: str, question: SourceQuestion, audio: str) -> ManifestItem:
    """One checked manifest item (``audio`` already relative to --data_root)."""
    where = question.where
    choices = clean_choices(question.choices)
    if not 2 <= len(choices) <= MAX_OPTIONS:
        raise BenchmarkError(f"{where}: {len(choices)} distinct options {list(choices)}; audiofaith takes 2 to "
                             f"{MAX_OPTIONS} (letters A-{LETTERS[MAX_OPTIONS - 1]})")
    index = gold_index(question.answer_text, choices, where)
    meta = dict(question.meta)
    meta.update(row=question.row, file=PurePosixPath(question.audio).name, answer_text=choices[index])
    if len(choices) != len(question.choices):
        meta["source_choices"] = list(question.choices)
    item = ManifestItem(id=question.id, dataset=dataset, subset=question.subset, hop=NO_HOP, audio=audio,
                        question=question.question, choices=choices, answer=LETTERS[index], meta=meta)
    try:  # the validation load_manifest applies, reported against the metadata row
        ManifestItem.from_json(item.to_json(), where)
    except RecordError as exc:
        raise BenchmarkError(str(exc)) from None
    return item


# --------------------------------------------------------------------------------------------
# Audio


def relative_to(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a posix string; an error when it is not inside."""
    relative = path_inside(path, root)
    if relative is None:
        raise BenchmarkError(f"--audio_dir {path} is not inside --data_root {root}: manifest audio paths are "
                             f"relative to --data_root, so pass a --data_root that contains --audio_dir")
    return relative


#: Every missing-audio error of prepare_benchmark.py ends with the way around it.
SKIP_AUDIO_CHECK = ("(or pass --skip_audio_check to write manifests without audio, e.g. to inspect them; the model "
                    "scripts check the audio again before loading a model)")


def check_audio(questions: Sequence[SourceQuestion], audio_dir: Path, metadata: Path, audio_hint: str) -> None:
    """Raise unless every question's audio file exists in ``audio_dir`` and is not empty."""
    if not audio_dir.is_dir():
        raise BenchmarkError(f"--audio_dir {audio_dir} does not exist (needed by {metadata}).\n{audio_hint}"
                             f"\n{SKIP_AUDIO_CHECK}")
    problems = []
    nested = 0
    for question in questions:
        path = audio_dir / PurePosixPath(question.audio).name
        if not path.is_file():
            problems.append(f"  {path} ({question.where}): missing")
            nested += (audio_dir / question.audio).is_file()
        elif path.stat().st_size == 0:
            problems.append(f"  {path} ({question.where}): empty file")
    if problems:
        shown = "\n".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        folder = PurePosixPath(questions[0].audio).parent
        hint = (f"\nthe files are in {audio_dir / folder}: pass --audio_dir {audio_dir / folder}" if nested
                else f"\n{audio_hint}") + f"\n{SKIP_AUDIO_CHECK}"
        raise BenchmarkError(f"{metadata}: {len(problems)} of {len(questions)} audio file(s) missing or empty "
                             f"in --audio_dir {audio_dir}:\n{shown}{more}{hint}")


# --------------------------------------------------------------------------------------------
# Building, writing and checking manifests


def build_benchmark(spec: BenchmarkSpec, metadata: "str | os.PathLike[str]", audio_dir: "str | os.PathLike[str]",
                    data_root: "str | os.PathLike[str]", subsets: Optional[Iterable[str]] = None,
                    require_audio: bool = True) -> Dict[str, List[ManifestItem]]:
    """subset -> manifest items (metadata order); every question checked before anything is written."""
    metadata, audio_dir = Path(metadata), Path(audio_dir)
    questions = spec.read_questions(metadata)
    seen: Dict[str, str] = {}
    for question in questions:
        if question.id in seen:
            raise BenchmarkError(f"{question.where}: duplicate id {question.id!r} (first at {seen[question.id]})")
        seen[question.id] = question.where
    wanted = list(dict.fromkeys(subsets)) if subsets else None
    if wanted:
        present = {q.subset for q in questions}
        unknown = [s for s in wanted if s not in present]
        if unknown:
            raise BenchmarkError(f"{metadata}: no question of {spec.subset_label}(s) {', '.join(unknown)}; "
                                 f"present: {', '.join(sorted(present))}")
        questions = [q for q in questions if q.subset in wanted]
    if require_audio:
        check_audio(questions, audio_dir, metadata, spec.audio_hint)
    prefix = relative_to(audio_dir, Path(data_root))
    built: Dict[str, List[ManifestItem]] = {}
    for question in questions:
        audio = PurePosixPath(prefix, PurePosixPath(question.audio).name).as_posix()
        built.setdefault(question.subset, []).append(build_item(spec.name, question, audio))
    order = {name: index for index, name in enumerate(spec.subsets)}
    return {subset: built[subset] for subset in sorted(built, key=lambda s: (order.get(s, len(order)), s))}


def manifest_path(output_dir: "str | os.PathLike[str]", subset: str, manifest_name: str) -> Path:
    return Path(output_dir) / subset / manifest_name


def write_manifests(built: Dict[str, List[ManifestItem]], output_dir: "str | os.PathLike[str]",
                    manifest_name: str) -> Dict[str, Path]:
    written = {}
    for subset, items in built.items():
        path = manifest_path(output_dir, subset, manifest_name)
        write_manifest(path, items)
        written[subset] = path
    return written


def diff_manifests(built: Dict[str, List[ManifestItem]], output_dir: "str | os.PathLike[str]",
                   manifest_name: str, max_shown: int = 5) -> List[str]:
    """How the manifests on disk differ from ``built`` (one line per difference; empty = identical).

    Compares whole items (every field, ``meta`` included) by id; also reports manifests on disk
    for subsets that were not built.
    """
    problems: List[str] = []
    for subset, items in built.items():
        path = manifest_path(output_dir, subset, manifest_name)
        if not path.is_file():
            problems.append(f"{path}: missing (would hold {len(items)} items)")
            continue
        try:
            existing = load_manifest(path)
        except ManifestError as exc:
            problems.append(f"{path}: unreadable ({exc})")
            continue
        old = {item.id: item for item in existing}
        new = {item.id: item for item in items}
        added = [i for i in new if i not in old]
        removed = [i for i in old if i not in new]
        changed = [i for i in new if i in old and old[i] != new[i]]
        reordered = not added and not removed and [i.id for i in existing] != [i.id for i in items]
        for label, ids in (("new", added), ("gone", removed), ("changed", changed)):
            if ids:
                details = ids[:max_shown]
                if label == "changed":
                    details = [f"{i} ({', '.join(_changed_fields(old[i], new[i]))})" for i in details]
                more = f" ... and {len(ids) - max_shown} more" if len(ids) > max_shown else ""
                problems.append(f"{path}: {len(ids)} {label} item(s): {', '.join(details)}{more}")
        if reordered:
            problems.append(f"{path}: same items in another order")
    root = Path(output_dir)
    if root.is_dir():
        for path in sorted(root.glob(f"*/{manifest_name}")):
            if path.parent.name not in built:
                problems.append(f"{path}: on disk but not built from this metadata")
    return problems


def _changed_fields(old: ManifestItem, new: ManifestItem) -> List[str]:
    a, b = old.to_json(), new.to_json()
    names = [name for name in a if name != "meta" and a[name] != b[name]]
    names += [f"meta.{key}" for key in sorted(set(a["meta"]) | set(b["meta"])) if a["meta"].get(key) != b["meta"].get(key)]
    return names


def summarize(items: Sequence[ManifestItem]) -> Dict[str, int]:
    """Item count, gold-letter counts and option-count counts: ``{"n": 333, "A": 80, ..., "4 options": 300}``."""
    counts: Dict[str, int] = {"n": len(items)}
    for item in items:
        counts[item.answer] = counts.get(item.answer, 0) + 1
        key = f"{len(item.choices)} options"
        counts[key] = counts.get(key, 0) + 1
    return counts
