"""``--sample N``: a reproducible pilot sample that looks like the whole manifest.

The manifests are sorted (by class, then hop), so ``--limit 40`` takes 40 dogs. ``--sample N``
balances four factors at once: subset, hop, gold letter and class (SAKURA's ``attribute_label``,
MMAU's and MMAR's ``category``, where the manifest has one). Each factor value has a target
share of N proportional to its share of the manifest; items are drawn one at a time from the
cell (a subset × hop × letter × class combination) whose values are furthest below their
targets, ties broken at random, and the items of a cell in a random order, all from
``--sample_seed``. The sample comes back in manifest order.
Same manifest, N and seed: same items.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Callable, Dict, List, Sequence, Tuple

from audiofaith.store.records import ManifestItem

#: the stratification levels, outermost first
LEVELS: List[Callable[[ManifestItem], str]] = [
    lambda item: item.subset,
    lambda item: item.hop,
    lambda item: item.answer,
    # the class: SAKURA's attribute_label, MMAU's / MMAR's category
    lambda item: str((item.meta or {}).get("attribute_label", (item.meta or {}).get("category", ""))),
]


def _draw(items: List[ManifestItem], n: int, rng: random.Random) -> List[ManifestItem]:
    cells: Dict[Tuple[str, ...], List[ManifestItem]] = {}
    for item in items:
        cells.setdefault(tuple(level(item) for level in LEVELS), []).append(item)
    keys = sorted(cells)
    for key in keys:
        rng.shuffle(cells[key])
    targets: List[Counter] = [Counter() for _ in LEVELS]
    for key in keys:
        for index, value in enumerate(key):
            targets[index][value] += n * len(cells[key]) / len(items)
    counts: List[Counter] = [Counter() for _ in LEVELS]
    chosen: List[ManifestItem] = []
    taken = {key: 0 for key in keys}
    while len(chosen) < n:
        open_cells = [key for key in keys if taken[key] < len(cells[key])]
        best = max(open_cells, key=lambda key: (sum(targets[i][v] - counts[i][v] for i, v in enumerate(key)),
                                                rng.random()))
        chosen.append(cells[best][taken[best]])
        taken[best] += 1
        for index, value in enumerate(best):
            counts[index][value] += 1
    return chosen


def stratified_sample(items: Sequence[ManifestItem], n: int, seed: int = 0) -> List[ManifestItem]:
    """``n`` items stratified over subset × hop × gold letter × class, in manifest order."""
    if n < 1:
        raise ValueError(f"a sample needs at least 1 item, got {n}")
    if n >= len(items):
        return list(items)
    chosen = {item.id for item in _draw(list(items), n, random.Random(seed))}
    return [item for item in items if item.id in chosen]
