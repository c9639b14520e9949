"""The report's benchmark-specific parts: accuracy per subset and per category for MMAU / MMAR,
audio cut to a model's window counted per model and benchmark, and the prediction files that
MMAU's ``evaluation.py`` and MMAR's ``code/evaluation.py`` read.

Everything here works on the report's ``Line`` objects (or, ``cut_rows_of_columns``, their
fields as columns) of *one* benchmark at a time: two benchmarks never share a cell. Called by ``audiofaith.report``; the document blocks are the
report's own (imported when building them).
"""

from __future__ import annotations

import itertools
import json
import math
import operator
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from audiofaith.benchmarks import BENCHMARKS, get_spec
from audiofaith.benchmarks.common import BenchmarkSpec
from audiofaith.text.cot import split_reasoning
from audiofaith.store.records import ManifestItem

BASELINES = {"baseline_cot": "cot", "baseline_direct": "direct"}
#: The value of ``subset`` / ``value`` in rows pooled over every subset / every category value.
ALL = "all"
#: A baseline warning that says the audio was cut (audiofaith.audio.io.truncate writes it).
CUT_MARKER = "truncated to"

CATEGORY_COLUMNS = ["dataset", "model", "prompt", "breakdown", "value", "subset", "n", "n_error", "n_scored",
                    "n_null_prediction", "n_correct", "accuracy", "accuracy_lo", "accuracy_hi"]
CUT_COLUMNS = ["dataset", "model", "items", "items_cut", "share_cut", "lines", "lines_cut", "lines_unrecorded"]

CiFunction = Callable[[Sequence[float], Sequence[str]], Tuple[float, float]]


def audio_cut(warnings: Iterable[str]) -> bool:
    """Whether a record's audio warnings say the clip was cut to the model's window."""
    return any(CUT_MARKER in warning for warning in warnings or ())


def spec_of(dataset: str) -> Optional[BenchmarkSpec]:
    return get_spec(dataset) if dataset in BENCHMARKS else None


def display_name(dataset: str) -> str:
    spec = spec_of(dataset)
    if spec is not None:
        return spec.display_name
    return {"sakura": "SAKURA", "": "(benchmark not recorded)"}.get(dataset, dataset)


# ----------------------------------------------------------------------------------------------
# Accuracy per subset and category


def category_rows(lines: Sequence[Any], manifest: Dict[str, ManifestItem], spec: BenchmarkSpec,
                  ci: CiFunction) -> List[Dict[str, Any]]:
    """Baseline accuracy of one benchmark per (model, prompt, breakdown, value, subset).

    ``breakdown`` "" is the subset alone (``value`` = "all"); ``subset`` "all" pools every subset
    (MMAU's "Total Accuracy", MMAR's "Avg": the mean over questions). A null prediction counts as
    wrong; errored answers are left out, as in summary.csv. Breakdowns need the manifest's ``meta``.
    """
    groups: Dict[Tuple[str, str, str, str, str], List[Any]] = defaultdict(list)
    for line in lines:
        if line.dataset != spec.name or line.condition not in BASELINES:
            continue
        prompt = BASELINES[line.condition]
        for subset in (line.subset, ALL):
            groups[(line.model, prompt, "", ALL, subset)].append(line)
            item = manifest.get(line.id)
            if item is None:
                continue
            for key in spec.breakdowns:
                value = item.meta.get(key)
                if value is not None:
                    groups[(line.model, prompt, key, str(value), subset)].append(line)
    subset_order = {name: index for index, name in enumerate(spec.subsets + (ALL,))}
    breakdown_order = {name: index for index, name in enumerate(("",) + spec.breakdowns)}
    rows = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], breakdown_order[k[2]], k[3],
                                             subset_order.get(k[4], len(subset_order)), k[4])):
        group = groups[key]
        scored = [line for line in group if line.error is None]
        correct = [line.correct for line in scored]
        low, high = ci(correct, [line.id for line in scored])
        rows.append({"dataset": spec.name, "model": key[0], "prompt": key[1], "breakdown": key[2], "value": key[3],
                     "subset": key[4], "n": len(group), "n_error": len(group) - len(scored),
                     "n_scored": len(scored), "n_null_prediction": sum(l.prediction is None for l in scored),
                     "n_correct": sum(correct),
                     "accuracy": sum(correct) / len(scored) if scored else math.nan,
                     "accuracy_lo": low, "accuracy_hi": high})
    return rows


