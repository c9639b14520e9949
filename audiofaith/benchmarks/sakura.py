"""Build audiofaith manifests from a local clone of the SAKURA benchmark.

SAKURA (github.com/ckyang1124/SAKURA) has four tracks -- Animal, Emotion, Gender, Language --
each a folder ``data/<Track>/`` with ``audio/*.wav`` and the same 500 rows of metadata twice:
``metadata.csv`` (CRLF) and ``metadata.json`` (an object keyed by repo-relative audio path).
Every row holds one audio file and two questions (single-hop and multi-hop); the options are
embedded in the instruction text as `` (a) X (b) Y ...`` and the gold answer is a string such as
``"(c) Claws"``.

This module reads one track's metadata, parses the options and gold letter out of the text,
checks them against each other and checks that every audio file exists, then emits
:class:`~audiofaith.store.records.ManifestItem` objects (two per row: single-hop, then multi-hop).
Nothing is normalised silently: instructions, question stems and option texts keep the source's
runs of spaces and curly apostrophes; only the comparison of the answer's option text with the
instruction's option text ignores differences in whitespace.

Core module: standard library and audiofaith's core only (no numpy / torch).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from audiofaith.errors import UserError
from audiofaith.store.manifest import path_inside, write_manifest
from audiofaith.store.records import LETTERS, HOPS, ManifestItem, RecordError

log = logging.getLogger(__name__)

DATASET = "sakura"
CLONE_HINT = "git clone https://github.com/ckyang1124/SAKURA data/SAKURA"

#: lower-case track name (manifest ``subset``) -> folder name in the SAKURA repository
TRACKS: Dict[str, str] = {
    "animal": "Animal",
    "emotion": "Emotion",
    "gender": "Gender",
    "language": "Language",
}
#: number of options per question in each track (both hops)
N_OPTIONS: Dict[str, int] = {"animal": 4, "emotion": 4, "gender": 2, "language": 4}

METADATA_SOURCES = ("auto", "csv", "json")
#: the question fields every metadata row carries (CSV columns and JSON value keys)
QUESTION_FIELDS = ("attribute_label", "single_instruction", "single_answer",
                   "multi_instruction", "multi_answer")
CSV_COLUMNS = ("file",) + QUESTION_FIELDS
#: extra JSON value keys that are understood: ``gender`` (Language, current layout), ``file``
#: and ``multi_type`` (the older layout of May 2025)
JSON_EXTRA_FIELDS = ("gender", "file", "multi_type")
#: extra fields copied into ``meta`` when the metadata has them
META_EXTRA_FIELDS = ("gender", "multi_type")

MANIFEST_NAME = "sakura_manifest.jsonl"

# An option marker: "(a)" .. "(j)" at the start or after whitespace, followed by whitespace.
_OPTION_MARKER = re.compile(r"(?<!\S)\(([a-j])\)\s")
# A gold answer: "(c) Claws" (after stripping the surrounding whitespace).
_ANSWER = re.compile(r"\(([a-jA-J])\)\s+(.*\S)\s*\Z", re.DOTALL)


class SakuraError(UserError):
    """Bad SAKURA data or arguments; the message names the file and row (or line)."""


@dataclass(frozen=True)
class SakuraRow:
    """One metadata row: one audio file with its single-hop and multi-hop questions."""

    row: int  # 0-based index in the metadata file
    file: str  # audio file name (no folder)
    fields: Dict[str, str]  # the QUESTION_FIELDS, verbatim
    extra: Dict[str, Any] = field(default_factory=dict)  # gender / multi_type when present
    where: str = ""  # "<metadata file> row N (...)" for error messages


def _ws(text: str) -> str:
    """Whitespace-normalised text, for comparisons only (never written out)."""
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# Parsing the instruction and the gold answer
# --------------------------------------------------------------------------------------------

def parse_instruction(instruction: str, n_options: Optional[int] = None,
                      where: str = "<instruction>") -> Tuple[str, List[str]]:
    """Split a SAKURA instruction into its question stem and option texts.

    ``"Who? (a) X (b) Y"`` -> ``("Who?", ["X", "Y"])``. The options must be lettered a, b, c, ...
    in order and (when given) be exactly ``n_options``. Stem and options are only trimmed at
    their edges (the separators); inner whitespace and punctuation stay as in the source.
    """
    markers = list(_OPTION_MARKER.finditer(instruction))
    # The options are the trailing run of markers a, b, c, ...: take the last "(a)" marker so a
    # stem that itself mentions "(a)" cannot shift them.
    starts = [i for i, m in enumerate(markers) if m.group(1) == "a"]
    if not starts:
        raise SakuraError(f"{where}: no options '(a) ...' found in the instruction {instruction!r}")
    markers = markers[starts[-1]:]
    letters = "".join(m.group(1) for m in markers)
    expected = "abcdefghij"[: len(markers)]
    if letters != expected:
        raise SakuraError(
            f"{where}: options in the instruction are lettered ({')('.join(letters)}), "
            f"expected ({')('.join(expected)}) in order: {instruction!r}")
    if n_options is not None and len(markers) != n_options:
        raise SakuraError(
            f"{where}: expected {n_options} options in the instruction, found {len(markers)}: "
            f"{instruction!r}")
    question = instruction[: markers[0].start()].strip()
    if not question:
        raise SakuraError(f"{where}: the instruction has no question before its options: {instruction!r}")
    choices = []
    for index, marker in enumerate(markers):
        end = markers[index + 1].start() if index + 1 < len(markers) else len(instruction)
        text = instruction[marker.end(): end].strip()
        if not text:
            raise SakuraError(f"{where}: option ({marker.group(1)}) is empty in {instruction!r}")
        choices.append(text)
    return question, choices


def parse_gold_answer(answer: str, choices: Sequence[str], where: str = "<answer>") -> Tuple[str, str]:
    """The gold letter (upper case) and option text of a SAKURA answer such as ``" (d) angry"``.

    The answer's option text must equal the instruction's option text for that letter (compared
    with whitespace normalised); otherwise this raises, naming the option it does match if any.
    """
    match = _ANSWER.match(answer.strip())
    if not match:
        raise SakuraError(f"{where}: the answer {answer!r} does not look like '(x) option text'")
    letter = match.group(1).upper()
    text = match.group(2)
    index = LETTERS.index(letter)
    if index >= len(choices):
        raise SakuraError(
            f"{where}: the answer {answer!r} names option ({letter.lower()}) but the instruction has "
            f"only {len(choices)} options {list(choices)}")
    if _ws(text) != _ws(choices[index]):
        others = [f"({LETTERS[i].lower()})" for i, c in enumerate(choices) if _ws(c) == _ws(text)]
        hint = f"; that text is option {others[0]}" if others else "; that text is not among the options"
        raise SakuraError(
            f"{where}: the answer {answer!r} does not match option ({letter.lower()}) "
            f"{choices[index]!r} of the instruction{hint}; options: {list(choices)}")
    return letter, choices[index]


# --------------------------------------------------------------------------------------------
# Reading metadata
# --------------------------------------------------------------------------------------------

def read_metadata_csv(path: "str | os.PathLike[str]") -> List[SakuraRow]:
    """Rows of a SAKURA ``metadata.csv`` (UTF-8, CRLF, standard quoting)."""
    path = Path(path)
    rows: List[SakuraRow] = []
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise SakuraError(f"{path}: cannot read the metadata ({exc.strerror or exc})") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise SakuraError(f"{path}: the metadata file is empty") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SakuraError(f"{path}: line 1: cannot parse the CSV header ({exc})") from None
        missing = [name for name in CSV_COLUMNS if name not in header]
        if missing:
            raise SakuraError(f"{path}: line 1: missing column(s) {', '.join(missing)}; "
                              f"expected the header {','.join(CSV_COLUMNS)}, got {','.join(header)}")
        duplicated = sorted({name for name in header if header.count(name) > 1})
        if duplicated:
            raise SakuraError(f"{path}: line 1: duplicated column(s) {', '.join(duplicated)}")
        unknown = [name for name in header if name not in CSV_COLUMNS]
        if unknown:
            log.warning("%s: ignoring unknown column(s) %s", path, ", ".join(unknown))
        column = {name: header.index(name) for name in CSV_COLUMNS}
        start_line = 2
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                raise SakuraError(f"{path}: row {len(rows)} (line {start_line}): cannot parse the CSV "
                                  f"({exc})") from None
            end_line = reader.line_num
            line = start_line
            start_line = end_line + 1
            if not values or all(not value.strip() for value in values):
                continue  # a blank line
            where = f"{path} row {len(rows)} (line {line})"
            if len(values) != len(header):
                raise SakuraError(f"{where}: expected {len(header)} fields, found {len(values)}")
            record = {name: values[column[name]] for name in CSV_COLUMNS}
            rows.append(_make_row(len(rows), record["file"], record, {}, where))
    if not rows:
        raise SakuraError(f"{path}: the metadata has a header but no rows")
    return rows


def read_metadata_json(path: "str | os.PathLike[str]", track: str) -> List[SakuraRow]:
    """Rows of a SAKURA ``metadata.json`` in file order.

    Keys are repo-relative paths: ``data/<Track>/audio/<file>`` (current layout) or
    ``data/<Track>/<file>`` (the May 2025 layout, whose values may also carry ``file`` and
    ``multi_type``). Language's values carry ``gender``.
    """
    path = Path(path)
    folder = _folder(track)

    def no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
        seen: Dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise SakuraError(f"{path}: duplicate key {key!r}")
            seen[key] = value
        return seen

    try:
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle, object_pairs_hook=no_duplicates)
    except OSError as exc:
        raise SakuraError(f"{path}: cannot read the metadata ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SakuraError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SakuraError(f"{path}: expected a JSON object keyed by audio path, got {type(data).__name__}")
    if not data:
        raise SakuraError(f"{path}: the metadata object is empty")
    rows: List[SakuraRow] = []
    warned_unknown = set()
    for index, (key, value) in enumerate(data.items()):
        where = f"{path} row {index} (key {key!r})"
        parts = PurePosixPath(key).parts
        layout_ok = (len(parts) == 4 and parts[:2] == ("data", folder) and parts[2] == "audio") or (
            len(parts) == 3 and parts[:2] == ("data", folder))
        if not layout_ok:
            raise SakuraError(f"{where}: expected a key like 'data/{folder}/audio/<file>' "
                              f"(or the older 'data/{folder}/<file>')")
        file_name = parts[-1]
        if not isinstance(value, dict):
            raise SakuraError(f"{where}: expected an object, got {type(value).__name__}")
        missing = [name for name in QUESTION_FIELDS if name not in value]
        if missing:
            raise SakuraError(f"{where}: missing field(s) {', '.join(missing)}")
        not_text = [name for name in QUESTION_FIELDS + JSON_EXTRA_FIELDS
                    if name in value and not isinstance(value[name], str)]
        if not_text:
            raise SakuraError(f"{where}: field(s) {', '.join(not_text)} must be strings")
        if "file" in value and value["file"] != file_name:
            raise SakuraError(f"{where}: field 'file' is {value['file']!r} but the key names {file_name!r}")
        unknown = sorted(set(value) - set(QUESTION_FIELDS) - set(JSON_EXTRA_FIELDS) - warned_unknown)
        if unknown:
            warned_unknown.update(unknown)
            log.warning("%s: ignoring unknown field(s) %s", where, ", ".join(unknown))
        extra = {name: value[name] for name in META_EXTRA_FIELDS if name in value}
        rows.append(_make_row(index, file_name, value, extra, where))
    return rows


def _make_row(index: int, file_name: str, record: Dict[str, Any], extra: Dict[str, Any],
              where: str) -> SakuraRow:
    if not file_name or not file_name.strip():
        raise SakuraError(f"{where}: empty audio file name")
    if file_name != file_name.strip() or "/" in file_name or "\\" in file_name:
        raise SakuraError(f"{where}: suspicious audio file name {file_name!r}")
    for name in QUESTION_FIELDS:
        if not record[name].strip():
            raise SakuraError(f"{where}: field '{name}' is empty")
    return SakuraRow(row=index, file=file_name, fields={name: record[name] for name in QUESTION_FIELDS},
                     extra=dict(extra), where=where)


def compare_metadata(csv_rows: Sequence[SakuraRow], json_rows: Sequence[SakuraRow],
                     csv_path: "str | os.PathLike[str]", json_path: "str | os.PathLike[str]") -> None:
    """Raise unless the CSV and JSON metadata hold the same files, in the same order, with
    identical question fields (JSON-only extras such as ``gender`` are not compared)."""
    if len(csv_rows) != len(json_rows):
        raise SakuraError(f"{csv_path} has {len(csv_rows)} rows but {json_path} has {len(json_rows)}; "
                          f"choose one with --metadata csv|json")
    for a, b in zip(csv_rows, json_rows):
        if a.file != b.file:
            raise SakuraError(f"{a.where} is {a.file!r} but {b.where} is {b.file!r}: the CSV and JSON "
                              f"metadata disagree; choose one with --metadata csv|json")
        for name in QUESTION_FIELDS:
            if a.fields[name] != b.fields[name]:
                raise SakuraError(
                    f"{a.where}: field '{name}' differs between the CSV ({a.fields[name]!r}) and "
                    f"{json_path} ({b.fields[name]!r}); choose one with --metadata csv|json")


def metadata_paths(sakura_root: "str | os.PathLike[str]", track: str) -> Tuple[Path, Path]:
    """``(metadata.csv, metadata.json)`` of one track (they may not exist)."""
    track_dir = Path(sakura_root) / "data" / _folder(track)
    return track_dir / "metadata.csv", track_dir / "metadata.json"


def read_metadata(sakura_root: "str | os.PathLike[str]", track: str, source: str = "auto",
                  cross_check: bool = True) -> Tuple[List[SakuraRow], Path]:
    """Rows of one track and the metadata file they came from.

    ``source``: ``"json"``, ``"csv"`` or ``"auto"`` (JSON if present, else CSV). With
    ``cross_check`` and both files present, the other file is read too and must agree.
    """
    if source not in METADATA_SOURCES:
        raise SakuraError(f"--metadata must be one of {', '.join(METADATA_SOURCES)}, got {source!r}")
    csv_path, json_path = metadata_paths(sakura_root, track)
    if source == "auto":
        source = "json" if json_path.is_file() else "csv"
    chosen = json_path if source == "json" else csv_path
    if not chosen.is_file():
        present = [p.name for p in (csv_path, json_path) if p.is_file()]
        hint = f" (the folder has {', '.join(present)}: try --metadata auto)" if present else ""
        raise SakuraError(f"{chosen}: metadata file not found{hint}")
    rows = read_metadata_json(json_path, track) if source == "json" else read_metadata_csv(csv_path)
    other = csv_path if source == "json" else json_path
    if cross_check and other.is_file():
        other_rows = read_metadata_csv(csv_path) if source == "json" else read_metadata_json(json_path, track)
        if source == "json":
            compare_metadata(other_rows, rows, csv_path, json_path)
        else:
            compare_metadata(rows, other_rows, csv_path, json_path)
        log.debug("%s and %s agree (%d rows)", csv_path, json_path, len(rows))
    return rows, chosen


# --------------------------------------------------------------------------------------------
# Building manifest items
# --------------------------------------------------------------------------------------------

def _folder(track: str) -> str:
    try:
        return TRACKS[track]
    except KeyError:
        raise SakuraError(f"unknown SAKURA track {track!r}; choose from {', '.join(TRACKS)}") from None


def _relative_to(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a posix string; an error when it is not inside."""
    relative = path_inside(path, root)
    if relative is None:
        raise SakuraError(
            f"the SAKURA audio {path} is not inside --data_root {root}: manifest audio paths are "
            f"relative to --data_root, so pass a --data_root that contains --sakura_root")
    return relative


