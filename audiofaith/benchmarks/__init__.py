"""Benchmarks beyond SAKURA (MMAU test-mini, MMAR): how each one's metadata becomes manifests, which
manifest fields its report breaks accuracy down by, and the prediction files its own evaluation
script reads. SAKURA keeps its own module (``audiofaith.benchmarks.sakura``).

A benchmark is one module exposing ``SPEC`` (a :class:`~audiofaith.benchmarks.common.BenchmarkSpec`),
registered here by name as a lazy module path. Core: standard library only.
"""

from __future__ import annotations

import importlib
from typing import Dict, List

from audiofaith.errors import UserError

BENCHMARKS: Dict[str, str] = {
    "mmau": "audiofaith.benchmarks.mmau",
    "mmar": "audiofaith.benchmarks.mmar",
}


def get_spec(name: str):
    """The :class:`BenchmarkSpec` of benchmark ``name`` (``mmau``, ``mmar``)."""
    if name not in BENCHMARKS:
        raise UserError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    return importlib.import_module(BENCHMARKS[name]).SPEC


def all_specs() -> List:
    return [get_spec(name) for name in BENCHMARKS]