def accuracy_blocks(spec: BenchmarkSpec, rows: Sequence[Dict[str, Any]], have_manifest: bool) -> List[Any]:
    """report.md blocks: accuracy per subset (columns) per model and prompt, then each breakdown."""
    from audiofaith.report.render import Heading, Paragraph, Table, pct_ci

    if not rows:
        return []
    subsets = [s for s in spec.subsets if any(r["subset"] == s for r in rows)]
    subsets += sorted({r["subset"] for r in rows} - set(subsets) - {ALL})
    columns = subsets + [ALL]

    def cell(selected: Sequence[Dict[str, Any]], subset: str) -> str:
        found = [r for r in selected if r["subset"] == subset]
        if not found:
            return "–"
        r = found[0]
        return f"{pct_ci(r['accuracy'], r['accuracy_lo'], r['accuracy_hi'])} (n={r['n_scored']})"

    blocks: List[Any] = [
        Heading(2, f"{spec.display_name} accuracy by {spec.subset_label}"),
        Paragraph(f"Accuracy in % [95 % bootstrap CI] (n = scored answers) of the baseline runs, per {spec.subset_label}; "
                  f"`{ALL}` = every question of the benchmark pooled (the mean over questions, as "
                  f"{spec.display_name}'s own script reports it). An unparsed answer counts as wrong; errored items "
                  "are left out. Letters are parsed by audiofaith; the prediction files for the benchmark's own "
                  "evaluation script are listed at the end. Table rows: `category_accuracy.csv`."),
    ]
    overall = [r for r in rows if r["breakdown"] == ""]
    blocks.append(Table(["model", "prompt"] + columns,
                        [[model, prompt] + [cell([r for r in overall if r["model"] == model and r["prompt"] == prompt], s)
                                            for s in columns]
                         for model, prompt in sorted({(r["model"], r["prompt"]) for r in overall})]))
    for key in spec.breakdowns:
        selected = [r for r in rows if r["breakdown"] == key]
        if not selected:
            continue
        blocks.append(Heading(3, f"By {spec.subset_label} × {key}"))
        body = []
        for model, prompt, value in sorted({(r["model"], r["prompt"], r["value"]) for r in selected}):
            mine = [r for r in selected if (r["model"], r["prompt"], r["value"]) == (model, prompt, value)]
            body.append([model, prompt, value] + [cell(mine, s) for s in columns])
        blocks.append(Table(["model", "prompt", key] + columns, body))
    if not have_manifest:
        blocks.append(Paragraph(f"Breakdowns by {', '.join(spec.breakdowns)} need the manifests (--manifest_dir)."))
    return blocks


# ----------------------------------------------------------------------------------------------
# Audio cut to the model's window


def cut_rows(lines: Sequence[Any]) -> List[Dict[str, Any]]:
    """Per (benchmark, model): baseline items whose audio was cut, and lines of any stage with a cut.

    ``lines_unrecorded`` counts conditioned / intervention lines written before audio warnings were
    recorded on them (their cut is unknown, not zero).
    """
    return cut_rows_of_columns(*([getattr(line, name) for line in lines] for name in CUT_FIELDS))


#: The line fields ``cut_rows_of_columns`` reads, in its arguments' order.
CUT_FIELDS = ("dataset", "model", "condition", "id", "error", "audio_cut")


