"""The ``<output>.meta.json`` provenance sidecar written next to every output file.

It records what produced the file (model, checkpoint, prompts, generation settings, code and
library versions) and one entry per session that appended to it. A resumed run must use the same
settings: appending lines made under other settings to one file would silently mix experiments.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from audiofaith import __version__
from audiofaith.errors import UserError
from audiofaith.store.jsonl import write_atomic

log = logging.getLogger(__name__)


class ProvenanceMismatch(UserError):
    """Resuming an output file with settings that differ from the ones that started it."""


def sidecar_path(output_path: "str | os.PathLike[str]") -> Path:
    output_path = Path(output_path)
    return output_path.with_name(output_path.name + ".meta.json")


def content_fingerprint(path: "str | os.PathLike[str]") -> Dict[str, str]:
    """What a fingerprint records about an input file (the manifest, the baseline results): the
    SHA-256 of its bytes, not its path, so a moved or copied file still resumes and an edited one
    does not."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"sha256": digest.hexdigest()}


def _same_file_path(old: str, new: str) -> bool:
    return old == new or Path(old).resolve() == Path(new).resolve()


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def git_revision() -> Optional[str]:
    """The audiofaith source tree's git commit (with ``-dirty`` when it has local changes)."""
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10)
        commit = done.stdout.strip()
        if done.returncode != 0 or not commit:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


class Provenance:
    """Creates or resumes the sidecar of one output file.

    ``fingerprint`` holds the settings that must not change between sessions of one file;
    ``details`` holds everything else worth recording (may change, e.g. batch size).
    ``inputs`` names the fingerprint entries that are input files' contents
    (``content_fingerprint``) and the paths they are read from now: sidecars written before
    content fingerprints recorded those entries as paths, and resume when the path is the same.
    """

    def __init__(self, output_path: "str | os.PathLike[str]", fingerprint: Dict[str, Any],
                 details: Dict[str, Any], inputs: Optional[Dict[str, "str | os.PathLike[str]"]] = None) -> None:
        self.path = sidecar_path(output_path)
        self.fingerprint = json.loads(json.dumps(fingerprint))
        inputs = {key: str(path) for key, path in (inputs or {}).items()}
        previous = self._load()
        if previous is not None:
            old = _upgrade_path_entries(previous.get("fingerprint", {}), self.fingerprint, inputs)
            changed = sorted(k for k in set(old) | set(self.fingerprint) if old.get(k) != self.fingerprint.get(k))
            if changed and not has_lines(output_path):
                # nothing was written under the old settings (e.g. the model failed to load):
                # nothing to mix up, so the old sidecar does not block a corrected rerun
                log.warning("%s: replacing its sidecar %s (no item was written under its settings)",
                            output_path, self.path)
                previous, changed = None, []
            if changed:
                lines = "\n".join(_difference(k, old.get(k), self.fingerprint.get(k), inputs) for k in changed)
                raise ProvenanceMismatch(
                    f"{output_path} was started with other settings (see {self.path}):\n{lines}\n"
                    f"Write to a new output file, or delete the old one and its .meta.json to start over."
                )
        if previous is not None:
            previous["fingerprint"] = old  # an old sidecar's path entries now record the content
        for session in (previous or {}).get("sessions", []):
            if session.get("status") == "running":
                # the caller holds the output's lock (audiofaith.store.locking): that run is gone
                session["status"] = "interrupted"
        self.data: Dict[str, Any] = previous or {
            "audiofaith_version": __version__,
            "output": str(output_path),
            "created": now(),
            "fingerprint": self.fingerprint,
            "sessions": [],
        }
        self.session: Dict[str, Any] = {
            "started": now(), "ended": None, "status": "running",
            "git_revision": git_revision(), "argv": sys.argv, "python": platform.python_version(),
            "host": socket.gethostname(), **json.loads(json.dumps(details, default=str)),
        }
        self.data["sessions"].append(self.session)

    def _load(self) -> Optional[Dict[str, Any]]:
        if not self.path.exists():
            return None
        try:
            with open(self.path, encoding="utf-8") as handle:
                return json.load(handle)
        except json.JSONDecodeError as exc:
            raise ProvenanceMismatch(f"{self.path}: unreadable provenance sidecar ({exc})") from None

    def update(self, **details: Any) -> None:
        """Add details to the current session (e.g. the backend's provenance after loading)."""
        self.session.update(json.loads(json.dumps(details, default=str)))
        self.write()

    def finish(self, status: str, counts: Dict[str, Any], error: Optional[str] = None) -> None:
        """End the session: ``completed``, ``interrupted`` or ``failed`` (with the error)."""
        self.session["ended"] = now()
        self.session["status"] = status
        if error is not None:
            self.session["error"] = error
        if counts:
            self.data["counts"] = counts
        self.write()

    def previous_sessions(self) -> List[Dict[str, Any]]:
        """The sessions before this one, oldest first."""
        return self.data["sessions"][:-1]

    def write(self) -> None:
        """Replace the sidecar atomically; no temp file is left behind, not even on a full disk."""
        write_atomic(self.path, json.dumps(self.data, indent=2, ensure_ascii=False) + "\n")


def _upgrade_path_entries(old: Dict[str, Any], new: Dict[str, Any], inputs: Dict[str, str]) -> Dict[str, Any]:
    """An old sidecar's fingerprint with its input entries in today's form: a path (sidecars
    written before content fingerprints) that names the file read now stands for its content,
    since the old check compared only the path. A different path stays as it is, a mismatch."""
    upgraded = dict(old)
    for key, path in inputs.items():
        if isinstance(old.get(key), str) and key in new and _same_file_path(old[key], path):
            log.info("%s: its sidecar names %s by path (an older format); recording its content from now on",
                     path, key)
            upgraded[key] = new[key]
    return upgraded


def _difference(key: str, old: Any, new: Any, inputs: Dict[str, str]) -> str:
    if key not in inputs:
        return f"  {key}: was {old!r}, now {new!r}"
    if isinstance(old, str):
        return (f"  {key}: the sidecar (written before input files were fingerprinted by content) names {old!r}, "
                f"this run reads {inputs[key]!r}; if it is the same file, moved, give it under its old path to "
                f"resume (the sidecar then records its content, and later moves do not matter)")
    return (f"  {key}: the content of {inputs[key]} differs from the file this output was started with "
            f"(sha256 {_short(old)}, now {_short(new)})")


def _short(entry: Any) -> str:
    digest = entry.get("sha256") if isinstance(entry, dict) else None
    return f"{digest[:12]}…" if isinstance(digest, str) else repr(entry)


def has_lines(path: "str | os.PathLike[str]") -> bool:
    """Whether a file exists and holds any non-blank content."""
    try:
        with open(path, "rb") as handle:
            while True:
                chunk = handle.read(1 << 16)
                if not chunk:
                    return False
                if chunk.strip():
                    return True
    except FileNotFoundError:
        return False
