"""Loading and joining: every output JSONL line, read through its record type, as a ``Line``."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import math
import operator
import os
import pickle
import signal
import sys
import threading
import time
from sys import intern
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import chain, compress
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Container, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from audiofaith.benchmarks.reporting import audio_cut
from audiofaith.errors import UserError
from audiofaith.store.jsonl import fast_json_loads, iter_jsonl, iter_jsonl_batches
from audiofaith.store.manifest import load_manifest
from audiofaith.text.protocols import PAPER
from audiofaith.store.records import (REFERENCE_FIELDS, SCHEMA_VERSION, BaselineRecord, InterventionRecord, InterventionShape,
                                      ManifestItem, RecordError, RecordView, intervention_shape, is_baseline_line, letter_readout,
                                      letter_tie)
# Line, Dataset and the constants live in rows.py (no import cycle); imported from here by older code too.
from audiofaith.report.rows import (BASELINE_CONDITION, HOP_ORDER, POOLED, REFERENCE_KINDS, TRACK_ORDER,  # noqa: F401
                                    ColumnLines, Dataset, Line, Numbering, line_columns)
from audiofaith.report.spec import SpecIndex, spec_index
from audiofaith.store.sharding import is_shard_file

log = logging.getLogger("audiofaith.report")



class ReportError(UserError):
    """Inputs the report cannot use; the message names the file and line."""


# ----------------------------------------------------------------------------------------------
# Loading and joining




def clip_key(item_id: str, manifest: Dict[str, ManifestItem]) -> str:
    """The clip an item asks about: its manifest audio path, else its id without the hop part
    (``sakura/animal/single/dog28`` → ``sakura/animal/dog28``). Single- and multi-hop items of one
    clip share it, so a bootstrap resamples them together."""
    item = manifest.get(item_id)
    if item is not None:
        return item.audio
    parts = item_id.split("/")
    if len(parts) >= 4 and parts[2] in HOP_ORDER:
        return "/".join(parts[:2] + parts[3:])
    return item_id


def find_output_files(root: Path, exclude: Optional[Path] = None) -> List[Path]:
    """Baseline, conditioned and intervention JSONL files under ``root``, sorted; shard files
    (``--shard K/N``, launcher ranks, SLURM arrays) are left out: their merged output holds their lines."""
    patterns = ("baseline_*.jsonl", "conditioned_*.jsonl", "interventions/*.jsonl")
    found = {path for pattern in patterns for path in root.rglob(pattern)}
    shards = {path for path in found if is_shard_file(path)}
    if shards:
        log.info("%d shard file(s) under %s left out (their merged outputs are read)", len(shards), root)
    found -= shards
    if exclude is not None:
        found = {path for path in found if exclude.resolve() not in path.resolve().parents}
    return sorted(found)


def load_manifests(manifest_dir: Path) -> Dict[str, ManifestItem]:
    """All items of every ``*_manifest.jsonl`` under ``manifest_dir`` (any depth: ``processed_input``
    holds every benchmark) by id; empty (with a note) when absent. An id in two files is an error."""
    if not manifest_dir.is_dir():
        log.info("no manifests at %s: subsets/hops come from the records only; judge export skipped", manifest_dir)
        return {}
    items: Dict[str, ManifestItem] = {}
    source: Dict[str, Path] = {}
    for path in sorted(manifest_dir.rglob("*_manifest.jsonl")):
        for item in load_manifest(path):
            if item.id in items:
                raise ReportError(f"{path}: id {item.id!r} is also in {source[item.id]}; pass a --manifest_dir "
                                  "that holds each manifest once")
            items[item.id], source[item.id] = item, path
    return items


def protocol_label(model: str, protocol: Optional[str]) -> str:
    """The model name every table shows: plain under our protocol, marked under any other, so that
    results of two protocols are separate rows everywhere and never pooled or joined."""
    return model if protocol in (None, "", "ours") else f"{model} [{protocol} protocol]"


#: The error of a baseline record without runs: interned, so that a split load's child names it by
#: placeholder and the report's process puts in this same object (``_ChildColumns``).
NO_RUNS = sys.intern("no runs")


def _shared(value: Any) -> Any:
    """One object for every equal string a report holds per line (ids, models, tracks, variants,
    clips): study-scale reports keep millions of lines in memory."""
    return sys.intern(value) if type(value) is str else value


def thinking_label(model: str, thinking: Optional[str]) -> str:
    """The model name marked with its thinking mode (``--thinking on|off``, models with both modes),
    so the two modes are separate rows everywhere and never pooled or joined."""
    return model if not thinking else f"{model} [thinking {thinking}]"


def _locate_item(item_id: str, dataset: str, subset: str, hop: str, manifest: Dict[str, ManifestItem],
                 where: str) -> Tuple[str, str, str]:
    """(dataset, subset, hop) of a record with these fields: its own, else the manifest's, else a
    ``sakura/<subset>/<hop>/`` id's."""
    dataset, subset, hop = dataset or "", subset or "", hop or ""
    item = manifest.get(item_id)
    if item is not None:
        dataset, subset, hop = dataset or item.dataset, subset or item.subset, hop or item.hop
    parts = str(item_id).split("/")
    if (not subset or not hop) and len(parts) >= 4:
        subset, hop = subset or parts[1], hop or parts[2]
    if not dataset and len(parts) >= 4 and parts[0] == "sakura":
        dataset = "sakura"
    if not subset or not hop:
        raise ReportError(f"{where}: record {item_id!r} has no subset/hop and is not in the manifests")
    return dataset, subset, hop


def baseline_lines(record: BaselineRecord, manifest: Dict[str, ManifestItem], where: str,
                   memo: Optional["_Memo"] = None) -> List[Line]:
    """One Line per run of a baseline record (one error Line when the item failed); ``memo``: what
    the lines of one load call share (a fresh one when not given)."""
    if record.prompt_mode not in BASELINE_CONDITION:
        raise ReportError(f"{where}: prompt_mode must be 'cot' or 'direct', got {record.prompt_mode!r}")
    if not record.model:
        raise ReportError(f"{where}: baseline record without a 'model' field")
    memo = _Memo() if memo is None else memo
    item_id, dataset, subset, hop, cluster = memo.place(record.id, record.dataset, record.subset, record.hop,
                                                        manifest, where)
    answer = record.answer or (manifest[record.id].answer if record.id in manifest else "")
    answer = intern(answer) if type(answer) is str else answer
    model = _shared(protocol_label(thinking_label(record.model, record.thinking), record.protocol))
    condition = BASELINE_CONDITION[record.prompt_mode]
    cut = audio_cut(record.warnings) if record.error is None else None
    # positional, in Line's field order (_LINE_ORDER), as _ShapeReader.line builds its Lines
    if record.error is not None or not record.runs_predictions:
        return [Line(model, subset, hop, item_id, 0, condition, "", None, answer, None, None, False,
                     record.error or NO_RUNS, where, {}, NO_RESULTS, None, None, False, dataset, cut, "", None, None,
                     None, cluster, None, "", "")]
    runs = len(record.runs_predictions)
    raws = record.runs_raw if len(record.runs_raw) == runs else [None] * runs
    reasons = record.runs_finish_reasons if len(record.runs_finish_reasons) == runs else [None] * runs
    logprobs = record.runs_letter_logprobs
    return [Line(model, subset, hop, item_id, run, condition, "", None, answer,
                 intern(prediction) if type(prediction) is str else prediction, None, False, None, where, {}, NO_RESULTS,
                 raw, None, False, dataset, cut, "", _shared(record.cue_prediction(run)), None,
                 intern(reason) if type(reason) is str else reason, cluster,
                 letter_tie(logprobs[run]) if run < len(logprobs) else None, "", "")
            for run, (prediction, raw, reason) in enumerate(zip(record.runs_predictions, raws, reasons))]


