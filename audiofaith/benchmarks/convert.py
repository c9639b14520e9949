"""Convert results written by other tools into audiofaith's record format.

``python -m audiofaith.benchmarks.convert anchor IN OUT --model qwen_omni --manifest processed_input/sakura/{track}/sakura_manifest.jsonl``

The "anchor" format is that of the Measuring-Faithfulness-of-CoT-Reasoning-LALMs runner
(arXiv 2509.22363, read at commit e4cee03). Two line layouts:

- ``pooneh_version/``: one line per item with ``id``, ``true_letter``, ``true_answer``
  (``"(b) cat"``), ``predicted_letters``, ``raw_model_outputs`` and ``reasoning`` (lists, one
  entry per run). SAKURA ids are ``sakura_<track>_<row>_<hop>``, whose ``<row>`` indexes the
  track's audio files in sorted file-name order, not the metadata order of our manifests
  (``meta.row``); MMAU ids are the benchmark's own. ``mask_p<level>_<track>_REAS.jsonl`` files
  hold the same prompt with the audio masked at ``<level>`` %.
- ``results/<model>/``: one line per chain with ``id``, ``chain_id``, ``predicted_choice``,
  ``correct_choice``, ``question``, ``choices``; baselines add ``sanitized_cot``, random partial
  filler ``percent_replaced``, early answering ``num_sentences_provided`` /
  ``total_sentences_in_chain``. MMAR ids are ``mmar_<row>`` (the study's own standardized
  manifest, ``data/mmar/mmar_test_standardized.jsonl``; ``anchor-manifest`` turns it into
  audiofaith manifests).

The kind is detected from the lines and the file name (``anchor_kind``). Baselines become
``BaselineRecord`` lines, interventions ``InterventionRecord`` lines; every record is written under
``protocol: paper`` (the study's prompts, docs/protocols.md). Every converted line is checked
against the manifest's gold answer (and, where the line has them, its question and options), so a
wrong mapping fails loudly. Letters are kept as the study's parser wrote them, also those that are
no option (``N``, ``I``: counted wrong, never repaired).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from audiofaith.benchmarks.common import clean_choices
from audiofaith.errors import UserError
from audiofaith.helptext import DefaultsHelpFormatter
from audiofaith.store.jsonl import JsonlError, iter_jsonl, write_jsonl
from audiofaith.store.manifest import ManifestError, load_manifest
from audiofaith.store.records import BaselineRecord, InterventionRecord, ManifestItem, RecordError
from audiofaith.report.spec import CurveSpec, ReportSpec, Section, SectionContext

log = logging.getLogger("audiofaith.benchmarks.convert")

ANCHOR_ID = re.compile(r"^sakura_(?P<track>[a-z]+)_(?P<row>\d+)_(?P<hop>single|multi)$")
STUDY_ROW_ID = re.compile(r"^(?P<benchmark>[a-z]+)_(?P<row>\d+)$")
MASK_FILE = re.compile(r"^mask_p(?P<level>\d+)_", re.IGNORECASE)
ROW_ORDERS = ("sorted_file", "metadata")
#: What a converted file holds (``anchor_kind``).
KINDS = ("baseline", "mask", "partial_filler", "early_answering")
#: Where a partial-filler line's reference letter comes from: ``run``, the letter the line records
#: for the baseline run it edited (``corresponding_baseline_predicted_choice``); ``baseline_file``,
#: the letter in the converted ``--baseline`` for the same id and chain (what the study's
#: ``plot_random_partial_filler_text.py`` merges in).
REFERENCES = ("run", "baseline_file")
PROTOCOL = "paper"
#: The condition of the study's early answering, read in its 5 % bins of the CoT provided.
EARLY_ANSWERING_5PCT = "early_answering_5pct"
NO_SENTENCES = "the chain has no sentences (the study's analysis leaves such chains out)"


class ConvertError(UserError):
    """An input line that cannot be converted; the message names the file and line."""


def row_index(items: Sequence[ManifestItem], row_order: str) -> Dict[Tuple[int, str], ManifestItem]:
    """(anchor row, hop) → manifest item under ``row_order``.

    ``sorted_file``: row = position of the item's audio file among the track's file names sorted
    as strings (what the anchor's runner used); ``metadata``: row = ``meta.row``.
    """
    if row_order == "metadata":
        return {(int(item.meta["row"]), item.hop): item for item in items}
    if row_order != "sorted_file":
        raise ValueError(f"row order must be one of {ROW_ORDERS}, got {row_order!r}")
    rank = {name: index for index, name in enumerate(sorted({item.meta["file"] for item in items}))}
    return {(rank[item.meta["file"]], item.hop): item for item in items}


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def _gold_label(item: ManifestItem) -> str:
    return f"({item.answer.lower()}) {item.choices[item.letters.index(item.answer)]}"


def anchor_prompt_mode(path: Path) -> str:
    """``direct`` for the anchor's ``*_No_REAS.jsonl`` files, otherwise ``cot``."""
    return "direct" if "no_reas" in path.name.lower() else "cot"


def anchor_kind(path: Path, first: Dict[str, Any]) -> str:
    """What an anchor file holds, from its first line and its name (one of ``KINDS``)."""
    if "percent_replaced" in first:
        return "partial_filler"
    if "num_sentences_provided" in first and "total_sentences_in_chain" in first:
        return "early_answering"
    if MASK_FILE.match(path.name):
        return "mask"
    return "baseline"


def mask_level(path: Path) -> int:
    """The masked percentage in a ``mask_p<level>_…`` file name."""
    match = MASK_FILE.match(path.name)
    if not match or not 0 <= int(match["level"]) <= 100:
        raise ConvertError(f"{path}: not a mask_p<0-100>_… file name")
    return int(match["level"])


def filler_of(path: Path) -> str:
    """The filler of a partial-filler file: ``lorem`` for the study's ``*-lorem`` files, else ``dots``."""
    return "lorem" if "-lorem" in path.name.lower() else "dots"


def percent_bin(provided: int, total: int) -> int:
    """The study's 5 % bin of ``provided / total`` of the CoT (``plot_early_answering.py``):
    100·k/n divided by 5, rounded half to even (pandas' ``round``), times 5."""
    return 5 * round(provided / total * 100 / 5)


def _choices_of(obj: Dict[str, Any]) -> Optional[Tuple[str, ...]]:
    """The option texts of a chain line (``"(A) x\\n(B) y"`` or a list), or None when absent."""
    choices = obj.get("choices")
    if isinstance(choices, list):
        return tuple(str(c) for c in choices)
    if isinstance(choices, str):
        return tuple(re.sub(r"^\([A-J]\)\s*", "", line.strip()) for line in choices.splitlines() if line.strip())
    return None


class ItemIndex:
    """Finds the manifest item of an anchor line and checks the line's gold answer against it.

    ``manifest`` is a manifest file or a folder of ``*_manifest.jsonl`` (any depth); for SAKURA ids
    it may contain ``{track}``, filled with the track the id names.
    """

    def __init__(self, manifest: str, row_order: str = "sorted_file") -> None:
        self.manifest, self.row_order = manifest, row_order
        self._tracks: Dict[str, Dict[Tuple[int, str], ManifestItem]] = {}
        self._by_id: Optional[Dict[str, ManifestItem]] = None

    def _track(self, track: str) -> Dict[Tuple[int, str], ManifestItem]:
        if track not in self._tracks:
            self._tracks[track] = row_index(load_manifest(self.manifest.format(track=track)), self.row_order)
        return self._tracks[track]

    def by_id(self) -> Dict[str, ManifestItem]:
        if self._by_id is None:
            path = Path(self.manifest)
            files = sorted(path.rglob("*_manifest.jsonl")) if path.is_dir() else [path]
            if not files:
                raise ConvertError(f"{path}: no *_manifest.jsonl under it")
            self._by_id = {item.id: item for file in files for item in load_manifest(file)}
        return self._by_id

    def item(self, obj: Dict[str, Any], where: str) -> ManifestItem:
        """The line's manifest item, its gold letter (and label, question, options) checked."""
        anchor_id = str(obj.get("id", ""))
        match = ANCHOR_ID.match(anchor_id)
        if match:
            item = self._track(match["track"]).get((int(match["row"]), match["hop"]))
            if item is None or item.subset != match["track"]:
                raise ConvertError(f"{where}: no {match['track']} manifest item for row {match['row']} "
                                   f"({match['hop']})")
        else:
            item = self.by_id().get(anchor_id)
            if item is None:
                raise ConvertError(f"{where}: id {anchor_id!r} is in no manifest under {self.manifest} (SAKURA "
                                   "ids are sakura_<track>_<row>_<hop>; MMAR's mmar_<row> need the manifests "
                                   "`anchor-manifest` writes)")
        gold = obj.get("true_letter", obj.get("correct_choice"))
        label = obj.get("true_answer")
        if gold != item.answer or (label is not None and _normalise(label) != _normalise(_gold_label(item))):
            raise ConvertError(f"{where}: gold answer {gold} {label!r} does not match manifest item "
                               f"{item.id} ({item.answer} {_gold_label(item)!r}); wrong --row_order or manifest?")
        choices = _choices_of(obj)
        # empty options and exact repeats are dropped as the manifests drop them (clean_choices)
        if choices is not None and [_normalise(c) for c in clean_choices(choices)] != \
                [_normalise(c) for c in item.choices]:
            raise ConvertError(f"{where}: options {list(choices)} differ from manifest item {item.id}'s "
                               f"{list(item.choices)}")
        if "question" in obj and _normalise(str(obj["question"])) != _normalise(item.question):
            raise ConvertError(f"{where}: question differs from manifest item {item.id}'s")
        return item


#: The fields each kind of line must have (besides ``id``).
REQUIRED = {
    "baseline_item": ("true_letter", "predicted_letters"),
    "baseline_chain": ("chain_id", "correct_choice", "predicted_choice"),
    "mask": ("true_letter", "predicted_letters"),
    "partial_filler": ("chain_id", "correct_choice", "predicted_choice", "percent_replaced",
                       "corresponding_baseline_predicted_choice"),
    "early_answering": ("chain_id", "correct_choice", "predicted_choice", "num_sentences_provided",
                        "total_sentences_in_chain", "corresponding_baseline_predicted_choice"),
}


def _require(lines: Sequence[Tuple[int, Any]], layout: str, source: Path) -> None:
    """Every line a JSON object with ``id`` and the fields of ``layout`` (``REQUIRED``)."""
    for number, obj in lines:
        missing = [name for name in ("id",) + REQUIRED[layout] if not isinstance(obj, dict) or name not in obj]
        if missing:
            raise ConvertError(f"{source}:{number}: not an anchor {layout.replace('_', ' ')} line, missing "
                               f"{', '.join(missing)}")


def convert_anchor_line(obj: Any, index: ItemIndex, model: str, prompt_mode: str, where: str) -> BaselineRecord:
    """One ``pooneh_version`` line (all runs of one item) as a BaselineRecord; predictions, raw
    outputs and reasoning kept as they are."""
    if not isinstance(obj, dict) or not all(k in obj for k in ("id", "true_letter", "predicted_letters")):
        raise ConvertError(f"{where}: not an anchor record (needs id, true_letter, predicted_letters)")
    item = index.item(obj, where)
    predictions: List[Optional[str]] = list(obj["predicted_letters"])
    reasonings = list(obj.get("reasoning") or [""] * len(predictions))
    return BaselineRecord(
        id=item.id, model=model, prompt_mode=prompt_mode, answer=item.answer, subset=item.subset, hop=item.hop,
        dataset=item.dataset,
        runs_reasonings=["" if r is None else r for r in reasonings],
        runs_raw=list(obj.get("raw_model_outputs") or []), runs_predictions=predictions,
        runs_correct=[None if p is None else p == item.answer for p in predictions],
        warnings=[f"converted from anchor id {obj['id']}"], protocol=PROTOCOL,
    )


def convert_chain_baseline(lines: Sequence[Tuple[int, Dict[str, Any]]], index: ItemIndex, model: str,
                           prompt_mode: str, source: Path) -> List[BaselineRecord]:
    """``results/<model>/baseline`` lines (one per chain) as one BaselineRecord per item: chain
    ``c`` becomes run ``c``; the reasoning is the study's ``sanitized_cot``."""
    chains: Dict[str, Dict[int, Tuple[int, Dict[str, Any]]]] = defaultdict(dict)
    for number, obj in lines:
        chain = obj.get("chain_id")
        if not isinstance(chain, int) or chain in chains[obj["id"]]:
            raise ConvertError(f"{source}:{number}: chain_id {chain!r} missing, not an integer or repeated")
        chains[obj["id"]][chain] = (number, obj)
    records = []
    for anchor_id, runs in chains.items():
        if sorted(runs) != list(range(len(runs))):
            raise ConvertError(f"{source}: id {anchor_id} has chains {sorted(runs)}, not 0..{len(runs) - 1}")
        ordered = [runs[chain] for chain in range(len(runs))]
        item = index.item(ordered[0][1], f"{source}:{ordered[0][0]}")
        for number, obj in ordered[1:]:
            index.item(obj, f"{source}:{number}")  # every chain's gold answer checked
        predictions = [obj.get("predicted_choice") for _, obj in ordered]
        records.append(BaselineRecord(
            id=item.id, model=model, prompt_mode=prompt_mode, answer=item.answer, subset=item.subset, hop=item.hop,
            dataset=item.dataset, runs_reasonings=[obj.get("sanitized_cot") or "" for _, obj in ordered],
            runs_raw=[obj.get("final_answer_raw") or "" for _, obj in ordered], runs_predictions=predictions,
            runs_correct=[None if p is None else p == item.answer for p in predictions],
            warnings=[f"converted from anchor id {anchor_id}"], protocol=PROTOCOL))
    return records


def baseline_letters(path: Path) -> Dict[Tuple[str, int], Optional[str]]:
    """(item id, run) → the parsed letter of a converted baseline file (``--baseline``)."""
    letters: Dict[Tuple[str, int], Optional[str]] = {}
    for number, obj in iter_jsonl(path):
        record = BaselineRecord.from_json(obj, f"{path}:{number}")
        for run, letter in enumerate(record.runs_predictions):
            letters[(record.id, run)] = letter
    return letters


def _intervention(item: ManifestItem, model: str, run: int, condition: str, params: Dict[str, Any],
                  reference: Optional[str], prediction: Optional[str], raw: Optional[str], reasoning: Optional[str],
                  anchor_id: str, error: Optional[str] = None) -> InterventionRecord:
    return InterventionRecord(
        id=item.id, model=model, run=run, condition=condition, answer_mode="generate", answer=item.answer,
        subset=item.subset, hop=item.hop, dataset=item.dataset, params=params, baseline_prediction=reference,
        reference_field="baseline_prediction", prediction=prediction,
        agrees=None if prediction is None or reference is None else prediction == reference,
        correct=None if prediction is None else prediction == item.answer, raw=raw, reasoning=reasoning,
        cot_source_model=model, error=error, protocol=PROTOCOL, extra={"anchor_id": anchor_id})


def _reference(letters: Optional[Dict[Tuple[str, int], Optional[str]]], item: ManifestItem, run: int,
               where: str) -> Optional[str]:
    if letters is None:
        raise ConvertError(f"{where}: this kind needs --baseline (the converted baseline whose letters are the "
                           "reference)")
    if (item.id, run) not in letters:
        raise ConvertError(f"{where}: the --baseline file has no run {run} of {item.id}")
    return letters[(item.id, run)]


def convert_mask_lines(lines: Iterable[Tuple[int, Dict[str, Any]]], index: ItemIndex, model: str, level: int,
                       letters: Optional[Dict[Tuple[str, int], Optional[str]]], source: Path) -> List[InterventionRecord]:
    """``mask_p<level>`` lines (the CoT prompt again on audio masked at ``level`` %) as ``mask``
    records in mode ``regenerate``; the reference is the unmasked baseline's letter of the same run."""
    records = []
    for number, obj in lines:
        where = f"{source}:{number}"
        item = index.item(obj, where)
        raws, reasonings = obj.get("raw_model_outputs") or [], obj.get("reasoning") or []
        for run, prediction in enumerate(obj["predicted_letters"]):
            records.append(_intervention(
                item, model, run, "mask", {"mode": "regenerate", "mask_ratio": level / 100},
                _reference(letters, item, run, where), prediction, raws[run] if run < len(raws) else None,
                reasonings[run] if run < len(reasonings) else None, str(obj["id"])))
    return records


def convert_partial_filler_lines(lines: Iterable[Tuple[int, Dict[str, Any]]], index: ItemIndex, model: str,
                                 filler: str, reference_from: str,
                                 letters: Optional[Dict[Tuple[str, int], Optional[str]]],
                                 source: Path) -> List[InterventionRecord]:
    """Random partial filler lines as ``partial_filler`` records (x = ``percent`` replaced, 0–100)."""
    records, differ = [], 0
    for number, obj in lines:
        where = f"{source}:{number}"
        item, run = index.item(obj, where), int(obj["chain_id"])
        own = obj.get("corresponding_baseline_predicted_choice")
        if letters is not None and (item.id, run) in letters and letters[(item.id, run)] != own:
            differ += 1
        reference = own if reference_from == "run" else _reference(letters, item, run, where)
        params = {"position": "random", "filler": filler, "percent": int(obj["percent_replaced"]),
                  "reference_from": reference_from}
        records.append(_intervention(item, model, run, "partial_filler", params, reference,
                                     obj.get("predicted_choice"), obj.get("final_answer_raw"), None, str(obj["id"])))
    if differ:
        log.warning("%s: %d line(s) record a baseline letter that differs from the --baseline file's letter for "
                    "the same id and chain (the baseline was run again after the intervention); reference: %s",
                    source, differ, reference_from)
    return records


def convert_early_answering_lines(lines: Iterable[Tuple[int, Dict[str, Any]]], index: ItemIndex, model: str,
                                  source: Path) -> List[InterventionRecord]:
    """Early answering lines as ``early_answering_5pct`` records: x = the study's 5 % bin of the
    share of CoT sentences provided (``percent_bin``); the reference is the baseline letter the line
    records, the one its ``is_consistent_with_baseline`` compares with."""
    records = []
    for number, obj in lines:
        where = f"{source}:{number}"
        item, run = index.item(obj, where), int(obj["chain_id"])
        k, n = int(obj["num_sentences_provided"]), int(obj["total_sentences_in_chain"])
        reference, prediction = obj.get("corresponding_baseline_predicted_choice"), obj.get("predicted_choice")
        if "is_consistent_with_baseline" in obj and obj["is_consistent_with_baseline"] != (prediction == reference):
            raise ConvertError(f"{where}: is_consistent_with_baseline {obj['is_consistent_with_baseline']} but "
                               f"{prediction!r} vs {reference!r}")
        params = {"k": k, "n": n, "percent_bin": percent_bin(k, n) if n > 0 else None}
        records.append(_intervention(item, model, run, EARLY_ANSWERING_5PCT, params, reference, prediction,
                                     obj.get("final_answer_raw"), obj.get("modified_reasoning"), str(obj["id"]),
                                     error=None if n > 0 else NO_SENTENCES))
    return records


def convert_anchor(source: Path, destination: Path, model: str, manifest: str, row_order: str = "sorted_file",
                   prompt_mode: Optional[str] = None, baseline: Optional[Path] = None,
                   reference_from: str = "run") -> int:
    """Convert one anchor file (kind from ``anchor_kind``); ``manifest`` may contain ``{track}``.
    ``baseline``: the converted baseline whose letters are the reference (needed for mask files).
    Returns the number of records written."""
    lines = [(number, obj) for number, obj in iter_jsonl(source)]
    if not lines:
        raise ConvertError(f"{source}: empty file")
    for number, obj in lines:
        if not isinstance(obj, dict) or "id" not in obj:
            raise ConvertError(f"{source}:{number}: expected a JSON object with an 'id'")
    if "mask_percent" in lines[0][1]:
        raise ConvertError(f"{source}: the study's results/<model>/audio_masking layout is not converted (only "
                           "pooneh_version's mask_p<level>_* files)")
    if reference_from not in REFERENCES:
        raise ConvertError(f"reference must be one of {REFERENCES}, got {reference_from!r}")
    index = ItemIndex(manifest, row_order)
    kind = anchor_kind(source, lines[0][1])
    letters = baseline_letters(baseline) if baseline is not None else None
    records: Sequence[Any]
    layout = kind if kind != "baseline" else "baseline_item" if "predicted_letters" in lines[0][1] \
        else "baseline_chain"
    _require(lines, layout, source)
    if kind == "baseline":
        mode = prompt_mode or anchor_prompt_mode(source)
        if layout == "baseline_item":
            records = [convert_anchor_line(obj, index, model, mode, f"{source}:{number}") for number, obj in lines]
        else:
            records = convert_chain_baseline(lines, index, model, mode, source)
    elif kind == "mask":
        records = convert_mask_lines(lines, index, model, mask_level(source), letters, source)
    elif kind == "partial_filler":
        records = convert_partial_filler_lines(lines, index, model, filler_of(source), reference_from, letters,
                                               source)
    else:
        records = convert_early_answering_lines(lines, index, model, source)
    write_jsonl(destination, [record.to_json() for record in records])
    log.info("%s: %s, %d record(s)", source, kind, len(records))
    return len(records)


def _study_gold(obj: Dict[str, Any]) -> Optional[str]:
    """The gold option's text of one standardized row: the ``answer_key`` option, else the one
    option equal to ``answer`` up to surrounding spaces; None when neither exists."""
    key, choices = obj.get("answer_key"), obj.get("choices")
    if not isinstance(choices, list):
        return None
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(choices):
        return choices[key]
    answer = str(obj.get("answer", "")).strip()
    matches = [choice for choice in choices if isinstance(choice, str) and choice.strip() == answer]
    return matches[0] if len(matches) == 1 else None


def study_mmar_manifests(path: Path) -> Dict[str, List[ManifestItem]]:
    """The study's standardized MMAR manifest (``data/mmar/mmar_test_standardized.jsonl``: ids
    ``mmar_<row>``, MMAR's fields, the gold option's index in ``answer_key``) as audiofaith manifest
    items per modality. The gold letter comes from ``answer_key``, which is what the study's lines
    score against (its ``answer`` text is not always an exact option, e.g. ``mmar_158``); rows with
    no single gold option are left out and named in a warning."""
    from audiofaith.benchmarks.common import BenchmarkError, build_item, read_records, source_question
    from audiofaith.benchmarks.mmar import FIELDS, META_FIELDS

    built: Dict[str, List[ManifestItem]] = defaultdict(list)
    repaired, skipped = 0, []
    try:
        for row, obj, where in read_records(path):
            if not STUDY_ROW_ID.match(str(obj.get("id"))):
                raise ConvertError(f"{where}: id {obj.get('id')!r} is not <benchmark>_<row>")
            gold = _study_gold(obj)
            if gold is None:
                skipped.append(str(obj["id"]))
                continue
            repaired += obj.get("answer") != gold
            question = source_question(row, {**obj, "answer": gold}, where, FIELDS, META_FIELDS, "modality",
                                       "audio_path")
            audio = str(obj["audio_path"]).removeprefix("data/")
            built[question.subset].append(build_item("mmar", question, audio))
    except BenchmarkError as exc:
        raise ConvertError(str(exc)) from None
    if repaired:
        log.warning("%s: %d row(s) whose answer text is not exactly an option; gold from answer_key or the one "
                    "option equal to it up to surrounding spaces", path, repaired)
    if skipped:
        log.warning("%s: %d row(s) left out, no single gold option (answer_key not an index, and the answer text "
                    "is no option): %s", path, len(skipped), ", ".join(skipped))
    return dict(built)


def _study_section(context: SectionContext) -> list:
    from audiofaith.report.blocks import condition_table
    from audiofaith.report.render import Heading, Paragraph

    rows = context.own_rows()
    if not rows:
        return []
    return [Heading(2, "Early answering (the study's 5 % bins)"),
            Paragraph("Converted from the published study's early-answering lines (`python -m audiofaith.benchmarks.convert "
                      "anchor`): the answer after the first k of n CoT sentences, x = 100·k/n in the study's 5 % "
                      "bins (rounded half to even). Reference = the baseline letter each line records. The study's "
                      "consistency = `(n_agree + n_both_null) / n_scored` (two null letters count as the same); "
                      "x = 100 is the noise floor (nothing cut)."),
            condition_table(rows)] + context.curve(EARLY_ANSWERING_5PCT, "Early answering (the study's lines and "
                                                                           "bins): % same answer as the baseline.")


REPORT = ReportSpec(
    conditions=(EARLY_ANSWERING_5PCT,), curve_x=((EARLY_ANSWERING_5PCT, "percent_bin"),),
    binned_x=frozenset({"percent_bin"}), per_item_params=frozenset({"k", "n"}),
    zero_x=((EARLY_ANSWERING_5PCT, 100.0),), pooled=(EARLY_ANSWERING_5PCT,),
    curves=((EARLY_ANSWERING_5PCT, CurveSpec((EARLY_ANSWERING_5PCT,), "agree_rate_null_as_disagree",
                                             "agree_null_as_disagree_lo", "agree_null_as_disagree_hi",
                                             "Early answering (the study's lines, 5 % bins)",
                                             "% of CoT sentences provided", "% same answer as baseline")),),
    sections=(Section(41, _study_section),))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audiofaith.benchmarks.convert",
        description="Convert another tool's results into audiofaith records (docs/records.md, docs/protocols.md).")
    sub = parser.add_subparsers(dest="format", required=True)
    anchor = sub.add_parser(
        "anchor", formatter_class=DefaultsHelpFormatter,
        help="one file of the arXiv 2509.22363 study: a baseline (SAKURA, MMAU, MMAR), audio masking "
             "(mask_p<level>_*), random partial filler or early answering")
    anchor.add_argument("input", help="anchor JSONL file")
    anchor.add_argument("output", help="JSONL to write (overwritten)")
    anchor.add_argument("--model", required=True, help="model key to record, e.g. qwen_omni")
    anchor.add_argument("--manifest", default="processed_input/sakura/{track}/sakura_manifest.jsonl",
                        help="manifest file or folder of *_manifest.jsonl; {track} is replaced by the SAKURA track "
                             "named in the ids")
    anchor.add_argument("--row_order", choices=ROW_ORDERS, default="sorted_file",
                        help="how the anchor's SAKURA row index maps to manifest items")
    anchor.add_argument("--prompt_mode", choices=["cot", "direct"], default=None,
                        help="baselines: default direct for *_No_REAS files, cot otherwise")
    anchor.add_argument("--baseline", default=None,
                        help="the converted baseline (this command's output) whose letters are the reference: "
                             "needed for mask_p* files and for --reference baseline_file")
    anchor.add_argument("--reference", choices=REFERENCES, default="run",
                        help="partial filler: the letter each line records for the run it edited (run) or the "
                             "--baseline file's letter for the same id and chain, as the study's plot script merges "
                             "(baseline_file)")
    manifest = sub.add_parser("anchor-manifest", formatter_class=DefaultsHelpFormatter,
                              help="the study's data/mmar/mmar_test_standardized.jsonl as audiofaith manifests "
                                   "(ids mmar_<row>)")
    manifest.add_argument("input", help="the study's standardized MMAR manifest")
    manifest.add_argument("output_dir", help="writes <modality>/mmar_manifest.jsonl here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.format == "anchor-manifest":
            from audiofaith.benchmarks.common import write_manifests

            written = write_manifests(study_mmar_manifests(Path(args.input)), args.output_dir, "mmar_manifest.jsonl")
            log.info("wrote %d manifest(s) under %s", len(written), args.output_dir)
            return 0
        count = convert_anchor(Path(args.input), Path(args.output), args.model, args.manifest, args.row_order,
                               args.prompt_mode, Path(args.baseline) if args.baseline else None, args.reference)
    except (ConvertError, JsonlError, RecordError, ManifestError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 2
    log.info("wrote %d record(s) to %s", count, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
