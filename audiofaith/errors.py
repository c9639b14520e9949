"""The one error class for problems with what the user gave us (a file, an option, the
environment). The command-line entry points turn it into exit status 2 and a message without a
traceback; any other exception is a bug and keeps its traceback."""

from __future__ import annotations

import errno
import os


class UserError(ValueError):
    """A problem with the user's input; its message names the file, line or option and the fix.

    It subclasses ``ValueError`` so callers that caught ``ValueError`` keep working, but the CLI
    catches only ``UserError``: a ``ValueError`` raised inside a library is not swallowed."""


class DiskFull(UserError):
    """A write that found no space left on the device. The message names the file, what of it is
    safe, and that rerunning the same command after freeing space resumes."""


#: errno values that mean "the disk (or the user's quota) is full".
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` for a full disk or quota."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def disk_full(path: "str | os.PathLike[str]", safe: str) -> DiskFull:
    """The one-line error for a full disk while writing ``path``; ``safe`` says what is kept."""
    return DiskFull(f"{path}: no space left on device; {safe}. Free space and rerun the same command to resume")
