"""Files for other tools' evaluation scripts: SAKURA's ``llm_judge.py`` inputs and the MMAU / MMAR
prediction files (the latter built by ``audiofaith.benchmarks.reporting``)."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from audiofaith.benchmarks import reporting as benchmark_reporting
from audiofaith.store.records import ManifestItem
from audiofaith.report.load import BASELINE_CONDITION, Dataset, Line
from audiofaith.report.rows import dataset_columns, dataset_rows, dataset_rows_where
from audiofaith.report.stats import Settings, _ci
from audiofaith.report.tables import write_csv

log = logging.getLogger("audiofaith.report")


def sakura_label(item: ManifestItem) -> str:
    """The gold answer string as SAKURA writes it: ``(c) Claws``."""
    index = item.letters.index(item.answer)
    return f"({item.answer.lower()}) {item.choices[index]}"


def export_judge_inputs(lines: Sequence[Line], manifest: Dict[str, ManifestItem], out_dir: Path) -> List[Path]:
    """SAKURA ``llm_judge.py`` input files per model, prompt, track, hop and run (docs/report.md)."""
    groups: Dict[Tuple, Dict[str, Dict[str, str]]] = defaultdict(dict)
    for line in lines:
        if line.condition not in BASELINE_CONDITION.values() or line.id not in manifest:
            continue
        item = manifest[line.id]
        if item.dataset != "sakura":
            continue
        key = (line.model, line.condition.replace("baseline_", ""), item.subset, item.hop, line.run)
        groups[key][item.audio] = {"instruction": item.instruction, "response": line.raw or "",
                                   "label": sakura_label(item)}
    written = []
    for (model, prompt, subset, hop, run), results in sorted(groups.items()):
        suffix = "" if run == 0 else f"_run{run}"
        path = out_dir / model / prompt / f"{subset}_{hop}{suffix}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"attribute": subset, "type": hop, "results": results}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written



def baseline_lines(dataset: Dataset) -> Sequence[Line]:
    """The dataset's baseline lines (``baseline_cot`` / ``baseline_direct``) in their order, found
    in its condition column: what the judge, category and prediction exports read."""
    return dataset_rows(dataset, dataset_rows_where(dataset, "condition", _BASELINES)).lines


_BASELINES = frozenset(BASELINE_CONDITION.values())


def dataset_cut_rows(dataset: Dataset) -> List[Dict[str, Any]]:
    """``benchmark_reporting.cut_rows`` of the dataset, read from its columns."""
    return benchmark_reporting.cut_rows_of_columns(*dataset_columns(dataset, benchmark_reporting.CUT_FIELDS))


def _benchmark_exports(dataset: Dataset, out: Path, settings: Settings,
                       cuts: Optional[List[Dict[str, Any]]] = None) -> str:
    """category_accuracy.csv, audio_cuts.csv (``cuts``: the dataset's ``dataset_cut_rows``, worked
    out here when not given) and the MMAU / MMAR prediction files; returns the note."""
    category = []
    baselines = baseline_lines(dataset)
    for name in sorted(set(dataset_columns(dataset, ("dataset",))[0])):
        spec = benchmark_reporting.spec_of(name)
        if spec is not None:
            category += benchmark_reporting.category_rows(baselines, dataset.manifest, spec,
                                                          lambda values, items: _ci(values, settings, items))
    if category:
        write_csv(out / "category_accuracy.csv", benchmark_reporting.CATEGORY_COLUMNS, category)
    cuts = dataset_cut_rows(dataset) if cuts is None else cuts
    if cuts:
        write_csv(out / "audio_cuts.csv", benchmark_reporting.CUT_COLUMNS, cuts)
    if not category:
        return ""
    if not dataset.manifest:
        return "Skipped: the prediction files are built from the manifests (pass --manifest_dir)."
    written = benchmark_reporting.export_predictions(baselines, dataset.manifest, out / "benchmark_eval")
    return (f"{len(written)} file(s) under `benchmark_eval/<benchmark>/<model>/<cot|direct>/`: "
            "`mmau-test-mini.json` for MMAU's `evaluation.py --input FILE` (key `model_output`) and "
            "`MMAR-predictions.jsonl` for MMAR's `code/evaluation.py --input FILE` (key `answer_prediction`; "
            "`thinking_prediction` holds the reasoning). The prediction is the text of the option audiofaith parsed "
            "(empty when none parsed); the raw response is kept as `audiofaith_response`. Their word-set match also "
            "credits a wrong option with the same words as the answer (docs/benchmarks.md), so it can score slightly "
            "above the exact-letter accuracy here. Run 0 plain; other runs get a `_run<r>` suffix.")


def _judge(dataset: Dataset, judge_dir: Path, manifest_dir: Optional[Path]) -> str:
    if not dataset.manifest:
        note = f"Skipped: no manifests found at `{manifest_dir}` (pass --manifest_dir)."
        log.info("judge export: %s", note)
        return note
    written = export_judge_inputs(baseline_lines(dataset), dataset.manifest, judge_dir)
    return (f"{len(written)} file(s) under `sakura_judge/<model>/<cot|direct>/<track>_<hop>.json`, the input format "
            "of SAKURA's `evaluation/llm_judge.py` (run 0; other runs get a `_run<r>` suffix).")

