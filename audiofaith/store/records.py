"""Typed, frozen, versioned records for manifests, baseline results and intervention results.

The JSON field names are a stable, documented format (docs/records.md): results from other
tools are converted into it and fed to the report, so rename nothing here lightly. Every line
written carries ``schema_version``; a line from an older version is brought up to date by
``migrate`` (the one place that knows old formats) before it becomes a record. Readers (runners,
resume, merger, status, report) go through ``BaselineRecord.from_json`` /
``InterventionRecord.from_json`` / ``read_result_line``, never by probing the raw dict.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple, Union

from audiofaith.errors import UserError

#: The version of the line format this code writes; see ``migrate`` and docs/records.md.
SCHEMA_VERSION = 1

LETTERS = "ABCDEFGHIJ"
HOPS = ("single", "multi")
PROMPT_MODES = ("cot", "direct")


class RecordError(UserError):
    """A record that does not follow the format; the message names the file and line."""


def _schema_version(obj: Dict[str, Any], where: str) -> int:
    """The line's ``schema_version`` (0 when absent: written before versions); newer is an error."""
    version = obj.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise RecordError(f"{where}: 'schema_version' must be a non-negative integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise RecordError(f"{where}: schema_version {version} is newer than this audiofaith reads "
                          f"({SCHEMA_VERSION}); update audiofaith to read it")
    return version


def letters_for(n_choices: int) -> str:
    """The option letters for a question with ``n_choices`` options ("AB", "ABCD", ...)."""
    if not 2 <= n_choices <= len(LETTERS):
        raise ValueError(f"a question needs 2..{len(LETTERS)} options, got {n_choices}")
    return LETTERS[:n_choices]