def cut_rows_of_columns(datasets: Sequence[str], models: Sequence[str], conditions: Sequence[str],
                        ids: Sequence[str], errors: Sequence[Optional[str]],
                        cuts: Sequence[Optional[bool]]) -> List[Dict[str, Any]]:
    """``cut_rows`` of lines given as columns (``CUT_FIELDS``, index-aligned): the answered lines
    counted per distinct (benchmark, model, condition, cut), the baseline lines read one by one."""
    items: Dict[Tuple[str, str], Dict[str, bool]] = defaultdict(dict)
    for dataset, model, item_id, cut in itertools.compress(zip(datasets, models, ids, cuts),
                                                           map(BASELINES.__contains__, conditions)):
        if cut is not None:
            seen = items[(dataset, model)]
            seen[item_id] = seen.get(item_id, False) or cut
    answered = Counter(itertools.compress(zip(datasets, models, conditions, cuts),
                                          map(operator.is_, errors, itertools.repeat(None))))
    counts: Dict[Tuple[str, str], List[int]] = defaultdict(lambda: [0, 0, 0])
    for (dataset, model, condition, cut), n_lines in answered.items():
        if condition in BASELINES:
            continue
        entry = counts[(dataset, model)]
        entry[0] += n_lines
        if cut is None:
            entry[2] += n_lines
        elif cut:
            entry[1] += n_lines
    rows = []
    for key in sorted(set(items) | set(counts)):
        seen = items.get(key, {})
        cut = sum(seen.values())
        lines_total, lines_cut, unrecorded = counts[key] if key in counts else (0, 0, 0)
        rows.append({"dataset": key[0], "model": key[1], "items": len(seen), "items_cut": cut,
                     "share_cut": cut / len(seen) if seen else math.nan, "lines": lines_total,
                     "lines_cut": lines_cut, "lines_unrecorded": unrecorded})
    return rows


def cut_blocks(rows: Sequence[Dict[str, Any]]) -> List[Any]:
    from audiofaith.report.render import Heading, Paragraph, Table, pct

    if not rows:
        return []
    return [Heading(2, "Audio cut to the model's window"),
            Paragraph("Clips longer than a model's audio window are cut to it before the model hears them (the "
                      "warning is recorded on each baseline record and, since this was added, on each conditioned "
                      "and intervention line as `audio_warnings`). Items = baseline items with audio; lines = "
                      "answered conditioned / intervention lines. Per model and benchmark; `audio_cuts.csv`."),
            Table(["benchmark", "model", "items", "items cut", "% cut", "lines", "lines cut", "lines not recorded"],
                  [[display_name(r["dataset"]), r["model"], str(r["items"]), str(r["items_cut"]), pct(r["share_cut"]),
                    str(r["lines"]), str(r["lines_cut"]), str(r["lines_unrecorded"])] for r in rows])]


# ----------------------------------------------------------------------------------------------
# Prediction files for the benchmarks' own evaluation scripts


def export_predictions(lines: Sequence[Any], manifest: Dict[str, ManifestItem], out_dir: Path) -> List[Path]:
    """``<out_dir>/<benchmark>/<model>/<cot|direct>/<file>`` per benchmark, model, prompt and run
    (run 0 plain, run r with a ``_run<r>`` suffix), in manifest order, for MMAU and MMAR baselines."""
    groups: Dict[Tuple[str, str, str, int], List[Any]] = defaultdict(list)
    for line in lines:
        if line.condition in BASELINES and line.id in manifest and spec_of(manifest[line.id].dataset):
            groups[(manifest[line.id].dataset, line.model, BASELINES[line.condition], line.run)].append(line)
    written = []
    for (dataset, model, prompt, run), group in sorted(groups.items()):
        spec = get_spec(dataset)
        group = sorted(group, key=lambda l: (manifest[l.id].meta.get("row", 0), l.id))
        samples = []
        for line in group:
            raw = line.raw or ""
            reasoning = split_reasoning(raw)[0] if prompt == "cot" and raw else ""
            prediction = line.prediction if line.error is None else None
            samples.append(spec.export_row(manifest[line.id], prediction, raw, reasoning))
        stem, dot, suffix = spec.export_name.rpartition(".")
        name = spec.export_name if run == 0 else f"{stem}_run{run}{dot}{suffix}"
        path = out_dir / dataset / model / prompt / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if spec.export_jsonl:
            text = "".join(json.dumps(sample, ensure_ascii=False) + "\n" for sample in samples)
        else:
            text = json.dumps(samples, ensure_ascii=False, indent=2) + "\n"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