def bin_tenth(value: float) -> float:
    """``value`` rounded to tenths, a half rounded up (0.25 → 0.3, 0.75 → 0.8): Python's ``round``
    rounds a half to the even tenth (0.25 → 0.2), which would bin k/n = 1/4 and 3/4 unevenly. The
    decimal digits of ``value`` (the records store fractions to 6 places) are rounded exactly."""
    return float(Decimal(repr(float(value))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _x_value(condition: str, params: Dict[str, Any], index: Optional[SpecIndex] = None) -> Optional[float]:
    index = spec_index() if index is None else index
    name = index.curve_x.get(condition)
    if name is None or params.get(name) is None:
        return None
    value = float(params[name])
    return bin_tenth(value) if name in index.binned_x else value


def _variant(condition: str, params: Dict[str, Any], index: Optional[SpecIndex] = None) -> str:
    index = spec_index() if index is None else index
    names = sorted(name for name in params
                   if name not in index.per_item_params and name != index.curve_x.get(condition))
    return ", ".join(f"{name}={params[name]}" for name in names)


def mode_of(variant: str) -> str:
    """The ``mode`` setting in a variant string ("mode=fixed_cot, ..." → "fixed_cot"), else ""."""
    for part in variant.split(", "):
        if part.startswith("mode="):
            return part[len("mode="):]
    return ""


def model_label(model: str, cot_source_model: Optional[str]) -> str:
    """The report's name for the lines of ``model``: its own name when the injected CoT is its own,
    else "X conditioned on Y's CoT" (written with --allow_foreign_cot), so such lines are never
    read as X's own faithfulness."""
    if cot_source_model and cot_source_model not in (model, "reference"):  # reference: its own variant
        return f"{model} conditioned on {cot_source_model}'s CoT"
    return model


def conditioned_line(record: InterventionRecord, manifest: Dict[str, ManifestItem], where: str,
                     index: Optional[SpecIndex] = None) -> Line:
    """A conditioned / intervention record as a Line (agreement and correctness recomputed);
    ``index``: the spec index (looked up when not given)."""
    return _intervention_line(vars(record), record.params, record.extra, lambda: record, manifest, where,
                              spec_index() if index is None else index)


@dataclass(frozen=True)
class _Setting:
    """What every line of one (condition, parameters, model, CoT source, thinking mode, protocol,
    answer mode) shares: worked out once, not per line."""

    spec: Any  # the condition's ReportSpec
    condition: str
    variant: str  # before the spec's ``variant_suffix``
    x: Optional[float]
    model: str
    answer_mode: str
    protocol: str


def _setting(condition: str, params: Dict[str, Any], model_name: str, cot_source_model: Any, thinking: Any,
             protocol: Any, answer_mode: Any, index: SpecIndex) -> _Setting:
    model = protocol_label(thinking_label(model_label(model_name, cot_source_model), thinking), protocol)
    return _Setting(index.spec(condition), _shared(condition), _shared(_variant(condition, params, index)),
                    _x_value(condition, params, index), _shared(model), _shared(answer_mode or ""),
                    _shared(protocol or ""))


def _value_key(value: Any) -> Any:
    """A parameter value as a key that tells apart what prints differently (``1``, ``1.0``, ``True``;
    ``-0.0`` and ``0.0``); a list or object value makes the key unhashable."""
    return (type(value), repr(value) if type(value) is float else value)


@dataclass
class _Memo:
    """What one load call works out once and reuses line by line: each item's place
    (``_locate_item`` and ``clip_key``, which depend on the manifest) and each setting. Only keys
    of plain strings (or None) are kept, so equal keys always print alike."""

    places: Dict[Tuple[str, str, str, str], Tuple[str, str, str, str, str]] = field(default_factory=dict)
    settings: Dict[Tuple, _Setting] = field(default_factory=dict)
    readers: Dict[InterventionShape, "_ShapeReader"] = field(default_factory=dict)
    groups: Dict[Tuple, Any] = field(default_factory=dict)  # a _Group, or _Groups by sign of their float zeros
    results: Dict[Tuple, Mapping[str, Any]] = field(default_factory=dict)  # shared results (``shared_result``)

    def shared_result(self, names: Tuple[str, ...], values: Tuple) -> Mapping[str, Any]:
        """The results ``names`` = ``values`` of a line as one read-only mapping shared by every line
        with the same results (a study has a few dozen, among millions of lines): values of one type
        (``True`` and ``1`` apart) and only strings, booleans and None; other values (floats print
        ``-0.0`` and ``0.0`` apart, lists are unhashable) get a dict of the line's own."""
        types = tuple(map(type, values))
        key = (names, values, types)
        try:
            known = self.results.get(key)
        except TypeError:  # a list or object value
            return dict(zip(names, values))
        if known is None:
            if not _SHARED_RESULT_TYPES.issuperset(types) or len(self.results) >= SETTINGS_KEPT:
                return dict(zip(names, values))
            known = self.results[key] = MappingProxyType(dict(zip(names, values)))
        return known

    def place(self, item_id: Any, dataset: Any, subset: Any, hop: Any, manifest: Dict[str, ManifestItem],
              where: str) -> Tuple[Any, str, str, str, str]:
        """(id, dataset, subset, hop, clip) of a line with these fields, shared strings."""
        key = (item_id, dataset, subset, hop)
        try:  # only keys of plain strings are kept, and nothing else equals a string
            known = self.places.get(key)
        except TypeError:  # an unhashable field: worked out (and rejected) below
            known = None
        if known is None:
            located = _locate_item(item_id, dataset, subset, hop, manifest, where)
            known = (_shared(item_id),) + tuple(map(_shared, located)) + (_shared(clip_key(item_id, manifest)),)
            if _plain(key):
                self.places[key] = known
        return known

    def setting(self, condition: Any, params: Dict[str, Any], model_name: Any, cot_source_model: Any, thinking: Any,
                protocol: Any, answer_mode: Any, index: SpecIndex) -> _Setting:
        parts = (condition, model_name, cot_source_model, thinking, protocol, answer_mode)
        key: Optional[Tuple] = None
        if _plain(parts):
            try:
                key = parts + tuple((name, _value_key(value)) for name, value in params.items())
                known = self.settings.get(key)
            except TypeError:  # a list or object parameter: worked out for this line alone
                key = known = None
            if known is not None:
                return known
        known = _setting(condition, params, model_name, cot_source_model, thinking, protocol, answer_mode, index)
        if key is not None and len(self.settings) < SETTINGS_KEPT:
            self.settings[key] = known
        return known

    def group(self, reader: _ShapeReader, values: Tuple, index: SpecIndex) -> _Group:
        """The group of a line of ``reader``'s shape whose ``_SETTING_VALUES`` and parameters are
        ``values``: kept by the values and their types (``1``, ``1.0`` and ``True`` apart), and for
        values with a float zero by its sign too (``0.0`` and ``-0.0`` apart); worked out line by
        line when a value is unhashable (a list) or NaN (never equal to itself)."""
        key: Optional[Tuple] = (reader, values, tuple(map(type, values)))
        try:
            known = self.groups.get(key)
        except TypeError:  # a list or object value: worked out for this line alone
            key = known = None
        if type(known) is dict:  # values with a float zero: one group per sign
            known = known.get(_zero_signs(values))
        if known is not None:
            return known
        condition, model_name, cot_source_model, thinking, protocol, answer_mode = values[:len(_SETTING_VALUES)]
        params = dict(zip(reader.shape.param_names, values[len(_SETTING_VALUES):]))
        setting = self.setting(condition, params, model_name, cot_source_model, thinking, protocol, answer_mode, index)
        extras = frozenset(reader.shape.extra_names)
        readout = answer_mode != "generate" and params.get("mode") != "regenerate" and not reader.has_cue_prediction
        result_names = tuple(name for name in setting.spec.result_fields if name in extras)
        known = _Group(setting, params, result_names, "legacy" if readout else "parsed",
                       setting.spec.cross_reference is None,
                       operator.itemgetter(*result_names) if len(result_names) > 1 else
                       (lambda obj, name=result_names[0]: (obj[name],)) if result_names else tuple)
        if key is not None and len(self.groups) < SETTINGS_KEPT and all(value == value for value in values):
            signs = _zero_signs(values)
            if signs:
                self.groups.setdefault(key, {})[signs] = known
            else:
                self.groups[key] = known
        return known


def _zero_signs(values: Tuple) -> Tuple[float, ...]:
    """The signs of the float zeros among ``values`` (``-0.0 == 0.0``, but they print apart)."""
    return tuple(math.copysign(1.0, value) for value in values if type(value) is float and value == 0)


#: Distinct settings a load call keeps (a study has a few hundred).
SETTINGS_KEPT = 65536


def _plain(parts: Tuple) -> bool:
    """Whether every part is a string or None (so equal keys are equal values of one type)."""
    return _PLAIN_TYPES.issuperset(map(type, parts))


_PLAIN_TYPES = frozenset({str, type(None)})
#: The types of result values that ``_Memo.shared_result`` shares.
_SHARED_RESULT_TYPES = frozenset({str, bool, type(None)})
#: The results of a line without any (``Line.result``), shared: read-only.
NO_RESULTS: Mapping[str, Any] = MappingProxyType({})


#: What a Line takes from a conditioned / intervention line, in ``_ShapeReader.line``'s order:
#: (name, where it is read, its value when the line lacks it), "field" as ``intervention_fields``'
#: record fields, "extra" as its extra results.
_ABSENT = object()
_LINE_VALUES = (("id", "field", None), ("model", "field", ""), ("run", "field", None), ("dataset", "field", ""),
                ("subset", "field", ""), ("hop", "field", ""), ("answer", "field", ""),
                ("reference_field", "field", ""), ("baseline_prediction", "field", None),
                ("baseline_cue_prediction", "field", None), ("prediction", "field", None), ("error", "field", None),
                ("raw", "field", None), ("letter_logprobs", "field", None), ("finish_reason", "extra", None),
                ("rewrite_unchanged", "extra", None), ("audio_warnings", "extra", _ABSENT))
#: What a line's setting (``_Memo.setting``) depends on besides its parameters, in the same form.
_SETTING_VALUES = (("condition", "field", None), ("model", "field", ""), ("cot_source_model", "field", ""),
                   ("thinking", "extra", None), ("protocol", "field", "ours"), ("answer_mode", "field", ""))


@dataclass(frozen=True, eq=False)
class _ShapeReader:
    """How the lines of one shape (``records.InterventionShape``) become Lines: where each value a
    Line takes sits among the line's values (``tuple(obj.values())`` followed by the defaults of
    what the shape lacks), read for each line with one ``itemgetter`` call."""

    shape: InterventionShape
    defaults: Tuple[Any, ...]
    line_values: Callable[[Tuple], Tuple]
    setting_values: Callable[[Tuple], Tuple]  # (_SETTING_VALUES..., then the parameters in the shape's order)
    has_cue_prediction: bool  # an extra result "cue_prediction" (legacy references)
    line_positions: Tuple[int, ...]  # where ``line_values`` reads (for the columnar reader, ``_ShapeColumns``)
    setting_positions: Tuple[int, ...]  # where ``setting_values`` reads

    @classmethod
    def of(cls, shape: InterventionShape) -> "_ShapeReader":
        defaults: List[Any] = []
        fields, extras = frozenset(shape.field_names), frozenset(shape.extra_names)

        def position(name: str, kind: str, default: Any) -> int:
            if name in (fields if kind == "field" else extras):
                return shape.names.index(name)
            defaults.append(default)
            return len(shape.names) + len(defaults) - 1

        line_positions = [position(*spec) for spec in _LINE_VALUES]
        setting_positions = [position(*spec) for spec in _SETTING_VALUES]
        setting_positions += [shape.names.index(name) for name in shape.param_names]
        return cls(shape, tuple(defaults), operator.itemgetter(*line_positions),
                   operator.itemgetter(*setting_positions), "cue_prediction" in extras, tuple(line_positions),
                   tuple(setting_positions))

    def line(self, obj: Dict[str, Any], where: str, manifest: Dict[str, ManifestItem], memo: "_Memo",
             index: SpecIndex) -> Line:
        """The Line of one line of this shape: ``_intervention_line`` of its record's parts, reading
        each value by its place and sharing one parameters dict (and setting) per distinct setting."""
        values = (*obj.values(), *self.defaults)
        (item_id, model_name, run, dataset, subset, hop, answer, reference_field, baseline_prediction,
         baseline_cue_prediction, prediction, error, raw, letter_logprobs, finish_reason, rewrite_unchanged,
         audio_warnings) = self.line_values(values)
        if not model_name:
            raise ReportError(f"{where}: conditioned record without a 'model' field")
        try:  # memo.place and memo.group, their look-ups inlined (millions of lines)
            place = memo.places.get((item_id, dataset, subset, hop))
        except TypeError:  # an unhashable field: memo.place rejects it
            place = None
        if place is None:
            place = memo.place(item_id, dataset, subset, hop, manifest, where)
        item_id, dataset, subset, hop, cluster = place
        answer = answer or (manifest[item_id].answer if item_id in manifest else "")
        # one object per equal letter, as json.loads gives (orjson makes a new string per value)
        answer = intern(answer) if type(answer) is str else answer
        prediction = intern(prediction) if type(prediction) is str else prediction
        setting_values = self.setting_values(values)
        try:
            group = memo.groups.get((self, setting_values, tuple(map(type, setting_values))))
        except TypeError:  # a list or object parameter
            group = None
        if type(group) is not _Group:  # not known yet, or one of a float zero's groups
            group = memo.group(self, setting_values, index)
        setting = group.setting
        spec = setting.spec
        if reference_field:
            if reference_field not in REFERENCE_FIELDS:
                raise ReportError(f"{where}: reference_field must be one of {REFERENCE_FIELDS}, "
                                  f"got {reference_field!r}")
            if reference_field == "baseline_cue_prediction":
                reference, kind = baseline_cue_prediction, "readout"
            else:
                reference, kind = baseline_prediction, "parsed"
        else:  # written before both references were stored: join() looks for the baseline's read-out
            reference, kind = baseline_prediction, group.legacy_kind
        reference = intern(reference) if type(reference) is str else reference
        finish_reason = intern(finish_reason) if type(finish_reason) is str else finish_reason
        variant = setting.variant
        if spec.variant_suffix is not None:
            variant = _shared(variant + spec.variant_suffix(RecordView(obj, self.shape, group.params)))
        if group.shared_results:
            result = memo.shared_result(group.result_names, group.result_values(obj)) if group.result_names \
                else NO_RESULTS
        else:  # a family's cross_reference fills in results of its own: a dict per line
            result = {name: obj[name] for name in group.result_names}
        # positional, in Line's field order (_LINE_ORDER): a call with 29 keywords costs twice as much
        return Line(setting.model, subset, hop, item_id, run, setting.condition, variant, setting.x, answer,
                    prediction, reference, True, error, where, group.params,
                    result, raw, None, False, dataset,
                    None if audio_warnings is _ABSENT else audio_cut(audio_warnings) if audio_warnings else False,
                    kind, None, "rewrite_unchanged" if spec.rewritten and rewrite_unchanged is True else None,
                    finish_reason, cluster, letter_tie(letter_logprobs) if letter_logprobs else None,
                    setting.answer_mode, setting.protocol)


#: Line's fields in the order ``_ShapeReader.line`` passes them (tests/test_report_scale.py checks it).
_LINE_ORDER = ("model", "subset", "hop", "id", "run", "condition", "variant", "x", "answer", "prediction",
               "reference", "paired", "error", "source", "params", "result", "raw", "lanham_reference",
               "lanham_fallback", "dataset", "audio_cut", "reference_kind", "cue_prediction", "excluded",
               "finish_reason", "cluster", "readout_tie", "answer_mode", "protocol")


@dataclass(frozen=True)
class _Group:
    """What the lines of one shape and one setting share: the setting, one parameters dict (so
    ``params_key`` and every later look-up by parameters is one per group), the spec's result
    fields the shape holds, and the reference kind of a line that names no reference field. Lines
    share their results (``_Memo.shared_result``) unless the spec's ``cross_reference`` adds to them."""

    setting: _Setting
    params: Dict[str, Any]
    result_names: Tuple[str, ...]
    legacy_kind: str
    shared_results: bool
    result_values: Callable[[Dict[str, Any]], Tuple]  # a line's values of ``result_names``


def _intervention_line(fields: Mapping[str, Any], params: Dict[str, Any], extra: Dict[str, Any],
                       record: Callable[[], InterventionRecord], manifest: Dict[str, ManifestItem], where: str,
                       index: SpecIndex, memo: Optional[_Memo] = None) -> Line:
    """The Line of one conditioned / intervention line: ``fields`` are its record's fields (a field
    absent has its ``InterventionRecord`` default), ``params`` and ``extra`` its parameters and
    results, ``record`` builds the record (only for a spec's ``variant_suffix``); ``memo``: what
    the lines of one load call share (a fresh one when not given)."""
    memo = _Memo() if memo is None else memo
    get = fields.get
    item_id, model_name = fields["id"], fields["model"]
    if not model_name:
        raise ReportError(f"{where}: conditioned record without a 'model' field")
    item_id, dataset, subset, hop, cluster = memo.place(item_id, get("dataset", ""), get("subset", ""), get("hop", ""),
                                                        manifest, where)
    answer = fields["answer"] or (manifest[item_id].answer if item_id in manifest else "")
    answer_mode = fields["answer_mode"]
    setting = memo.setting(fields["condition"], params, model_name, get("cot_source_model", ""),
                           extra.get("thinking"), get("protocol", "ours"), answer_mode, index)
    spec = setting.spec
    result = {name: extra[name] for name in spec.result_fields if name in extra}
    reference_field = fields["reference_field"]
    if reference_field:
        if reference_field not in REFERENCE_FIELDS:
            raise ReportError(f"{where}: reference_field must be one of {REFERENCE_FIELDS}, "
                              f"got {reference_field!r}")
        reference = get(reference_field)
        kind = "readout" if reference_field == "baseline_cue_prediction" else "parsed"
    else:  # written before both references were stored: join() looks for the baseline's read-out
        readout = answer_mode != "generate" and params.get("mode") != "regenerate" and "cue_prediction" not in extra
        reference, kind = get("baseline_prediction"), "legacy" if readout else "parsed"
    excluded = "rewrite_unchanged" if spec.rewritten and extra.get("rewrite_unchanged") is True else None
    variant = setting.variant
    if spec.variant_suffix is not None:
        variant = _shared(variant + spec.variant_suffix(record()))
    return Line(model=setting.model, subset=subset, hop=hop, id=item_id,
                run=int(fields["run"]), condition=setting.condition, variant=variant,
                x=setting.x, answer=answer, prediction=get("prediction"), reference=reference,
                paired=True, error=get("error"), source=where, params=params, result=result, raw=get("raw"),
                reference_kind=kind, excluded=excluded, finish_reason=extra.get("finish_reason"),
                cluster=cluster, dataset=dataset,
                readout_tie=letter_tie(get("letter_logprobs")),
                answer_mode=setting.answer_mode, protocol=setting.protocol,
                audio_cut=audio_cut(extra["audio_warnings"]) if "audio_warnings" in extra else None)


def load_file(path: Path, manifest: Dict[str, ManifestItem], memo: Optional[_Memo] = None) -> List[Line]:
    """Lines of one output file; each JSON line is read as the record type its fields say, not the
    file name. A conditioned / intervention line is validated as ``InterventionRecord.from_json``
    validates it and read by its shape (``records.intervention_shape``, ``_ShapeReader``) without
    building the record itself: millions of lines. ``memo``: what the files of one load call share
    (a fresh one when not given)."""
    lines: List[Line] = []
    append = lines.append
    index = spec_index()
    memo = _Memo() if memo is None else memo
    readers = memo.readers
    prefix = f"{path}:"
    for line_number, obj in iter_jsonl(path):
        where = f"{prefix}{line_number}"
        if type(obj) is dict and "condition" in obj and "id" in obj and "runs_predictions" not in obj:
            try:
                obj, shape = intervention_shape(obj, where)
            except RecordError as exc:
                raise ReportError(str(exc)) from None
            reader = readers.get(shape)
            if reader is None:
                reader = readers[shape] = _ShapeReader.of(shape)
            append(reader.line(obj, where, manifest, memo, index))
            continue
        if not isinstance(obj, dict) or "id" not in obj:
            raise ReportError(f"{where}: expected a JSON object with an 'id'")
        if is_baseline_line(obj):
            lines.extend(baseline_lines(BaselineRecord.from_json(obj, where), manifest, where, memo))
        else:
            raise ReportError(f"{where}: neither a baseline record (runs_predictions) nor a conditioned one (condition)")
    return lines


# ----------------------------------------------------------------------------------------------
# Loading as columns: what load_outputs reads (load_file, above, is the reference it equals)


class _Irregular(Exception):
    """A file the columnar reader leaves to ``load_file`` (line by line); the message says why."""


def load_file_columns(path: Path, manifest: Dict[str, ManifestItem], memo: Optional[_Memo] = None,
                      into: Optional[Dict[str, List[Any]]] = None) -> Dict[str, List[Any]]:
    """The Lines of one output file as columns: every ``Line`` field by name (``_LINE_ORDER``), one
    list each, in file order, holding exactly the values of ``load_file``'s Lines (the same shared
    objects: interned strings, one parameters dict per setting, shared result mappings); appended
    to the lists of ``into`` when given (and ``into`` returned). The file is parsed ``LOAD_BATCH``
    lines at a time (``iter_jsonl_batches``), and the conditioned / intervention lines of a batch
    are read one shape at a time, field by field (``_shape_columns``). A file holding anything this
    reader leaves to ``load_file`` (any error, an older schema version, a setting value of mixed
    types or NaN, a line that is not a JSON object, ...) is read by ``load_file``, which also raises
    a bad file's first error as it always has."""
    memo = _Memo() if memo is None else memo
    columns = {name: [] for name in _LINE_ORDER} if into is None else into
    targets = [columns[name] for name in _LINE_ORDER]
    start = len(targets[0])
    index = spec_index()
    try:
        for objects, numbers in iter_jsonl_batches(path, LOAD_BATCH):
            for target, values in zip(targets, _file_columns(path, objects, numbers, manifest, memo, index)):
                target.extend(values)
    except (_Irregular, UserError, TypeError) as exc:  # TypeError: an unhashable value where a key is built
        log.debug("%s: read line by line (%s: %s)", path, type(exc).__name__, exc)
        for target, values in zip(targets, line_columns(load_file(path, manifest, memo), _LINE_ORDER)):
            del target[start:]
            target.extend(values)
    return columns


#: Lines parsed and read at a time by ``load_file_columns``: a batch's objects stay in the processor's
#: cache while its fields are read column by column (a whole file's would not, and each pass over a
#: column would then wait on memory line by line).
LOAD_BATCH = 128


def _file_columns(path: Path, objects: List[Any], numbers: Sequence[int], manifest: Dict[str, ManifestItem],
                  memo: _Memo, index: SpecIndex) -> List[Sequence[Any]]:
    """The columns (in ``_LINE_ORDER``) of a batch of a file's parsed lines (``numbers``: their line
    numbers); raises ``_Irregular`` (or the error a line raises) where the file is to be read line by line."""
    count = len(objects)
    if not count:
        return [() for _ in _LINE_ORDER]
    if type(objects[0]) is not dict or list(map(type, objects)).count(dict) != count:
        raise _Irregular("a line that is not a JSON object")
    prefix = f"{path}:"
    keys = list(map(tuple, objects))  # each line's field names: lines of one shape share them
    by_names: Dict[Tuple[str, ...], Sequence[int]] = {}
    if keys.count(keys[0]) == count:  # equal tuples of the same key objects: no hashing
        by_names[keys[0]] = range(count)
    else:
        for position, key in enumerate(keys):
            by_names.setdefault(key, []).append(position)
    del keys
    single = len(by_names) == 1
    parts: List[Tuple[Sequence[int], List[Sequence[Any]]]] = []  # (each line's position in the batch, columns)
    for names, positions in by_names.items():
        part = objects if single else list(map(objects.__getitem__, positions))
        part_numbers = numbers if single else list(map(numbers.__getitem__, positions))
        if "condition" in names and "id" in names and "runs_predictions" not in names:
            for subset_positions, columns in _intervention_columns(names, part, part_numbers, prefix, manifest,
                                                                   memo, index):
                parts.append((subset_positions if single else list(map(positions.__getitem__, subset_positions)),
                              columns))
        elif "id" in names and "runs_predictions" in names:
            parts.append(_baseline_columns(names, part, part_numbers, positions, prefix, manifest, memo))
        else:
            raise _Irregular("a line that is neither a baseline nor a conditioned record")
    if len(parts) == 1:
        return parts[0][1]
    order_keys = list(chain.from_iterable(part_positions for part_positions, _ in parts))
    order = sorted(range(len(order_keys)), key=order_keys.__getitem__)  # stable: a record's runs stay in order
    merged = []
    for position in range(len(_LINE_ORDER)):
        joined = list(chain.from_iterable(columns[position] for _, columns in parts))
        merged.append(list(map(joined.__getitem__, order)))
    return merged


def _baseline_columns(names: Tuple[str, ...], objects: List[Dict[str, Any]], numbers: Sequence[int],
                      positions: Sequence[int], prefix: str, manifest: Dict[str, ManifestItem],
                      memo: _Memo) -> Tuple[List[int], List[Sequence[Any]]]:
    """(each Line's position among the batch's lines, columns in ``_LINE_ORDER``) of baseline lines
    with the field names ``names``: the Lines ``baseline_lines`` makes of the records
    ``BaselineRecord.from_json`` reads, worked out from each line's values without building either
    where the lines are of this schema version with list runs (else through the records); raises
    ``_Irregular`` where a line is one they reject (the file is then read line by line)."""
    values = list(zip(*map(dict.values, objects)))  # one tuple per field, in ``names``' order
    count = len(objects)
    regular = "schema_version" in names and "runs_reasonings" in names
    if regular:
        versions = values[names.index("schema_version")]
        regular = versions.count(SCHEMA_VERSION) == count and list(map(type, versions)).count(int) == count
    if not regular:  # an older version (migrated) or a line from_json rejects: through the records
        lines: List[Line] = []
        line_positions: List[int] = []
        for position, obj, number in zip(positions, objects, numbers):
            where = f"{prefix}{number}"
            runs = baseline_lines(BaselineRecord.from_json(obj, where), manifest, where, memo)
            lines.extend(runs)
            line_positions.extend([position] * len(runs))
        return line_positions, line_columns(lines, _LINE_ORDER)
    table = values + [(default,) * count for default in _BASELINE_DEFAULTS]
    field_positions = {name: at for at, name in enumerate(names)}
    columns = [table[field_positions.get(name, len(names) + at)] for at, name in enumerate(_BASELINE_VALUES)]
    models: Dict[Tuple, str] = {}
    rows: List[Tuple] = []
    line_positions = []
    places, add_row, add_position = memo.places, rows.append, line_positions.append
    for (position, number, item_id, model_name, prompt_mode, answer, subset, hop, dataset, reasonings, raws,
         predictions, logprobs, reasons, warnings, error, protocol, thinking) in zip(positions, numbers, *columns):
        # BaselineRecord.from_json's checks, then baseline_lines' (their errors: read line by line)
        if type(reasonings) is not list or type(predictions) is not list or \
                error is None and len(reasonings) != len(predictions):
            raise _Irregular("runs_reasonings and runs_predictions: not lists of one length")
        condition = BASELINE_CONDITION.get(prompt_mode)
        if condition is None or not model_name:
            raise _Irregular("a baseline record without a model or a known prompt_mode")
        where = f"{prefix}{number}"
        try:
            place = places.get((item_id, dataset, subset, hop))
        except TypeError:  # an unhashable field: memo.place rejects it
            place = None
        if place is None:
            place = memo.place(item_id, dataset, subset, hop, manifest, where)
        line_id, dataset, subset, hop, cluster = place
        answer = answer or (manifest[item_id].answer if item_id in manifest else "")
        answer = intern(answer) if type(answer) is str else answer
        model_key = (model_name, thinking, protocol)
        plain = _plain(model_key)  # only keys of strings and None: equal keys print alike
        model = models.get(model_key) if plain else None
        if model is None:
            model = _shared(protocol_label(thinking_label(model_name, thinking), protocol))
            if plain:
                models[model_key] = model
        if error is not None or not predictions:
            add_row((model, subset, hop, line_id, 0, condition, "", None, answer, None, None, False, error or NO_RUNS,
                     where, {}, NO_RESULTS, None, None, False, dataset, None if error is not None else
                     audio_cut(warnings), "", None, None, None, cluster, None, "", ""))
            add_position(position)
            continue
        cut = audio_cut(warnings)
        runs = len(predictions)
        raws = raws if len(raws) == runs else [None] * runs
        reasons = reasons if len(reasons) == runs else [None] * runs
        stored = len(logprobs)
        for run, (prediction, raw, reason) in enumerate(zip(predictions, raws, reasons)):
            letters = logprobs[run] if run < stored else None
            add_row((model, subset, hop, line_id, run, condition, "", None, answer,
                     intern(prediction) if type(prediction) is str else prediction, None, False, None, where, {},
                     NO_RESULTS, raw, None, False, dataset, cut, "", None if letters is None else _shared(letter_readout(letters)),
                     None, intern(reason) if type(reason) is str else reason, cluster,
                     None if letters is None else letter_tie(letters), "", ""))
            add_position(position)
    return line_positions, [list(column) for column in zip(*rows)] if rows else [[] for _ in _LINE_ORDER]


#: What ``_baseline_columns`` reads of a baseline line, in its loop's order, and (``_BASELINE_DEFAULTS``)
#: each field's value when the line lacks it (``BaselineRecord``'s defaults, ``from_json``'s for the first).
_BASELINE_VALUES = ("id", "model", "prompt_mode", "answer", "subset", "hop", "dataset", "runs_reasonings", "runs_raw",
                    "runs_predictions", "runs_letter_logprobs", "runs_finish_reasons", "warnings", "error", "protocol",
                    "thinking")
_BASELINE_DEFAULTS = (None, "", "cot", "", "", "", "", (), (), (), (), (), (), None, "ours", None)


def _intervention_columns(names: Tuple[str, ...], objects: List[Dict[str, Any]], numbers: Sequence[int], prefix: str,
                          manifest: Dict[str, ManifestItem], memo: _Memo,
                          index: SpecIndex) -> List[Tuple[Sequence[int], List[Sequence[Any]]]]:
    """(positions among ``objects``, columns) of conditioned / intervention lines with the field
    names ``names``, one part per ``param_names`` among them: each line checked as
    ``records.intervention_shape`` checks a current-version line of a known shape (the shape itself
    is worked out and checked by ``intervention_shape``, once per part)."""
    count = len(objects)
    values = list(zip(*map(dict.values, objects)))  # one tuple per field, in ``names``' order
    if "schema_version" not in names:
        raise _Irregular("lines written before schema versions (migrated line by line)")
    versions = values[names.index("schema_version")]
    if versions.count(SCHEMA_VERSION) != count or list(map(type, versions)).count(int) != count:
        raise _Irregular("a schema version other than this one")
    if list(map(type, values[names.index("run")])).count(int) != count:
        raise _Irregular("a 'run' that is not an integer")
    if "param_names" in names:
        listed = values[names.index("param_names")]
        if list(map(type, listed)).count(list) != count:
            raise _Irregular("a 'param_names' that is not a list")
        param_keys = list(map(tuple, listed))
    else:
        param_keys = [()]
    by_params: Dict[Tuple, Sequence[int]] = {}
    if param_keys.count(param_keys[0]) == len(param_keys):
        by_params[param_keys[0]] = range(count)
    else:
        for position, key in enumerate(param_keys):
            by_params.setdefault(key, []).append(position)
    parts = []
    for positions in by_params.values():
        if len(by_params) == 1:
            part, part_values, part_numbers = objects, values, numbers
        else:
            part = list(map(objects.__getitem__, positions))
            part_values = list(zip(*map(dict.values, part)))
            part_numbers = list(map(numbers.__getitem__, positions))
        _, shape = intervention_shape(part[0], f"{prefix}{part_numbers[0]}")
        reader = memo.readers.get(shape)
        if reader is None:
            reader = memo.readers[shape] = _ShapeReader.of(shape)
        parts.append((positions, _shape_columns(reader, part, part_values, part_numbers, prefix, manifest, memo,
                                                index)))
    return parts


def _shape_columns(reader: _ShapeReader, objects: List[Dict[str, Any]], values: List[Tuple], numbers: Sequence[int],
                   prefix: str, manifest: Dict[str, ManifestItem], memo: _Memo,
                   index: SpecIndex) -> List[Sequence[Any]]:
    """The columns (in ``_LINE_ORDER``) of checked lines of ``reader``'s shape (``values``: one tuple per field of the
    shape): ``_ShapeReader.line``'s values, each worked out for the whole column (``map``, ``zip``,
    look-ups by key tuples), per line only where a value needs it."""
    count = len(objects)
    absent = [(default,) * count for default in reader.defaults]  # what the shape lacks: one value throughout
    table = list(values) + absent
    (item_ids, model_names, runs, datasets, subsets, hops, answers, reference_fields, baseline_predictions,
     baseline_cue_predictions, predictions, errors, raws, letter_logprobs, finish_reasons, rewrite_unchanged,
     audio_warnings) = [table[position] for position in reader.line_positions]
    setting_columns = [table[position] for position in reader.setting_positions]
    if not all(model_names):
        raise _Irregular("a line without a model")
    place_keys = list(zip(item_ids, datasets, subsets, hops))
    places = list(map(memo.places.get, place_keys))
    if None in places:
        known = memo.places
        for position, key in enumerate(place_keys):
            if places[position] is None:
                places[position] = known.get(key) or memo.place(*key, manifest, f"{prefix}{numbers[position]}")
    item_ids, datasets, subsets, hops, clusters = map(list, zip(*places))
    del place_keys, places
    if not all(answers):
        answers = [answer or (manifest[item_id].answer if item_id in manifest else "")
                   for answer, item_id in zip(answers, item_ids)]
    # the setting of each line: one _Group per distinct (setting values, parameters), as _Memo.group keeps them
    varying = [key for key in map(_setting_key_column, setting_columns) if key is not None]
    setting_keys: Sequence[Any] = varying[0] if len(varying) == 1 else list(zip(*varying)) if varying else (0,) * count
    first_of = dict(zip(setting_keys, range(count)))
    if len(memo.groups) + len(first_of) >= SETTINGS_KEPT:
        raise _Irregular("more settings than a load call keeps")
    group_of = {key: memo.group(reader, tuple(column[position] for column in setting_columns), index)
                for key, position in first_of.items()}
    distinct_groups = list(group_of.values())
    derived = {key: (group.setting.model, group.setting.condition, group.setting.variant, group.setting.x,
                     group.params, group.setting.answer_mode, group.setting.protocol, group.legacy_kind)
               for key, group in group_of.items()}
    if len(group_of) == 1:
        groups = [distinct_groups[0]] * count
        models, conditions, variants, xs, params, answer_modes, protocols, legacy_kinds = (
            [value] * count for value in derived[setting_keys[0]])
    else:
        groups = list(map(group_of.__getitem__, setting_keys))
        models, conditions, variants, xs, params, answer_modes, protocols, legacy_kinds = map(
            list, zip(*map(derived.__getitem__, setting_keys)))
    del setting_keys
    references, kinds = _reference_columns(reference_fields, baseline_predictions, baseline_cue_predictions,
                                           legacy_kinds)
    if any(group.setting.spec.variant_suffix is not None for group in distinct_groups):
        shape = reader.shape
        variants = [variant if group.setting.spec.variant_suffix is None else
                    _shared(variant + group.setting.spec.variant_suffix(RecordView(obj, shape, group.params)))
                    for variant, group, obj in zip(variants, groups, objects)]
    if any(group.setting.spec.rewritten for group in distinct_groups):
        excluded = ["rewrite_unchanged" if group.setting.spec.rewritten and unchanged is True else None
                    for group, unchanged in zip(groups, rewrite_unchanged)]
    else:
        excluded = [None] * count
    if any(audio_warnings is column for column in absent):
        cuts: List[Optional[bool]] = [None] * count
    else:
        cuts = [audio_cut(warnings) if warnings else False for warnings in audio_warnings]
    ties = [letter_tie(logprobs) if logprobs else None for logprobs in letter_logprobs] if any(letter_logprobs) \
        else [None] * count
    return [models, subsets, hops, item_ids, runs, conditions, variants, xs, _interned(answers),
            _interned(predictions), references, (True,) * count, errors, list(map(prefix.__add__, map(str, numbers))),
            params, _result_column(reader.shape, values, objects, groups, distinct_groups, memo), raws,
            (None,) * count, (False,) * count, datasets, cuts, kinds, (None,) * count, excluded,
            _interned(finish_reasons), clusters, ties, answer_modes, protocols]


_NONE_TYPE = type(None)
#: Value types that equal no value of another type (a JSON value: ``True == 1 == 1.0``, ``0.0 == -0.0``).
_TYPES_EQUAL_ALONE = frozenset({str, _NONE_TYPE})


def _setting_key_column(column: Sequence[Any]) -> Optional[Sequence[Any]]:
    """A setting value per line as a key that tells apart what ``_Memo.group`` keeps apart, None
    where the column holds one value throughout: the values themselves where equal values are of
    one type (strings and None, else integers or booleans alone), their reprs for floats with a
    zero among them (``0.0`` and ``-0.0``); ``_Irregular`` for NaN (never equal to itself), values
    of mixed types, lists and objects."""
    first = column[0] if column else None
    if column and (first is None or type(first) is str) and column.count(first) == len(column):
        return None  # one string (or None) throughout: only a string equals a string
    distinct = set(column)  # a list or object value: TypeError, read line by line
    if not _TYPES_EQUAL_ALONE.issuperset(map(type, distinct)):  # equal values may differ in type
        types = set(map(type, column))
        types.discard(_NONE_TYPE)
        if types == {float}:
            if any(value != value for value in distinct):
                raise _Irregular("a NaN setting value")
            if 0.0 in distinct:
                return list(map(repr, column))
        elif types not in ({int}, {bool}):
            raise _Irregular(f"a setting value of the types {sorted(kind.__name__ for kind in types)}")
    return None if len(distinct) == 1 else column


def _interned(values: Sequence[Any]) -> List[Any]:
    """Each value, a string as its interned object (one object per equal string, as ``json.loads``
    gives letters; orjson makes a new string per value)."""
    distinct = set(values)  # a list or object value: TypeError, read line by line
    if _TYPES_EQUAL_ALONE.issuperset(map(type, distinct)):  # an equal value is of the same type
        if len(distinct) == 1 and None in distinct:
            return list(values)
        table = {value: value if value is None else intern(value) for value in distinct}
        return list(map(table.__getitem__, values))
    return [intern(value) if type(value) is str else value for value in values]


def _reference_columns(reference_fields: Sequence[Any], baseline_predictions: Sequence[Any],
                       baseline_cue_predictions: Sequence[Any],
                       legacy_kinds: Sequence[str]) -> Tuple[List[Any], List[str]]:
    """(reference, reference kind) of each line, as ``_ShapeReader.line`` reads them."""
    named = set(reference_fields)
    if any(name and name not in REFERENCE_FIELDS for name in named):
        raise _Irregular("an unknown reference_field")
    count = len(reference_fields)
    if named == {"baseline_cue_prediction"}:
        references, kinds = baseline_cue_predictions, ["readout"] * count
    elif named == {"baseline_prediction"}:
        references, kinds = baseline_predictions, ["parsed"] * count
    else:
        references = [cue if name == "baseline_cue_prediction" else parsed
                      for name, parsed, cue in zip(reference_fields, baseline_predictions, baseline_cue_predictions)]
        kinds = [("readout" if name == "baseline_cue_prediction" else "parsed") if name else legacy
                 for name, legacy in zip(reference_fields, legacy_kinds)]
    return _interned(references), kinds


def _result_column(shape: InterventionShape, values: List[Tuple], objects: List[Dict[str, Any]], groups: List[_Group],
                   distinct_groups: List[_Group], memo: _Memo) -> List[Mapping[str, Any]]:
    """Each line's ``result``, as ``_ShapeReader.line`` makes it: one shared mapping per distinct
    results (``_Memo.shared_result``), a dict of its own where the group's spec adds results later."""
    count = len(objects)
    kinds = {(group.result_names, group.shared_results) for group in distinct_groups}
    if len(kinds) == 1:
        ((names, shared),) = kinds
        if not names:
            if shared:
                return [NO_RESULTS] * count
            return [{} for _ in range(count)]
        rows = list(zip(*(values[shape.names.index(name)] for name in names)))
        if not shared:
            return [dict(zip(names, row)) for row in rows]
        if all(_SHARED_RESULT_TYPES.issuperset(map(type, values[shape.names.index(name)])) for name in names):
            distinct = dict.fromkeys(rows)  # equal rows of these types are of one type, value by value
            if len(memo.results) + len(distinct) < SETTINGS_KEPT:
                shared_of = {row: memo.shared_result(names, row) for row in distinct}
                return list(map(shared_of.__getitem__, rows))
    return [(memo.shared_result(group.result_names, group.result_values(obj)) if group.result_names else NO_RESULTS)
            if group.shared_results else {name: obj[name] for name in group.result_names}
            for group, obj in zip(groups, objects)]


def params_key(params: Dict[str, Any]) -> str:
    """A line's parameters as sorted JSON: the key of its condition's setting and per_item.csv's column.
    Written once per distinct set of (name, type, value) and kept, up to ``PARAMS_KEPT`` of them (a
    study repeats a few hundred); floats are told apart by their repr (``-0.0`` and ``0.0``). The
    lines of one setting share one parameters dict (``_Group``, never changed after loading): a
    dict seen before is looked up by identity."""
    if not params:
        return "{}"
    seen = _PARAMS_BY_OBJECT.get(id(params))
    if seen is not None and seen[0] is params:
        return seen[1]
    try:
        memo_key = tuple((name, type(value), repr(value) if type(value) is float else value)
                         for name, value in params.items())
        known = _PARAMS_JSON.get(memo_key)
    except TypeError:  # a list or object value: not hashable
        return json.dumps(params, sort_keys=True)
    if known is None:
        known = json.dumps(params, sort_keys=True)
        if len(_PARAMS_JSON) < PARAMS_KEPT:
            _PARAMS_JSON[memo_key] = known
    if len(_PARAMS_BY_OBJECT) >= PARAMS_BY_OBJECT_KEPT:
        _PARAMS_BY_OBJECT.clear()
    _PARAMS_BY_OBJECT[id(params)] = (params, known)  # the dict is held: its id is not reused meanwhile
    return known


PARAMS_KEPT = 4096
_PARAMS_JSON: Dict[Tuple, str] = {}
#: Parameter dicts (a study's distinct settings, ~50k at 320k lines) whose key ``params_key`` keeps by identity.
PARAMS_BY_OBJECT_KEPT = 1 << 18
_PARAMS_BY_OBJECT: Dict[int, Tuple[Dict[str, Any], str]] = {}


def _check_duplicates(lines: Sequence[Line]) -> None:
    first: Dict[Tuple, str] = {}
    for line in lines:
        key = (line.dataset, line.model, line.condition, params_key(line.params), line.id, line.run)
        if key in first:
            raise ReportError(f"{line.source}: duplicate of {first[key]} (model {line.model}, {line.condition}, "
                              f"id {line.id}, run {line.run})")
        first[key] = line.source


def join(lines: List[Line]) -> None:
    """Fill the cross-file references in place: CoT letters for direct runs, the baseline's letter
    read-out for old letter read-out lines, `full` letters for AOC (the `full` line of the same
    CoT source read the same way: a `--answer_mode generate` line is never compared with a letter
    read-out; with no such `full` line the line's own reference is used, counted as a fallback).
    Under the paper protocol the reference is the baseline's letter, as the study compared."""
    cot = {(l.dataset, l.model, l.id, l.run): l for l in lines if l.condition == "baseline_cot" and l.error is None}
    # the `full` line of the same CoT source (the model's own, or the benchmark's reference CoT)
    # and the same read-out (answer mode)
    index = spec_index()
    references, aoc_steps = index.flagged("aoc_reference"), index.aoc_steps()
    full = {(l.dataset, l.model, l.id, l.run, l.params.get("cot_source"), l.answer_mode): l for l in lines
            if l.condition in references and l.error is None}
    for line in lines:
        key = (line.dataset, line.model, line.id, line.run)
        if line.condition == "baseline_direct" and key in cot:
            line.reference, line.paired, line.reference_kind = cot[key].prediction, True, "parsed"
        if line.reference_kind == "legacy" and key in cot and cot[key].cue_prediction is not None:
            line.reference, line.reference_kind = cot[key].cue_prediction, "readout"
        if line.condition in aoc_steps:
            key = key + (line.params.get("cot_source"), line.answer_mode)
            if line.protocol == PAPER:  # the study compared every step with the baseline's letter
                line.lanham_reference = line.reference
            elif key in full and full[key].prediction is not None:
                line.lanham_reference = full[key].prediction
            else:
                line.lanham_reference, line.lanham_fallback = line.reference, True



def _check_duplicate_columns(columns: Dict[str, List[Any]]) -> None:
    """``_check_duplicates`` of the lines ``columns`` hold (the same key per line, the same first
    duplicate named). Each line's key is first coded as one integer (``_key_codes``): all distinct,
    no duplicate; otherwise the lines are walked in order for the first duplicate, if any."""
    codes = _key_codes(columns)
    if codes is not None:
        codes.sort()
        if not np.any(codes[1:] == codes[:-1]):
            return
    params = columns["params"]
    key_of: Dict[int, str] = {}  # every dict is held by the column: its id names it meanwhile
    first: Dict[Tuple, int] = {}
    for position, (dataset, model, condition, values, item_id, run) in enumerate(zip(
            columns["dataset"], columns["model"], columns["condition"], params, columns["id"], columns["run"])):
        known = key_of.get(id(values))
        if known is None:
            known = key_of[id(values)] = params_key(values)
        key = (dataset, model, condition, known, item_id, run)
        if key in first:
            raise ReportError(f"{columns['source'][position]}: duplicate of {columns['source'][first[key]]} "
                              f"(model {model}, {condition}, id {item_id}, run {run})")
        first[key] = position


def _key_codes(columns: Dict[str, List[Any]]) -> Optional[np.ndarray]:
    """Each line's duplicate key (dataset, model, condition, parameters key, id, run) as one integer,
    equal where the keys are equal (two equal codes may still be two keys: two runs of one hash);
    None where the codes would not fit in 64 bits. The (dataset, model, condition, parameters dict)
    of a line are numbered together (a few thousand combinations), each combination then by its
    parameters' key (``params_key``); ids are numbered, runs taken by their hash (an integer's own
    value)."""
    params = columns["params"]
    count = len(params)
    settings = Numbering()  # parameters dicts by identity: every dict is held by the column meanwhile
    setting = np.fromiter(map(settings.__getitem__, zip(columns["dataset"], columns["model"], columns["condition"],
                                                        map(id, params))), dtype=np.int64, count=count)
    # a setting's first line: where the running largest number grows (numbered in order of appearance)
    firsts = np.flatnonzero(np.diff(np.maximum.accumulate(setting), prepend=-1)).tolist()
    keyed = Numbering()
    setting_key = np.array([keyed[dataset, model, condition, params_key(params[position])]
                            for (dataset, model, condition, _), position in zip(settings, firsts)], dtype=np.int64)
    ids = Numbering()
    item = np.fromiter(map(ids.__getitem__, columns["id"]), dtype=np.int64, count=count)
    run = np.fromiter(map(hash, columns["run"]), dtype=np.int64, count=count)
    low, high = (int(run.min()), int(run.max())) if count else (0, 0)
    if len(keyed) * len(ids) * (high - low + 1) >= 1 << 63:
        return None
    return (setting_key[setting] * len(ids) + item) * (high - low + 1) + (run - low)


def _join_columns(columns: Dict[str, List[Any]]) -> None:
    """``join`` of the lines ``columns`` hold, filling in their ``reference``, ``paired``,
    ``reference_kind``, ``lanham_reference`` and ``lanham_fallback`` columns in place; returns the
    positions of the lines it visited, in order (the only ones it may change: found by C-level
    passes over the condition column)."""
    conditions, errors, predictions = columns["condition"], columns["error"], columns["prediction"]
    references, paired, kinds = columns["reference"], columns["paired"], columns["reference_kind"]
    lanham_references, lanham_fallbacks = columns["lanham_reference"], columns["lanham_fallback"]
    cue_predictions, params, answer_modes = columns["cue_prediction"], columns["params"], columns["answer_mode"]
    protocols, datasets, models, item_ids, runs = (columns["protocol"], columns["dataset"], columns["model"],
                                                   columns["id"], columns["run"])
    index = spec_index()
    full_conditions, aoc_steps = index.flagged("aoc_reference"), index.aoc_steps()

    names = Numbering()  # each line's condition numbered in one pass, then found by its number
    codes = np.fromiter(map(names.__getitem__, conditions), dtype=np.int64, count=len(conditions))

    def where(wanted: Container[str]) -> List[int]:
        """The positions of the lines whose condition is in ``wanted``, ascending."""
        return np.flatnonzero(np.isin(codes, [code for name, code in names.items() if name in wanted])).tolist()

    def key(position: int) -> Tuple:
        return datasets[position], models[position], item_ids[position], runs[position]

    cot = {key(position): position for position in where({"baseline_cot"}) if errors[position] is None}
    full = {key(position) + (params[position].get("cot_source"), answer_modes[position]): position
            for position in where(full_conditions) if errors[position] is None}
    legacy = compress(range(len(kinds)), map("legacy".__eq__, kinds))
    # a line's references first (join() sets them before its Lanham reference, which reads its own)
    for position in sorted(set(where({"baseline_direct"})).union(legacy)):  # in line order, as join()
        line_key = key(position)
        if conditions[position] == "baseline_direct" and line_key in cot:
            references[position], paired[position], kinds[position] = predictions[cot[line_key]], True, "parsed"
        if kinds[position] == "legacy" and line_key in cot and cue_predictions[cot[line_key]] is not None:
            references[position], kinds[position] = cue_predictions[cot[line_key]], "readout"
    steps = where(aoc_steps)
    if not steps:
        return
    pick = operator.itemgetter(*steps) if len(steps) > 1 else (lambda values: (values[steps[0]],))
    full_keys = zip(pick(datasets), pick(models), pick(item_ids), pick(runs),
                    [values.get("cot_source") for values in pick(params)], pick(answer_modes))
    for position, protocol, full_key in zip(steps, pick(protocols), full_keys):
        if protocol == PAPER:
            lanham_references[position] = references[position]
            continue
        at = full.get(full_key)
        if at is not None and predictions[at] is not None:
            lanham_references[position] = predictions[at]
        else:
            lanham_references[position], lanham_fallbacks[position] = references[position], True


def _exclude_cut_columns(columns: Dict[str, List[Any]]) -> None:
    """``exclude_cut_cots`` of the lines ``columns`` hold, on their ``excluded`` column."""
    conditions, reasons, excluded = columns["condition"], columns["finish_reason"], columns["excluded"]
    keys = list(zip(columns["dataset"], columns["model"], columns["id"], columns["run"]))
    cut = {key for key, condition, reason in zip(keys, conditions, reasons)
           if condition == "baseline_cot" and reason == "length"}
    for position, (key, condition, reason, exclusion) in enumerate(zip(keys, conditions, reasons, excluded)):
        if exclusion is None and (reason == "length" or (condition != "baseline_direct" and key in cut)):
            excluded[position] = CUT_BY_LENGTH


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (reference counting still frees everything) while
    the report builds and summarises millions of lines: none of them form cycles, and the collector
    would otherwise walk every live line again and again as they accumulate."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_outputs(root: Path, manifest_dir: Optional[Path] = None, exclude: Optional[Path] = None,
                 exclude_cut: bool = False, parallel: bool = True) -> Dataset:
    """Read and join every output file under ``root`` as columns (``Dataset.columns``: every Line
    field by name, read by ``load_file_columns``; duplicates, joins, exclusions and the families'
    ``cross_reference`` worked out on them); ``Dataset.lines`` are the Lines of those columns, each
    built when read (``rows.ColumnLines``). With ``parallel`` the later files are read by a forked
    process where that is safe and pays (``start_loading``): the same Dataset."""
    loading = start_loading(root, manifest_dir, exclude, exclude_cut, parallel)
    try:
        return loading.finish()
    finally:
        loading.close()


def start_loading(root: Path, manifest_dir: Optional[Path] = None, exclude: Optional[Path] = None,
                  exclude_cut: bool = False, parallel: bool = True) -> "OutputLoading":
    """Find the output files under ``root`` and read the manifests; with ``parallel``, fork the
    process that reads the later files now (``OutputLoading``), so that the caller may start other
    work (threads included) before ``OutputLoading.finish`` reads the rest here and joins them."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such output folder")
    manifest = load_manifests(manifest_dir) if manifest_dir is not None else {}
    files = find_output_files(root, exclude)
    if not files:
        raise ReportError(f"{root}: no baseline_*.jsonl, conditioned_*.jsonl or interventions/*.jsonl files")
    return OutputLoading(files, manifest, exclude_cut, parallel)


#: The smallest total size (bytes) of the output files that ``OutputLoading`` splits between two
#: processes: below it the fork and the transfer cost what the split saves (measured with an earlier,
#: costlier transfer: 85k lines, 48 MB, no faster; 320k lines, 182 MB, about 0.5 s faster).
PARALLEL_LOAD_MIN_BYTES = 96 << 20
#: The share of the loading work (``_loading_cost``) the report's own process takes when it splits,
#: the child the rest (whole files: ``_split_point``). The two should end their files together: the
#: child then still codes and pickles its columns (~0.25 s at 320k lines) while the report's process
#: reads those of its first files (orjson's first calls, the specs) a little slower than the rest.
PARALLEL_LOAD_SHARE = 0.5
#: What a byte of a baseline file costs to load, in bytes of a conditioned / intervention file
#: (``_loading_cost``): a record per item, read record by record into a Line per run (at 320k
#: lines about 50 ns a byte, against about 10).
BASELINE_BYTE_COST = 5


def _parallel_load_possible() -> bool:
    """Whether this process may fork a loading process: ``os.fork`` exists, no other Python thread
    runs (a fork copies only the calling thread, and locks held by others stay held in the child),
    there are two usable cores and one of them is idle (``_core_idle``)."""
    return hasattr(os, "fork") and threading.active_count() == 1 and usable_cores() >= 2 and _core_idle()


#: How long the report watches its usable cores before it splits the load (``_idle_cores``).
IDLE_WINDOW_SECONDS = 0.05
#: The idle cores (this process's own, idle while it watches, included) a split needs: on a busy
#: machine the child competes with other processes for the second core, and the split costs more
#: than it saves (320k lines, load average ~3.4 on two cores: loading 7.0-7.8 s split against
#: 5.4-6.6 s in one process).
IDLE_CORES_TO_SPLIT = 1.5


def _core_idle() -> bool:
    """Whether a usable core is left idle besides this process's: at least ``IDLE_CORES_TO_SPLIT``
    of its usable cores idle while it sleeps for ``IDLE_WINDOW_SECONDS`` (``_idle_cores``). Where
    the system has no per-CPU times, the 1-minute load average at most the usable cores less a half
    (True where there is none either)."""
    idle = _idle_cores()
    if idle is not None:
        log.debug("loading: %.2f of %d usable cores idle", idle, usable_cores())
        return idle >= IDLE_CORES_TO_SPLIT
    load = _load_average()
    return load is None or load <= usable_cores() - 0.5


def _idle_cores() -> Optional[float]:
    """How many of this process's usable cores were idle, on average, over ``IDLE_WINDOW_SECONDS``
    while it slept (/proc/stat's times of those CPUs, so neither the other cores of a shared node nor
    a busy minute that has already ended count, as they would in the load average); None without
    /proc/stat, CPU affinity, or a clock tick in the window."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = os.sched_getaffinity(0)
    before = _cpu_times(_proc_stat(), cpus)
    if before is None:
        return None
    time.sleep(IDLE_WINDOW_SECONDS)
    after = _cpu_times(_proc_stat(), cpus)
    if after is None:
        return None
    idle, total = after[0] - before[0], after[1] - before[1]
    return len(cpus) * idle / total if total > 0 else None


def _proc_stat() -> Optional[str]:
    """/proc/stat's text, None where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            return handle.read()
    except OSError:
        return None


def _cpu_times(text: Optional[str], cpus: Container[int]) -> Optional[Tuple[int, int]]:
    """(idle, all) clock ticks of the CPUs ``cpus`` in /proc/stat's ``text`` (idle and iowait count as
    idle; user, nice, system, irq, softirq and steal as busy; guest time is already in user and nice),
    None when it names none of them."""
    idle = total = 0
    found = False
    for line in (text or "").splitlines():
        name, _, values = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue
        ticks = [int(value) for value in values.split()[:8]]
        idle += sum(ticks[3:5])
        total += sum(ticks)
        found = True
    return (idle, total) if found else None


def _load_average() -> Optional[float]:
    """The 1-minute load average, None where the system has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    """The CPU cores this process may run on (the loading split here, the drawing processes in
    ``plot_worker``)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class OutputLoading:
    """One load of the output files (``start_loading``), split between this process and a forked
    one when ``parallel`` is asked for, possible (``_parallel_load_possible``: a core idle among
    them) and pays (at least ``PARALLEL_LOAD_MIN_BYTES`` in two or more files). The child reads the
    later files (about ``1 - PARALLEL_LOAD_SHARE`` of the work, ``_loading_cost``) with
    ``load_file_columns`` and sends their columns back pickled through a pipe; ``finish`` reads the
    earlier files here, then appends the child's columns to its own (in file order), then checks
    duplicates and joins as a single-process load does.

    The Dataset is the same: what pickling does not keep (interned strings, one parameters dict
    per setting and one ``x`` per setting across both parts, shared result mappings, NO_RESULTS)
    is this process's own object, put in place while the columns are unpickled (``_ChildColumns``:
    each such object is sent once, the columns name it by placeholder). So are the errors: a
    bad line in this process's files wins over one in the child's (the first in file order), and
    the child's is raised here with its type and message; a child that dies fails the load with a
    ReportError."""

    def __init__(self, files: List[Path], manifest: Dict[str, ManifestItem], exclude_cut: bool,
                 parallel: bool) -> None:
        self.files = files
        self.manifest = manifest
        self.exclude_cut = exclude_cut
        self._own = files
        self._child: Optional[_LoadingChild] = None
        if parallel and len(files) > 1:
            sizes = [path.stat().st_size for path in files]
            if sum(sizes) >= PARALLEL_LOAD_MIN_BYTES and _parallel_load_possible():  # the idle cores last: it waits
                split = _split_point(list(map(_loading_cost, files, sizes)), PARALLEL_LOAD_SHARE)
                self._child = _LoadingChild(files[split:], manifest)
                self._own = files[:split]
        self.split = self._child is not None  # whether a forked process reads some of the files

    def finish(self) -> Dataset:
        """The Dataset: this process's files read, the child's columns appended (in file order),
        then duplicates, joins, exclusions and the families' ``cross_reference`` on the columns, as
        a single-process load does them; ``Dataset.lines`` are the Lines of those columns, each built
        when read (``rows.ColumnLines``)."""
        memo = _Memo()
        _PARAMS_BY_OBJECT.clear()  # those of an earlier load
        columns: Dict[str, List[Any]] = {name: [] for name in _LINE_ORDER}
        for path in self._own:
            load_file_columns(path, self.manifest, memo, columns)
        if self._child is not None:
            child, self._child = self._child, None
            child.append_columns(memo, columns)
        _check_duplicate_columns(columns)
        _join_columns(columns)
        if self.exclude_cut:
            _exclude_cut_columns(columns)
        for spec in spec_index().specs:  # a family's own cross-line results (after exclusions): in the result
            if spec.cross_reference is not None:  # dicts, which the Lines read from the columns share
                spec.cross_reference(columns)
        return Dataset(ColumnLines(columns, len(columns["id"])), self.files, self.manifest, columns)

    def close(self) -> None:
        """End the child if ``finish`` did not take its columns (an error here, say)."""
        if self._child is not None:
            child, self._child = self._child, None
            child.kill()


def _loading_cost(path: Path, size: int) -> float:
    """About what loading the output file ``path`` of ``size`` bytes costs, in bytes of a conditioned /
    intervention file (``BASELINE_BYTE_COST``)."""
    return size * BASELINE_BYTE_COST if path.name.startswith("baseline_") else size


def _split_point(costs: Sequence[float], share: float) -> int:
    """The number of leading files this process reads: the split whose leading files' cost is the
    nearest to ``share`` of the total, at least one file each side."""
    wanted, read = share * sum(costs), 0.0
    best, best_gap = 1, math.inf
    for position, cost in enumerate(costs[:-1]):
        read += cost
        if abs(read - wanted) < best_gap:
            best, best_gap = position + 1, abs(read - wanted)
    return best


#: The Line fields whose strings the loaders intern (``_shared``, ``_interned``): interned again in
#: the report's process, so that equal strings are one object across both parts of a split load.
_INTERNED_FIELDS = ("model", "subset", "hop", "id", "condition", "variant", "answer", "prediction", "reference",
                    "dataset", "reference_kind", "cue_prediction", "excluded", "finish_reason", "cluster",
                    "answer_mode", "protocol")
#: The Line fields holding strings as the JSON parser made them (not interned): a one-character
#: string there is an object of its own with orjson, where unpickling gives Python's shared one.
_PARSED_FIELDS = ("error", "raw")


class _Placeholder:
    """Stands, in a loading child's pickled columns, for the ``number``th of the objects its columns
    share with the report's process (``_ChildColumns``); pickled as a call of ``_shared_object``,
    which ``_ColumnsUnpickler`` answers with the report's own object (each placeholder once)."""

    __slots__ = ("number",)

    def __init__(self) -> None:
        self.number = -1  # numbered once every placeholder is known (``_ChildColumns.of``)

    def __reduce__(self) -> Tuple[Callable[[int], Any], Tuple[int]]:
        return _shared_object, (self.number,)


