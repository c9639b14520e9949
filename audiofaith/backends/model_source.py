"""Is ``--model_path`` loadable? Checked before the sidecar is written and the model loads, so
a typo is one clear line instead of a 40-line traceback ending in a misleading hub-id error, and a
cluster node without internet is told so in seconds instead of after minutes of retries.

No torch here; ``huggingface_hub`` is imported only to look into its local cache.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from audiofaith.errors import UserError

#: Written into every tiny random-weight checkpoint (``python -m audiofaith.checkpoints.tiny``); backends record
#: its presence in the provenance sidecar and the report warns on any result from such a checkpoint.
MARKER = "TINY_RANDOM_WEIGHTS.txt"


def is_tiny_checkpoint(path: "str | os.PathLike[str]") -> bool:
    return (Path(path) / MARKER).is_file()


#: The reasoning budget ``python -m audiofaith.checkpoints.tiny`` writes into a tiny checkpoint's own
#: generation_config.json: a smoke test on 2 CPU cores takes seconds, not the minutes 512 tokens take.
TINY_MAX_NEW_TOKENS = 48


def tiny_max_new_tokens(path: "str | os.PathLike[str] | None") -> Optional[int]:
    """``max_new_tokens`` from a tiny test checkpoint's generation_config.json; None for every other
    checkpoint (a real model's generation config never changes audiofaith's defaults)."""
    if not path or not is_tiny_checkpoint(path):
        return None
    try:
        value = json.loads((Path(path) / "generation_config.json").read_text(encoding="utf-8")).get("max_new_tokens")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TRUE = {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def looks_like_hub_id(model_path: str) -> bool:
    """``owner/name`` (one slash, relative, no ``~``/``.`` start) could be a hub id."""
    return bool(_HUB_ID.match(model_path)) and not model_path.startswith((".", "~"))


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:
        return False


def _hub_unreachable(timeout: float = 5.0) -> Optional[str]:
    """None when the hub endpoint accepts a TCP connection within ``timeout`` s, else why not."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout).close()
    except OSError as exc:
        return f"cannot reach {endpoint} ({exc.strerror or exc})"
    return None


def check_model_source(model_path: str, flag: str = "--model_path") -> None:
    """Raise ``UserError`` with the fix when ``model_path`` is neither a checkpoint directory nor a
    hub id that is cached or downloadable now."""
    local = Path(model_path).expanduser()
    if local.exists():
        if not local.is_dir():
            raise UserError(f"{flag} {model_path}: is a file, not a checkpoint directory")
        if not (local / "config.json").is_file():
            raise UserError(f"{flag} {model_path}: no config.json in this directory (not a Hugging Face checkpoint)")
        return
    if not looks_like_hub_id(model_path):
        raise UserError(f"{flag} {model_path}: no such directory")
    if _in_hub_cache(model_path):
        return
    if hub_offline():
        raise UserError(f"{flag} {model_path}: no such local directory, and this hub id is not in the local "
                        f"Hugging Face cache while HF_HUB_OFFLINE=1; pass a local checkpoint directory")
    why = _hub_unreachable()
    if why is not None:
        raise UserError(f"{flag} {model_path}: no such local directory, and the hub is unreachable to download it "
                        f"({why}); pass a local checkpoint directory, or set HF_HUB_OFFLINE=1 to use the local cache")