def build_items(rows: Sequence[SakuraRow], track: str, audio_prefix: str) -> List[ManifestItem]:
    """Manifest items of one track: for each row, the single-hop item then the multi-hop item.

    ``audio_prefix`` is the posix path of the track's ``audio/`` folder relative to --data_root.
    """
    _folder(track)
    items: List[ManifestItem] = []
    seen_files: Dict[str, str] = {}
    for row in rows:
        if row.file in seen_files:
            raise SakuraError(f"{row.where}: audio file {row.file!r} appears twice (first at "
                              f"{seen_files[row.file]}); item ids would collide")
        seen_files[row.file] = row.where
        stem = PurePosixPath(row.file).stem
        for hop in HOPS:
            instruction = row.fields[f"{hop}_instruction"]
            answer = row.fields[f"{hop}_answer"]
            where = f"{row.where} {hop}-hop ({row.file})"
            question, choices = parse_instruction(instruction, N_OPTIONS[track], where)
            letter, answer_text = parse_gold_answer(answer, choices, where)
            meta: Dict[str, Any] = {
                "attribute_label": row.fields["attribute_label"],
                "row": row.row,
                "file": row.file,
                "answer_text": answer_text,
            }
            meta.update(row.extra)
            item = ManifestItem(
                id=f"{DATASET}/{track}/{hop}/{stem}", dataset=DATASET, subset=track, hop=hop,
                audio=f"{audio_prefix}/{row.file}", question=question, choices=tuple(choices),
                answer=letter, instruction=instruction, meta=meta,
            )
            try:  # the same validation load_manifest applies, reported against the metadata row
                ManifestItem.from_json(item.to_json(), where)
            except RecordError as exc:
                raise SakuraError(str(exc)) from None
            items.append(item)
    return items


