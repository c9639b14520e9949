"""``--sample N``: a reproducible pilot sample that looks like the whole manifest.

The manifests are sorted (by class, then hop), so ``--limit 40`` takes 40 dogs. ``--sample N``
instead splits N proportionally over subset, then within each subset over hop, then over gold
letter, then over class (SAKURA's ``attribute_label``, where the manifest has one), each split
by largest remainder with ties broken by the seed, and draws the items of each cell at random
with the same seed. The sample comes back in manifest order. Same manifest, N and seed: same items.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Callable, Dict, List, Sequence

from audiofaith.records import ManifestItem

#: the stratification levels, outermost first
LEVELS: List[Callable[[ManifestItem], str]] = [
    lambda item: item.subset,
    lambda item: item.hop,
    lambda item: item.answer,
    lambda item: str((item.meta or {}).get("attribute_label", "")),
]


def _split(total: int, sizes: Sequence[int], rng: random.Random) -> List[int]:
    """``total`` split over groups in proportion to ``sizes`` (largest remainder, random ties)."""
    whole = sum(sizes)
    exact = [total * size / whole for size in sizes]
    counts = [int(value) for value in exact]
    ties = [rng.random() for _ in sizes]
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - counts[i]), ties[i]))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _draw(items: List[ManifestItem], n: int, level: int, rng: random.Random) -> List[ManifestItem]:
    if n >= len(items):
        return list(items)
    if level == len(LEVELS):
        return rng.sample(items, n)
    groups: Dict[str, List[ManifestItem]] = OrderedDict()
    for item in items:
        groups.setdefault(LEVELS[level](item), []).append(item)
    keys = sorted(groups)
    chosen: List[ManifestItem] = []
    for key, count in zip(keys, _split(n, [len(groups[k]) for k in keys], rng)):
        chosen.extend(_draw(groups[key], count, level + 1, rng))
    return chosen


def stratified_sample(items: Sequence[ManifestItem], n: int, seed: int = 0) -> List[ManifestItem]:
    """``n`` items stratified over subset × hop × gold letter × class, in manifest order."""
    if n < 1:
        raise ValueError(f"a sample needs at least 1 item, got {n}")
    chosen = {item.id for item in _draw(list(items), n, 0, random.Random(seed))}
    return [item for item in items if item.id in chosen]