@dataclass(frozen=True)
class ManifestItem:
    """One multiple-choice question about one audio clip (DESIGN §3)."""

    id: str
    dataset: str
    subset: str
    hop: str
    audio: str  # relative to --data_root
    question: str  # the stem, without the options
    choices: Tuple[str, ...]
    answer: str  # gold letter, "A".."J"
    instruction: str = ""  # the dataset's own prompt text, verbatim
    meta: Dict[str, Any] = field(default_factory=dict)
    schema_version: int = field(default=SCHEMA_VERSION, init=False)

    @property
    def letters(self) -> str:
        return letters_for(len(self.choices))

    def to_json(self) -> Dict[str, Any]:
        obj = dataclasses.asdict(self)
        obj["choices"] = list(self.choices)
        return _versioned(obj)

    @classmethod
    def from_json(cls, obj: Any, where: str = "<manifest>") -> "ManifestItem":
        """Validate one parsed manifest line; errors name ``where`` (file:line)."""
        if not isinstance(obj, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        _schema_version(obj, where)  # version 0 (no field) and 1 have the same manifest fields
        required = ("id", "dataset", "subset", "hop", "audio", "question", "choices", "answer")
        missing = [name for name in required if name not in obj]
        if missing:
            raise RecordError(f"{where}: missing field(s) {', '.join(missing)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise RecordError(f"{where}: unknown field(s) {', '.join(unknown)}")
        for name in ("id", "dataset", "subset", "hop", "audio", "question", "answer"):
            if not isinstance(obj[name], str) or not obj[name].strip():
                raise RecordError(f"{where}: field '{name}' must be a non-empty string")
        choices = obj["choices"]
        if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
            raise RecordError(f"{where}: 'choices' must be a list of non-empty strings")
        if not 2 <= len(choices) <= len(LETTERS):
            raise RecordError(f"{where}: 'choices' must have 2..{len(LETTERS)} options, has {len(choices)}")
        if len(set(c.strip().lower() for c in choices)) != len(choices):
            raise RecordError(f"{where}: 'choices' has duplicate options {choices}")
        letters = LETTERS[: len(choices)]
        if obj["answer"] not in letters:
            raise RecordError(f"{where}: 'answer' must be one of {list(letters)}, got {obj['answer']!r}")
        meta = obj.get("meta", {})
        if not isinstance(meta, dict):
            raise RecordError(f"{where}: 'meta' must be an object")
        instruction = obj.get("instruction", "")
        if not isinstance(instruction, str):
            raise RecordError(f"{where}: 'instruction' must be a string")
        return cls(
            id=obj["id"], dataset=obj["dataset"], subset=obj["subset"], hop=obj["hop"],
            audio=obj["audio"], question=obj["question"], choices=tuple(choices),
            answer=obj["answer"], instruction=instruction, meta=dict(meta),
        )


def letter_readout(letter_logprobs: Optional[Dict[str, float]]) -> Optional[str]:
    """The letter with the highest log-probability (the forced-choice read-out); None when no
    log-probabilities were stored. An exact tie goes to the first tied letter in option order
    (``letter_tie`` tells whether there was one; the report counts them)."""
    if not letter_logprobs:
        return None
    return max(letter_logprobs, key=letter_logprobs.get)


def letter_tie(letter_logprobs: Optional[Dict[str, float]]) -> Optional[bool]:
    """Whether two or more letters share the highest stored log-probability (bf16 logits tie
    exactly more often than one would think), so that the read-out's pick among them is only the
    option order; None when no log-probabilities were stored."""
    if not letter_logprobs:
        return None
    top = max(letter_logprobs.values())
    return sum(value == top for value in letter_logprobs.values()) > 1


#: The two reference answers a conditioned line can be compared with (docs/methods.md).
REFERENCE_FIELDS = ("baseline_prediction", "baseline_cue_prediction")


def _versioned(obj: Dict[str, Any]) -> Dict[str, Any]:
    """``obj`` with ``schema_version`` as its first field (so a reader sees the version first)."""
    version = obj.pop("schema_version")
    return {"schema_version": version, **obj}


#: Fields of a baseline line that hold one entry per run (tuples in the record, lists in JSON).
_RUN_LISTS = ("runs_reasonings", "runs_raw", "runs_predictions", "runs_correct", "runs_letter_logprobs",
              "runs_finish_reasons", "warnings", "runs_answer_raw", "runs_thinking_finish_reasons")


@dataclass(frozen=True)
class BaselineRecord:
    """All runs of one item in a baseline run (seed-compatible field names). Frozen: the runner
    builds it whole; ``dataclasses.replace`` makes a changed copy. Lists are stored as tuples."""

    id: str
    model: str
    prompt_mode: str  # "cot" | "direct"
    answer: str  # gold letter
    subset: str = ""
    hop: str = ""
    dataset: str = ""  # the manifest's benchmark ("sakura", "mmau", "mmar"); "" in files from before it was written
    runs_reasonings: Tuple[str, ...] = ()
    runs_raw: Tuple[str, ...] = ()
    runs_predictions: Tuple[Optional[str], ...] = ()
    runs_correct: Tuple[Optional[bool], ...] = ()
    runs_letter_logprobs: Tuple[Dict[str, float], ...] = ()
    # Why each run's generation stopped: "stop" (end of turn) or "length" (cut by max_new_tokens);
    # null when the backend could not tell; empty in files written before this field existed.
    runs_finish_reasons: Tuple[Optional[str], ...] = ()
    audio_seconds: Optional[float] = None
    warnings: Tuple[str, ...] = ()
    error: Optional[str] = None
    # The prompt protocol ("ours" | "paper", docs/protocols.md); files written before it existed are "ours".
    protocol: str = "ours"
    # Under a protocol that asks for the answer in a second call after the cut reasoning
    # (paper, Qwen2-Audio): that call's text per run, which runs_predictions is parsed from.
    runs_answer_raw: Tuple[str, ...] = ()
    # A model that thinks natively (docs/models.md): why each run's trace stopped, "stop" (closed by
    # the model) or "length" (cut by --max_thinking_tokens, then closed for the answer); written
    # only by thinking models (absent: no separate trace).
    runs_thinking_finish_reasons: Tuple[Optional[str], ...] = ()
    # --thinking on|off of a model with both modes (Gemma 4); absent (None) for other models.
    thinking: Optional[str] = None
    schema_version: int = field(default=SCHEMA_VERSION, init=False)

    def __post_init__(self) -> None:
        for name in _RUN_LISTS:
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    def key(self) -> Tuple[str]:
        """The resume key of a baseline line: its item id."""
        return (self.id,)

    def to_json(self) -> Dict[str, Any]:
        obj = dataclasses.asdict(self)
        for name in _RUN_LISTS:
            obj[name] = list(obj[name])
        if not obj["runs_thinking_finish_reasons"]:  # only thinking models write it
            del obj["runs_thinking_finish_reasons"]
        if obj["thinking"] is None:  # only models with both modes write it
            del obj["thinking"]
        return _versioned(obj)

    def cue_prediction(self, run: int) -> Optional[str]:
        """Run ``run``'s letter read-out after its reasoning + answer cue (argmax of its stored
        letter log-probabilities); None when they were not stored."""
        if run >= len(self.runs_letter_logprobs):
            return None
        return letter_readout(self.runs_letter_logprobs[run])

    @classmethod
    def from_json(cls, obj: Any, where: str = "<results>") -> "BaselineRecord":
        """Validate one parsed baseline line of any version (``migrate``); errors name ``where``."""
        obj = _checked_line(obj, ("id", "runs_reasonings", "runs_predictions"), "a baseline record", where)
        known = _field_names(cls, init_only=True)
        kwargs = {k: v for k, v in obj.items() if k in known}
        kwargs.setdefault("model", "")
        kwargs.setdefault("prompt_mode", "cot")
        kwargs.setdefault("answer", "")
        if not isinstance(kwargs["runs_reasonings"], list) or not isinstance(kwargs["runs_predictions"], list):
            raise RecordError(f"{where}: runs_reasonings and runs_predictions must be lists")
        record = cls(**kwargs)
        if record.error is None and len(record.runs_reasonings) != len(record.runs_predictions):
            raise RecordError(f"{where}: runs_reasonings and runs_predictions differ in length")
        return record


@dataclass(frozen=True)
class InterventionRecord:
    """One (item, run, condition, parameters) answer read after an injected or edited CoT: the
    conditioned step's ``full`` lines and every intervention's lines. Frozen: built whole by the
    variant runner; ``dataclasses.replace`` makes a changed copy."""

    id: str
    model: str
    run: int
    condition: str  # "full", "early_answering", ...
    answer_mode: str  # "logits" | "generate"
    answer: str  # gold letter
    subset: str = ""
    hop: str = ""
    dataset: str = ""  # the manifest's benchmark; "" in files from before it was written
    params: Dict[str, Any] = field(default_factory=dict)
    baseline_prediction: Optional[str] = None  # the baseline run's parsed letter
    # The baseline run's letter read-out after its own CoT (argmax of its runs_letter_logprobs).
    baseline_cue_prediction: Optional[str] = None
    # Which of the two ``agrees`` compares with: the one read the same way as ``prediction``
    # (letter read-out lines: baseline_cue_prediction; parsed lines: baseline_prediction).
    reference_field: str = "baseline_prediction"
    prediction: Optional[str] = None
    letter_logprobs: Dict[str, float] = field(default_factory=dict)
    agrees: Optional[bool] = None  # prediction == the reference_field letter; null when either is null
    correct: Optional[bool] = None  # prediction == gold; null when prediction is null
    raw: Optional[str] = None  # generated text: the answer in answer_mode "generate", or a new CoT
    reasoning: Optional[str] = None  # the CoT the answer was read after, when it differs from the baseline's
    cot_source_model: str = ""
    error: Optional[str] = None
    protocol: str = "ours"  # the prompt protocol ("ours" | "paper", docs/protocols.md)
    # Condition-specific results (e.g. "switched_to_hint"), written as top-level fields too.
    extra: Dict[str, Any] = field(default_factory=dict)
    schema_version: int = field(default=SCHEMA_VERSION, init=False)

    def key(self) -> Tuple[str, int, str, str]:
        return result_key(self.id, self.run, self.condition, self.params)

    def to_json(self) -> Dict[str, Any]:
        """Flat JSON: the condition's parameters and extra results sit beside the other fields
        (DESIGN §3); ``param_names`` lists which fields are parameters (the resume key)."""
        obj = dataclasses.asdict(self)
        params = obj.pop("params")
        extra = obj.pop("extra")
        clash = (set(params) | set(extra)) & (set(obj) | {"param_names"}) | set(params) & set(extra)
        if clash:
            raise ValueError(f"condition parameters or results shadow record fields: {sorted(clash)}")
        obj.update(params)
        obj.update(extra)
        obj["param_names"] = sorted(params)
        return _versioned(obj)

    @classmethod
    def from_json(cls, obj: Any, where: str = "<results>") -> "InterventionRecord":
        """Validate one parsed conditioned / intervention line of any version (``migrate``): the
        fields named in ``param_names`` become ``params``, other unknown fields ``extra``."""
        fields, params, extra = intervention_fields(obj, where)
        return cls(params=params, extra=extra, **fields)


def intervention_fields(obj: Any, where: str = "<results>") -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """A parsed conditioned / intervention line of any version, validated and split the way
    ``InterventionRecord.from_json`` reads it: (its other fields as constructor arguments, ``params``,
    ``extra``); a field absent from the first has its dataclass default. ``from_json`` is
    ``InterventionRecord(params=params, extra=extra, **fields)``; the report reads millions of lines
    through ``intervention_shape`` without building a frozen record (or these dicts) per line."""
    obj, shape = intervention_shape(obj, where)
    # reference_field "": a line written before it was recorded (the report joins the baseline's read-out)
    fields: Dict[str, Any] = {"model": "", "answer_mode": "", "answer": "", "reference_field": ""}
    for name in shape.field_names:
        fields[name] = obj[name]
    return fields, {name: obj[name] for name in shape.param_names}, {name: obj[name] for name in shape.extra_names}


@dataclass(frozen=True, eq=False)
class InterventionShape:
    """The split of every conditioned / intervention line with one list of field names (in order)
    and one ``param_names``: which fields are record fields, parameters and extra results, each in
    the line's order (so ``to_json`` writes the line back unchanged). One object per shape (compared
    by identity): a study has a few dozen, one per condition and version."""

    names: Tuple[str, ...]  # the line's field names, in order
    field_names: Tuple[str, ...]
    param_names: Tuple[str, ...]
    extra_names: Tuple[str, ...]
    field_set: FrozenSet[str] = field(init=False)  # field_names, for look-ups

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_set", frozenset(self.field_names))

    def record(self, obj: Dict[str, Any], params: Optional[Dict[str, Any]] = None) -> "InterventionRecord":
        """The record ``InterventionRecord.from_json`` builds from ``obj``, a line of this shape that
        ``intervention_shape`` checked (``params``: a dict equal to its parameters, used as they
        are). Its fields are set as the frozen dataclass's ``__init__`` sets them, without the call."""
        values = {name: default if factory is None else factory() for name, default, factory in _INTERVENTION_DEFAULTS}
        for name in self.field_names:
            values[name] = obj[name]
        values["params"] = {name: obj[name] for name in self.param_names} if params is None else params
        values["extra"] = {name: obj[name] for name in self.extra_names}
        record = object.__new__(InterventionRecord)
        record.__dict__.update(values)
        return record


class RecordView:
    """The record ``InterventionRecord.from_json`` builds from one checked line of a known shape,
    read without building it: a record field the line holds is read from the line on access,
    ``params`` is the dict given, ``extra`` a dict of the line's extra results (as the record's);
    any other attribute (a field the line lacks, a method) is the record's own, the record being
    built on that first access. Its fields cannot be set
    (``AttributeError``). The report hands one per line to a family's ``variant_suffix``, which
    mostly reads a field or two."""

    __slots__ = ("_line", "_shape", "_params", "_record")

    def __init__(self, line: Dict[str, Any], shape: InterventionShape, params: Dict[str, Any]) -> None:
        self._line, self._shape, self._params, self._record = line, shape, params, None

    def __getattr__(self, name: str) -> Any:
        if name in self._shape.field_set:
            return self._line[name]
        if name == "params":
            return self._params
        if name == "extra" and self._record is None:  # the extra results alone: no record built
            return {extra: self._line[extra] for extra in self._shape.extra_names}
        if self._record is None:
            self._record = self._shape.record(self._line, self._params)
        return getattr(self._record, name)


def intervention_shape(obj: Any, where: str = "<results>") -> Tuple[Dict[str, Any], InterventionShape]:
    """(the line brought to this version, its shape) of a parsed conditioned / intervention line,
    validated as ``InterventionRecord.from_json`` validates it. A current-version line of a known
    shape costs a few checks of its values (``schema_version``, ``run``, ``param_names``); the shape
    itself is checked and split once (``_split_names``)."""
    if type(obj) is dict:
        version, run, param_names = obj.get("schema_version"), obj.get("run"), obj.get("param_names", _NO_NAMES)
        if (type(version) is int and version == SCHEMA_VERSION and type(run) is int and type(param_names) is list
                and "id" in obj and "condition" in obj):
            try:
                shape = _SPLITS.get((tuple(obj), tuple(param_names)))
            except TypeError:  # a parameter name that is not a string: checked below
                shape = None
            if shape is not None:
                return obj, shape
    obj = _checked_line(obj, ("id", "run", "condition"), "a conditioned / intervention record", where)
    if not isinstance(obj["run"], int) or isinstance(obj["run"], bool):
        raise RecordError(f"{where}: 'run' must be an integer, got {obj['run']!r}")
    param_names = obj.get("param_names", [])
    if not isinstance(param_names, list):
        raise RecordError(f"{where}: 'param_names' must list fields of the line, got {param_names!r}")
    try:  # lines of one kind share their field names: the split is worked out once per shape
        key: Optional[Tuple[Tuple[str, ...], Tuple[str, ...]]] = (tuple(obj), tuple(param_names))
        shape = _SPLITS.get(key)
    except TypeError:  # a parameter name that is not a string (unhashable): checked and split below
        key, shape = None, None
    if shape is None:
        if not all(name in obj for name in param_names):
            raise RecordError(f"{where}: 'param_names' must list fields of the line, got {param_names!r}")
        field_names, params_names, extra_names = _split_names(obj, param_names)
        shape = InterventionShape(tuple(obj), field_names, params_names, extra_names)
        if key is not None and len(_SPLITS) < SPLITS_KEPT:
            _SPLITS[key] = shape
    return obj, shape


_NO_NAMES: List[str] = []


def _intervention_defaults() -> Tuple[Tuple[str, Any, Any], ...]:
    """(field, its default, its default's factory or None) of every ``InterventionRecord`` field in
    order, as ``intervention_fields`` leaves a field the line lacks (``model``, ``answer_mode``,
    ``answer``, ``reference_field``: ""); ``__init__`` sets no other (``schema_version`` is the class's)."""
    blank = {"model", "answer_mode", "answer", "reference_field"}
    return tuple((spec.name, "" if spec.name in blank else spec.default,
                  None if spec.name in blank or spec.default_factory is dataclasses.MISSING else spec.default_factory)
                 for spec in dataclasses.fields(InterventionRecord) if spec.init)


def _split_names(obj: Dict[str, Any], param_names: List[Any]) -> Tuple[Tuple[str, ...], ...]:
    """The names of a line's record fields, parameters and extra results, in the line's order
    (so ``to_json`` writes it back unchanged): ``intervention_fields``' split of every line with
    the same field names and ``param_names``."""
    known = _field_names(InterventionRecord) - {"params", "extra", "schema_version"}
    fields, params, extra = [], [], []
    for name in obj:
        if name in param_names:
            params.append(name)
        elif name in known:
            fields.append(name)
        elif name not in ("param_names", "schema_version"):
            extra.append(name)
    return tuple(fields), tuple(params), tuple(extra)


#: Line shapes (field names, ``param_names``) whose split ``intervention_shape`` keeps; a study
#: has a few dozen, one per condition and version.
SPLITS_KEPT = 4096
_SPLITS: Dict[Tuple[Tuple[str, ...], Tuple[str, ...]], InterventionShape] = {}
_INTERVENTION_DEFAULTS = _intervention_defaults()


#: Deprecated name of ``InterventionRecord`` (it holds every intervention's lines, not only the
#: conditioned step's); kept so existing imports keep working.
ConditionedRecord = InterventionRecord

ResultRecord = Union[BaselineRecord, InterventionRecord]


def is_baseline_line(obj: Dict[str, Any]) -> bool:
    """Whether a parsed result line is a baseline line (it has ``runs_predictions``) rather than
    a conditioned / intervention line (it has ``condition``)."""
    return "runs_predictions" in obj


@functools.lru_cache(maxsize=None)
def _field_names(cls: type, init_only: bool = False) -> FrozenSet[str]:
    """The field names of a record class (those set by ``__init__`` when ``init_only``), computed once
    per class: the report reads millions of lines."""
    return frozenset(f.name for f in dataclasses.fields(cls) if f.init or not init_only)


def _checked_line(obj: Any, required: Sequence[str], kind: str, where: str) -> Dict[str, Any]:
    """A parsed result line that is a JSON object holding ``required``, migrated to this version."""
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: expected a JSON object")
    missing = [name for name in required if name not in obj]
    if missing:
        raise RecordError(f"{where}: not {kind}, missing {', '.join(missing)}")
    return migrate(obj, where)


def migrate(obj: Dict[str, Any], where: str = "<results>") -> Dict[str, Any]:
    """One parsed result line (baseline or conditioned / intervention) brought to ``SCHEMA_VERSION``.

    Version 0: lines without ``schema_version`` (everything written before versions). Fields added
    over version 0's life may be absent; their meaning when absent is filled in explicitly:
    ``dataset`` "" (the report infers it from the manifest or id), ``protocol`` "ours", baseline
    ``runs_finish_reasons`` / ``runs_answer_raw`` [] (not recorded), ``warnings`` []. Version 1 adds
    ``schema_version`` and nothing else, so a version-0 line is otherwise unchanged. The input is
    not modified; a line already at the current version is returned as it is.
    """
    version = _schema_version(obj, where)
    if version == SCHEMA_VERSION:
        return obj
    migrated = dict(obj)
    if version == 0:
        migrated.setdefault("dataset", "")
        migrated.setdefault("protocol", "ours")
        if is_baseline_line(obj):
            for name in ("runs_finish_reasons", "runs_answer_raw", "warnings"):
                migrated.setdefault(name, [])
    migrated["schema_version"] = SCHEMA_VERSION
    return migrated


def read_result_line(obj: Any, where: str = "<results>") -> ResultRecord:
    """A parsed output line as its record: ``BaselineRecord`` or ``InterventionRecord``."""
    if not isinstance(obj, dict) or "id" not in obj:
        raise RecordError(f"{where}: not an audiofaith output line (no 'id')")
    if is_baseline_line(obj):
        return BaselineRecord.from_json(obj, where)
    return InterventionRecord.from_json(obj, where)


def result_key(item_id: str, run: int, condition: str, params: Dict[str, Any]) -> Tuple[str, int, str, str]:
    """The deterministic resume key of a conditioned / intervention line."""
    return (item_id, int(run), condition, json.dumps(params, sort_keys=True))


def key_of_json(obj: Dict[str, Any]) -> Tuple[str, int, str, str]:
    """Resume key of a conditioned / intervention JSON line (``InterventionRecord.key``)."""
    return InterventionRecord.from_json(obj).key()
