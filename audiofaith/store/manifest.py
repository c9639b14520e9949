"""Manifest loading and validation: every problem is reported with its file and line before any
model is loaded."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Iterable, List, Optional, Sequence

from audiofaith.errors import UserError
from audiofaith.store.jsonl import JsonlError, iter_jsonl, write_jsonl
from audiofaith.store.records import ManifestItem, RecordError


class ManifestError(UserError):
    """An invalid manifest; the message names the file and line(s)."""


def load_manifest(path: "str | os.PathLike[str]") -> List[ManifestItem]:
    """Read and validate a manifest: schema per line, unique ids, at least one item."""
    path = Path(path)
    if path.is_dir():
        raise ManifestError(folder_given(path, "manifest"))
    if not path.is_file():
        raise ManifestError(f"{path}: manifest file not found")
    items: List[ManifestItem] = []
    first_line = {}
    try:
        for line_number, obj in iter_jsonl(path):
            where = f"{path}:{line_number}"
            try:
                item = ManifestItem.from_json(obj, where)
            except RecordError as exc:
                raise ManifestError(str(exc)) from None
            if item.id in first_line:
                raise ManifestError(f"{where}: duplicate id {item.id!r} (first on line {first_line[item.id]})")
            first_line[item.id] = line_number
            items.append(item)
    except JsonlError as exc:
        raise ManifestError(str(exc)) from None
    if not items:
        raise ManifestError(f"{path}: the manifest is empty")
    return items


def folder_given(path: Path, what: str) -> str:
    """The one-line message for a folder given where a JSONL file is read, naming the files in it."""
    inside = sorted(child.name for child in path.glob("*.jsonl"))
    hint = (f" (in it: {', '.join(inside[:3])}{', …' if len(inside) > 3 else ''})" if inside
            else " (it holds no .jsonl file)")
    return f"{path}: a folder, not a {what} file; give the {what} JSONL file itself{hint}"


def write_manifest(path: "str | os.PathLike[str]", items: Iterable[ManifestItem]) -> None:
    write_jsonl(path, (item.to_json() for item in items))


def audio_path(item: ManifestItem, data_root: "str | os.PathLike[str]") -> Path:
    """The absolute-or-relative path of an item's audio under ``data_root``."""
    return Path(data_root) / item.audio


def check_audio_files(items: Sequence[ManifestItem], data_root: "str | os.PathLike[str]",
                      manifest_path: Optional["str | os.PathLike[str]"] = None) -> None:
    """Fail before model loading if any audio file is missing, naming the first few."""
    missing = [(index, item) for index, item in enumerate(items) if not audio_path(item, data_root).is_file()]
    if not missing:
        return
    source = f"{manifest_path}: " if manifest_path else ""
    shown = "\n".join(f"  {item.id}: {audio_path(item, data_root)}" for _, item in missing[:5])
    more = f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else ""
    parent = Path(data_root).resolve().parent
    up = ""
    if all((parent / item.audio).is_file() for _, item in missing[:5]):  # --data_root data/SAKURA for data/
        suggested = os.path.relpath(parent) if not Path(data_root).is_absolute() else str(parent)
        up = f"\nthey are there one folder up: pass --data_root {suggested}"
    raise ManifestError(
        f"{source}{len(missing)} of {len(items)} audio file(s) not found under --data_root {data_root}:\n"
        f"{shown}{more}{up}"
    )


def select_shard(items: Sequence[ManifestItem], shard: Optional[str]) -> List[ManifestItem]:
    """Items of shard ``"K/N"`` (0-based K): every N-th item starting at K, in manifest order."""
    if not shard:
        return list(items)
    index, count = parse_shard(shard)
    return [item for position, item in enumerate(items) if position % count == index]


def parse_shard(shard: str) -> "tuple[int, int]":
    try:
        index_text, count_text = shard.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise UserError(f"--shard must look like K/N (e.g. 0/4), got {shard!r}") from None
    if count < 1 or not 0 <= index < count:
        raise UserError(f"--shard K/N needs 0 <= K < N, got {shard!r}")
    return index, count


def path_inside(path: "str | os.PathLike[str]", root: "str | os.PathLike[str]") -> Optional[str]:
    """``path`` relative to ``root`` (both made absolute, symlinks kept) as a posix string, or
    ``None`` when ``path`` is not inside ``root``."""
    absolute = os.path.normpath(os.path.abspath(path))
    base = os.path.normpath(os.path.abspath(root))
    try:
        common = os.path.commonpath([absolute, base])
    except ValueError:  # different drives (Windows)
        return None
    if common != base:
        return None
    return PurePosixPath(*Path(os.path.relpath(absolute, base)).parts).as_posix()
