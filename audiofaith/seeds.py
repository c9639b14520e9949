"""Run seeds: every random choice (a sampled run, a hint letter, a perturbation's noise) draws from
its own seed derived from the user's ``--seed`` and labels of what it is for, so a result does not
depend on batch size, batch composition, an out-of-memory back-off or a resume."""

from __future__ import annotations

import hashlib


def derive_seed(base_seed: int, *parts: object) -> int:
    """A stable 31-bit seed from a base seed and any labels (item ids, run numbers ...)."""
    text = "\x1f".join([str(base_seed)] + [str(p) for p in parts])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") & 0x7FFFFFFF