class _Appended:
    """A loading child's column as it pickles it: unpickled by ``_ColumnsUnpickler`` as the report's
    own column of that name (``_appended_to``) with the values appended, so that the report's
    process neither copies them over nor frees a list of them."""

    __slots__ = ("name", "values")

    def __init__(self, name: str, values: List[Any]) -> None:
        self.name = name
        self.values = values

    def __reduce__(self) -> Tuple[Callable[[str], List[Any]], Tuple[str], None, Iterator[Any]]:
        return _appended_to, (self.name,), None, iter(self.values)


def _shared_object(number: int) -> Any:
    """What a ``_Placeholder`` unpickles as outside ``_ColumnsUnpickler``: an error."""
    raise ReportError(f"shared object {number} of a loading process's columns read without its objects")


def _appended_to(name: str) -> List[Any]:
    """What an ``_Appended`` column unpickles as outside ``_ColumnsUnpickler``: an error."""
    raise ReportError(f"column {name!r} of a loading process read without the columns it is appended to")


class _ColumnsUnpickler(pickle.Unpickler):
    """Unpickles a loading child's columns (``_ChildColumns.of``) with each ``_Placeholder`` as
    ``objects[number]``, each column's values appended to ``columns``' list of that name."""

    def __init__(self, stream: io.BytesIO, objects: List[Any], columns: Dict[str, List[Any]]) -> None:
        super().__init__(stream)
        self.objects = objects
        self.columns = columns

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "_shared_object":
            return self.objects.__getitem__
        if module == __name__ and name == "_appended_to":
            return self.columns.__getitem__
        return super().find_class(module, name)