def check_audio(rows: Sequence[SakuraRow], audio_dir: Path, metadata_path: Path) -> None:
    """Raise unless every row's audio file exists under ``audio_dir`` and is a non-empty file."""
    if not audio_dir.is_dir():
        raise SakuraError(f"{audio_dir}: audio folder not found (needed by {metadata_path}); "
                          f"is the SAKURA clone complete? ({CLONE_HINT})")
    problems = []
    for row in rows:
        path = audio_dir / row.file
        if not path.is_file():
            problems.append(f"  {path} (row {row.row}): missing")
        elif path.stat().st_size == 0:
            problems.append(f"  {path} (row {row.row}): empty file")
    if problems:
        shown = "\n".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise SakuraError(f"{metadata_path}: {len(problems)} of {len(rows)} audio file(s) missing or "
                          f"empty:\n{shown}{more}")
    listed = {row.file for row in rows}
    unlisted = sorted(p.name for p in audio_dir.iterdir() if p.is_file() and p.name not in listed
                      and p.suffix.lower() == ".wav")
    if unlisted:
        log.warning("%s: %d audio file(s) not in %s (ignored), e.g. %s", audio_dir, len(unlisted),
                    metadata_path.name, ", ".join(unlisted[:3]))


def build_track(sakura_root: "str | os.PathLike[str]", track: str,
                data_root: "str | os.PathLike[str]", metadata: str = "auto",
                cross_check: bool = True, require_audio: bool = True) -> List[ManifestItem]:
    """All manifest items (1000 for a full track) of one SAKURA track."""
    folder = _folder(track)
    sakura_root = Path(sakura_root)
    rows, metadata_path = read_metadata(sakura_root, track, metadata, cross_check)
    audio_dir = sakura_root / "data" / folder / "audio"
    if require_audio:
        check_audio(rows, audio_dir, metadata_path)
    return build_items(rows, track, _relative_to(audio_dir, Path(data_root)))


