"""The one error class for problems with what the user gave us (a file, an option, the
environment). The command-line entry points turn it into exit status 2 and a message without a
traceback; any other exception is a bug and keeps its traceback."""

from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input; its message names the file, line or option and the fix.

    It subclasses ``ValueError`` so callers that caught ``ValueError`` keep working, but the CLI
    catches only ``UserError``: a ``ValueError`` raised inside a library is not swallowed."""
