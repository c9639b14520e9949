"""What runs behind ``interface/<Prefix>_<kind>.py``: every such script is the same few lines and
hands its own path here; its file name picks the model (the registry's ``script_prefix``) and the
entry point (``wrapper`` -> baseline, ``conditioned``, ``intervene``).

    python -m audiofaith.cli.model_scripts    # write the missing scripts of every registered model
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Tuple

from audiofaith.backends import MODELS, SCRIPT_KINDS, spec_for_script_prefix
from audiofaith.errors import UserError

#: The text of every interface script (tests/test_model_scripts.py checks each file is exactly this).
SCRIPT_TEXT = '''#!/usr/bin/env python
"""A model's script: its file name, interface/<Prefix>_<kind>.py, picks the model (the registry's script
prefix: python -m audiofaith models) and the step (wrapper: baseline, conditioned, intervene). See --help."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from audiofaith.cli.model_scripts import run_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_script(__file__))
'''
INTERFACE_DIR = Path(__file__).resolve().parents[2] / "interface"


def script_target(script: "str | Path") -> Tuple[str, str]:
    """(model key, audiofaith.cli.main entry point name) of an interface script's file name."""
    prefix, _, kind = Path(script).stem.rpartition("_")
    if kind not in SCRIPT_KINDS or not prefix:
        raise UserError(f"an interface script is named <Prefix>_<kind>.py with kind one of "
                        f"{', '.join(SCRIPT_KINDS)}")
    return spec_for_script_prefix(prefix).key, SCRIPT_KINDS[kind]


def run_script(script: "str | Path", argv: Optional[List[str]] = None) -> int:
    """Run the interface script at ``script`` (its ``__file__``) with ``argv`` (default: the command line)."""
    try:
        key, entry_point = script_target(script)
    except UserError as error:
        print(f"{Path(script).name}: {error}", file=sys.stderr)
        return 2
    import audiofaith.cli.main as command_line

    return getattr(command_line, entry_point)(key, argv)


def write_missing_scripts(folder: Path = INTERFACE_DIR) -> List[Path]:
    """Write ``SCRIPT_TEXT`` as every registered model's scripts that ``folder`` lacks; return them."""
    written = []
    for spec in MODELS.values():
        for name in spec.scripts:
            path = folder / name
            if not path.exists():
                path.write_text(SCRIPT_TEXT, encoding="utf-8")
                written.append(path)
    return written


if __name__ == "__main__":
    for path in write_missing_scripts():
        print(f"wrote {path}")
