"""``--help`` formatting shared by every command."""

from __future__ import annotations

import argparse
import difflib


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to an option's help once: not when the help text already says its
    default, and not for flags and options whose default is "not given" (``None``/``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with short errors: one usage line (the required options, then ``[options]``), the
    error, and the close matches of a misspelt choice, instead of the whole multi-line usage of a
    command with dozens of options (``--help`` still shows everything)."""

    def _check_value(self, action: argparse.Action, value) -> None:
        if action.choices is not None and value not in action.choices:
            names = [str(choice) for choice in action.choices]
            close = difflib.get_close_matches(str(value), names, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise argparse.ArgumentError(action, f"invalid choice: {value!r} (choose from {', '.join(names)}){hint}")
        super()._check_value(action, value)

    def short_usage(self) -> str:
        """``usage: PROG --required VALUE ... [options]`` on one line."""
        parts = [self.prog]
        for action in self._actions:
            if action.required and action.option_strings:
                parts.append(f"{action.option_strings[0]} {action.metavar or action.dest.upper()}")
            elif action.required or (not action.option_strings and action.nargs not in ("?", "*")):
                parts.append(action.metavar or action.dest)
        return f"usage: {' '.join(parts)} [options]  (all options: {self.prog} --help)"

    def error(self, message: str):
        self.exit(2, f"{self.short_usage()}\n{self.prog}: error: {message}\n")


def plain_text(docstring: str) -> str:
    """A module docstring as ``--help`` text: reStructuredText literals (double backquotes) become
    plain words."""
    return docstring.replace("``", "")
