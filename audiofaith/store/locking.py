"""One writer per output file: ``<output>.lock`` is held for a whole run, so two runs (a SLURM
requeue overlapping a live job, a job array without ``--shard``) can never append to the same
output or sidecar.

How, and why this way (docs/architecture.md, "Locks"):

- The lock file is created with ``O_CREAT | O_EXCL`` (atomic on local disks and on NFS v3+) and
  holds JSON naming its holder: pid, host, start time, command line.
- The holder also takes a POSIX record lock (``fcntl.lockf``) on it. The kernel (and, on NFS,
  the lock manager or the NFSv4 lease) releases that lock when the process dies, even by
  ``kill -9`` or a crashed node, so a lock file that exists but is not ``lockf``-locked is
  stale and is taken over, whatever host wrote it.
- Where a filesystem has no working ``lockf`` (some Lustre or FUSE mounts answer ENOLCK or
  EOPNOTSUPP), the holder's JSON decides: a dead pid on this host is taken over; a holder on
  another host is refused, with the command to remove the lock if that job is gone.
- On release the holder deletes the file while still holding the lock; a process that opened
  the old file in between notices (the path no longer leads to the inode it locked) and retries.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from audiofaith.errors import UserError

log = logging.getLogger(__name__)

#: errno values meaning "this filesystem cannot do POSIX locks" (not "someone holds it")
_NO_LOCKING = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class OutputLocked(UserError):
    """Another live run holds the output file."""


def lock_path(output: "str | os.PathLike[str]") -> Path:
    output = Path(output)
    return output.with_name(output.name + ".lock")


def read_holder(path: "str | os.PathLike[str]") -> Dict[str, Any]:
    """The holder JSON of a lock file ({} when unreadable or empty). Never call it on a lock this
    process holds: closing any descriptor of a file drops the process's POSIX locks on it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _read_holder_fd(fd: int) -> Dict[str, Any]:
    try:
        return json.loads(os.pread(fd, 1 << 16, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(holder: Dict[str, Any]) -> str:
    if not holder:
        return "a run that has not written its details yet"
    return f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}"


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError):
        return True  # exists but is someone else's (or unparsable: assume alive)
    return True


def _try_lockf(fd: int) -> Optional[bool]:
    """True: locked by us; False: someone else holds it; None: the filesystem cannot lock."""
    import fcntl

    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        if exc.errno in _NO_LOCKING:
            return None
        raise


def is_held(output: "str | os.PathLike[str]") -> Optional[Dict[str, Any]]:
    """The holder of ``output``'s lock if a live run holds it, else None (no lock or stale).
    Probes with a shared lock, so it never takes over or removes anything."""
    import fcntl

    path = lock_path(output)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return read_holder(path)
            holder = read_holder(path)  # no POSIX locks here: judge by the pid on this host
            if holder.get("host") != socket.gethostname() or _pid_alive(holder.get("pid")):
                return holder
            return None
        return None
    finally:
        os.close(fd)


class OutputLock:
    """``with OutputLock(output):`` holds ``<output>.lock`` for the block, or raises
    ``OutputLocked`` naming the file and its holder."""

    def __init__(self, output: "str | os.PathLike[str]") -> None:
        self.output = Path(output)
        self.path = lock_path(output)
        self._fd: Optional[int] = None

    def acquire(self) -> "OutputLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):  # retries only when a holder released or a stale lock was replaced meanwhile
            if self._attempt():
                return self
        raise OutputLocked(f"{self.output}: could not take the lock {self.path} (it keeps changing hands)")

    def _attempt(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            created = True
        except FileExistsError:
            try:
                fd = os.open(self.path, os.O_RDWR)
            except FileNotFoundError:
                return False  # released between the two calls: try again
            created = False
        try:
            locked = _try_lockf(fd)
            if locked is False:
                raise OutputLocked(self._refusal(_read_holder_fd(fd)))
            if not self._same_file(fd):
                os.close(fd)
                return False
            if not created:
                previous = _read_holder_fd(fd)
                if locked is None and not self._stale_without_lockf(previous):
                    raise OutputLocked(self._refusal(previous, lockf_works=False))
                log.warning("%s: taking over the stale lock of %s (that run is gone)", self.output,
                            describe_holder(previous))
            self._write_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def _same_file(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    @staticmethod
    def _stale_without_lockf(holder: Dict[str, Any]) -> bool:
        return holder.get("host") == socket.gethostname() and not _pid_alive(holder.get("pid"))

    def _refusal(self, holder: Dict[str, Any], lockf_works: bool = True) -> str:
        message = (f"{self.output} is in use by another run ({describe_holder(holder)}; lock file {self.path}). "
                   f"Wait for it, or write to another --output")
        if not lockf_works:
            message += (f". This filesystem has no POSIX locks, so a dead run on another host cannot be detected: "
                        f"if that run is gone, remove {self.path}")
        return message

    def _write_holder(self, fd: int) -> None:
        from audiofaith.store.provenance import now

        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": now(), "argv": sys.argv}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(holder) + "\n").encode("utf-8"))
        os.fsync(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if self._same_file(self._fd):
                os.unlink(self.path)  # while still locked: no one can take a half-released lock
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