@dataclass
class _ChildColumns:
    """The objects a loading child's columns share with the report's process, in the order of
    their placeholders' numbers: strings of the interned fields (interned there), each group's
    parameters dict (the report's own where it has the same group), each setting's ``x`` (the
    report's where it has the setting: pickling does not keep the identity of floats), each shared
    result mapping (``_Memo.shared_result``; None for NO_RESULTS) and the one-character strings
    the JSON parser made (``_PARSED_FIELDS``: made again). The child pickles this, then its columns
    with each such object replaced by its ``_Placeholder`` (``of``); the report's process unpickles
    the columns with its own objects in their place (``objects``, ``_ColumnsUnpickler``), so that
    it never passes over the child's lines to share them again."""

    strings: List[str]
    params: List[Tuple[Tuple, Tuple, Tuple, Tuple[float, ...], Dict[str, Any]]]  # (shape, values, types, signs, dict)
    xs: List[Tuple[Optional[Tuple], Any]]  # (the setting's key in ``_Memo.settings``, None: not kept; x)
    results: List[Optional[Tuple[Tuple[str, ...], Tuple]]]  # (names, values); None: NO_RESULTS
    parsed: List[str]

    @classmethod
    def of(cls, columns: Dict[str, List[Any]], memo: _Memo) -> Tuple["_ChildColumns", List[_Appended]]:
        """(the shared objects, the columns to pickle after them) of the columns a child loaded with
        ``memo``; the loaded columns are emptied meanwhile (the child's memory)."""
        sent: Dict[str, List[Any]] = {}
        strings: Dict[str, _Placeholder] = {}
        for name in _INTERNED_FIELDS:
            sent[name] = _with_placeholders(columns.pop(name), strings)
        params: Dict[int, _Placeholder] = {}
        params_shared = []
        for (reader, values, types), kept in memo.groups.items():
            shape_key = (reader.shape.names, reader.shape.param_names)
            for signs, group in kept.items() if type(kept) is dict else (((), kept),):
                if id(group.params) not in params:
                    params[id(group.params)] = _Placeholder()
                    params_shared.append((shape_key, values, types, signs, group.params))
        xs: Dict[int, _Placeholder] = {}
        xs_shared: List[Tuple[Optional[Tuple], Any]] = []
        kept_settings = [(key, setting) for key, setting in memo.settings.items()]
        kept_settings += [(None, group.setting) for kept in memo.groups.values()
                          for group in (kept.values() if type(kept) is dict else (kept,))]
        for key, setting in kept_settings:
            if type(setting.x) is float and id(setting.x) not in xs:
                xs[id(setting.x)] = _Placeholder()
                xs_shared.append((key, setting.x))
        results: Dict[int, _Placeholder] = {id(NO_RESULTS): _Placeholder()}
        results_shared: List[Optional[Tuple[Tuple[str, ...], Tuple]]] = [None]
        for (names, values, _), mapping in memo.results.items():
            results[id(mapping)] = _Placeholder()
            results_shared.append((names, values))
        parsed: Dict[int, _Placeholder] = {}
        parsed_shared: List[str] = []
        for name in _PARSED_FIELDS:
            column = columns.pop(name)
            if name == "error" and NO_RUNS in column:  # one object in the report's process too
                placeholder = strings.get(NO_RUNS) or strings.setdefault(NO_RUNS, _Placeholder())
                column = [placeholder if value is NO_RUNS else value for value in column]
            if _has_one_character_strings(column):
                for value in column:
                    if type(value) is str and len(value) == 1 and value is not chr(ord(value)) \
                            and id(value) not in parsed:
                        parsed[id(value)] = _Placeholder()
                        parsed_shared.append(value)
                column = list(map(parsed.get, map(id, column), column))
            sent[name] = column
        for name, table in (("params", params), ("x", xs), ("result", results)):
            column = columns.pop(name)
            sent[name] = list(map(table.get, map(id, column), column))
        sent.update(columns)
        columns.clear()
        number = 0
        for table in (strings, params, xs, results, parsed):  # numbered in the order of the lists sent
            for placeholder in table.values():
                placeholder.number = number
                number += 1
        return cls(list(strings), params_shared, xs_shared, results_shared, parsed_shared), \
            [_Appended(name, sent[name]) for name in _LINE_ORDER]

    def objects(self, memo: _Memo) -> List[Any]:
        """The report's process's object for each placeholder (``memo``: its load, already done)."""
        readers = {(shape.names, shape.param_names): reader for shape, reader in memo.readers.items()}
        params = []
        for shape_key, values, types, signs, child_params in self.params:
            reader = readers.get(shape_key)
            known = memo.groups.get((reader, values, types)) if reader is not None else None
            if type(known) is dict:
                known = known.get(signs)
            params.append(child_params if known is None else known.params)
        settings = memo.settings
        xs = [settings[key].x if key is not None and key in settings else x for key, x in self.xs]
        results = [NO_RESULTS if result is None else memo.shared_result(*result) for result in self.results]
        return [*map(intern, self.strings), *params, *xs, *results, *map(_parsed_again, self.parsed)]