def check_sakura_root(sakura_root: "str | os.PathLike[str]") -> None:
    """A clear error when ``sakura_root`` is not a SAKURA clone."""
    root = Path(sakura_root)
    if not root.is_dir():
        raise SakuraError(f"--sakura_root {root} does not exist; get the benchmark with:\n  {CLONE_HINT}\n"
                          f"(or pass --sakura_root pointing at your clone)")
    if not (root / "data").is_dir():
        raise SakuraError(f"--sakura_root {root} has no data/ folder; it should be a clone of SAKURA:\n"
                          f"  {CLONE_HINT}")


def manifest_path(output_dir: "str | os.PathLike[str]", track: str) -> Path:
    return Path(output_dir) / track / MANIFEST_NAME


def prepare_sakura(sakura_root: "str | os.PathLike[str]", output_dir: "str | os.PathLike[str]",
                   data_root: "str | os.PathLike[str]", tracks: Iterable[str] = tuple(TRACKS),
                   metadata: str = "auto", cross_check: bool = True) -> Dict[str, Path]:
    """Build and write ``<output_dir>/<track>/sakura_manifest.jsonl`` for each track.

    Every track is built and checked before anything is written. Returns track -> path.
    """
    check_sakura_root(sakura_root)
    tracks = list(dict.fromkeys(tracks))
    for track in tracks:
        _folder(track)
    built = {track: build_track(sakura_root, track, data_root, metadata, cross_check) for track in tracks}
    written: Dict[str, Path] = {}
    for track, items in built.items():
        path = manifest_path(output_dir, track)
        write_manifest(path, items)
        written[track] = path
    return written


def summarize(items: Sequence[ManifestItem]) -> Dict[str, Dict[str, int]]:
    """Per hop: item count and gold-letter counts, e.g. ``{"single": {"n": 500, "A": 125, ...}}``."""
    summary: Dict[str, Dict[str, int]] = {}
    for item in items:
        counts = summary.setdefault(item.hop, {"n": 0})
        counts["n"] += 1
        counts[item.answer] = counts.get(item.answer, 0) + 1
    return summary