def _with_placeholders(column: List[Any], strings: Dict[str, _Placeholder]) -> List[Any]:
    """``column`` with each string replaced by its placeholder in ``strings`` (one per equal string,
    added there when new)."""
    try:
        distinct = set(column)
    except TypeError:  # a list value (an odd line)
        distinct = None
    if distinct is not None and _TYPES_EQUAL_ALONE.issuperset(map(type, distinct)):  # equal values: one type
        table = {value: value if value is None else strings.get(value) or strings.setdefault(value, _Placeholder())
                 for value in distinct}
        if len(table) == 1:
            return [table[column[0]]] * len(column)
        return list(map(table.__getitem__, column))
    return [(strings.get(value) or strings.setdefault(value, _Placeholder())) if type(value) is str else value
            for value in column]


def _has_one_character_strings(column: List[Any]) -> bool:
    """Whether ``column`` may hold a one-character string (True also for values without a length)."""
    try:
        return 1 in map(len, filter(None, column))
    except TypeError:  # a number or another value without a length
        return True


def _parsed_again(value: str) -> str:
    """``value`` as the JSON parser makes it (orjson: a new object), for ``_ChildColumns.objects``."""
    loads = fast_json_loads()
    return value if loads is None else loads(json.dumps(value))


class _LoadingChild:
    """A forked process that reads ``files`` (``load_file_columns``) and writes its columns
    (``_ChildColumns``), or the error that stopped it, pickled on a pipe; it never returns into
    the caller's code (``os._exit``)."""

    def __init__(self, files: List[Path], manifest: Dict[str, ManifestItem]) -> None:
        self.files = files
        read_fd, write_fd = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child
            code = 1
            try:
                os.close(read_fd)
                self._serve(write_fd, manifest)
                code = 0
            except BaseException:  # noqa: BLE001 - the report's process fails the load on its exit status
                log.exception("the loading process failed")
            finally:
                os._exit(code)
        os.close(write_fd)
        self._pipe = os.fdopen(read_fd, "rb")

    def _serve(self, write_fd: int, manifest: Dict[str, ManifestItem]) -> None:
        memo = _Memo()
        columns: Dict[str, List[Any]] = {name: [] for name in _LINE_ORDER}
        buffer = io.BytesIO()
        try:
            for path in self.files:
                load_file_columns(path, manifest, memo, columns)
            shared, sent = _ChildColumns.of(columns, memo)
        except Exception as exc:  # noqa: BLE001 - raised again by the report's process
            pickle.dump(("error", _picklable_error(exc)), buffer, protocol=pickle.HIGHEST_PROTOCOL)
        else:  # the shared objects, then the columns
            pickle.dump(("columns", shared), buffer, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(sent, buffer, protocol=pickle.HIGHEST_PROTOCOL)
        del columns
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(buffer.getbuffer())

    def append_columns(self, memo: _Memo, columns: Dict[str, List[Any]]) -> None:
        """Append the child's columns to ``columns`` with this process's shared objects (``memo``:
        its load, already done; ``_ChildColumns``), once it has ended. Raises its error, or a ReportError when
        it died."""
        with self._pipe:
            data = self._pipe.read()
        _, status = os.waitpid(self.pid, 0)
        what = f"the process loading {len(self.files)} output file(s) from {self.files[0]} on"
        if status != 0:
            raise ReportError(f"{what} ended abnormally ({_exit_status(status)}): those files were not loaded")
        stream = io.BytesIO(data)
        try:
            kind, payload = pickle.load(stream)
        except Exception as exc:  # noqa: BLE001 - a truncated or corrupt message
            raise ReportError(f"{what} sent unreadable columns ({type(exc).__name__}: {exc})") from None
        if kind == "error":
            raise payload from None
        objects = payload.objects(memo)
        try:
            _ColumnsUnpickler(stream, objects, columns).load()
        except Exception as exc:  # noqa: BLE001 - a truncated or corrupt message
            raise ReportError(f"{what} sent unreadable columns ({type(exc).__name__}: {exc})") from None

    def kill(self) -> None:
        """End the child now and wait for it (its columns are not needed)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self._pipe.close()


def _picklable_error(exc: Exception) -> Exception:
    """``exc`` when it survives pickling as the same type and message, else a ReportError naming both."""
    with contextlib.suppress(Exception):
        copy = pickle.loads(pickle.dumps(exc))
        if type(copy) is type(exc) and str(copy) == str(exc):
            return exc
    return ReportError(f"{type(exc).__name__}: {exc}")


def _exit_status(status: int) -> str:
    """A wait status in words."""
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}" if os.WIFEXITED(status) else f"status {status}"


CUT_BY_LENGTH = "cut_by_length"


def exclude_cut_cots(lines: Sequence[Line]) -> None:
    """``--exclude_cut_cots``: leave out (``excluded``) every answer whose own generation was cut
    by the token limit, and every line built on a baseline CoT run that was (its CoT is cut too)."""
    cut = {(l.dataset, l.model, l.id, l.run) for l in lines
           if l.condition == "baseline_cot" and l.finish_reason == "length"}
    for line in lines:
        if line.excluded is None and (line.finish_reason == "length" or (
                line.condition != "baseline_direct" and (line.dataset, line.model, line.id, line.run) in cut)):
            line.excluded = CUT_BY_LENGTH

