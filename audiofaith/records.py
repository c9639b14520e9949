"""Typed records for manifests, baseline results and conditioned / intervention results.

The JSON field names are a stable, documented format (docs/records.md): results from other
tools are converted into it and fed to the report, so rename nothing here lightly.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from audiofaith.errors import UserError

LETTERS = "ABCDEFGHIJ"
HOPS = ("single", "multi")
PROMPT_MODES = ("cot", "direct")


class RecordError(UserError):
    """A record that does not follow the format; the message names the file and line."""


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

    @property
    def letters(self) -> str:
        return letters_for(len(self.choices))

    def to_json(self) -> Dict[str, Any]:
        obj = dataclasses.asdict(self)
        obj["choices"] = list(self.choices)
        return obj

    @classmethod
    def from_json(cls, obj: Any, where: str = "<manifest>") -> "ManifestItem":
        """Validate one parsed manifest line; errors name ``where`` (file:line)."""
        if not isinstance(obj, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(obj).__name__}")
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
    log-probabilities were stored."""
    if not letter_logprobs:
        return None
    return max(letter_logprobs, key=letter_logprobs.get)


#: The two reference answers a conditioned line can be compared with (docs/methods.md).
REFERENCE_FIELDS = ("baseline_prediction", "baseline_cue_prediction")


@dataclass
class BaselineRecord:
    """All runs of one item in a baseline run (seed-compatible field names)."""

    id: str
    model: str
    prompt_mode: str  # "cot" | "direct"
    answer: str  # gold letter
    subset: str = ""
    hop: str = ""
    dataset: str = ""  # the manifest's benchmark ("sakura", "mmau", "mmar"); "" in files from before it was written
    runs_reasonings: List[str] = field(default_factory=list)
    runs_raw: List[str] = field(default_factory=list)
    runs_predictions: List[Optional[str]] = field(default_factory=list)
    runs_correct: List[Optional[bool]] = field(default_factory=list)
    runs_letter_logprobs: List[Dict[str, float]] = field(default_factory=list)
    # Why each run's generation stopped: "stop" (end of turn) or "length" (cut by max_new_tokens);
    # null when the backend could not tell; empty in files written before this field existed.
    runs_finish_reasons: List[Optional[str]] = field(default_factory=list)
    audio_seconds: Optional[float] = None
    warnings: List[str] = field(default_factory=list)
    error: Optional[str] = None
    # The prompt protocol ("ours" | "paper", docs/protocols.md); files written before it existed are "ours".
    protocol: str = "ours"
    # Under a protocol that asks for the answer in a second call after the cut reasoning
    # (paper, Qwen2-Audio): that call's text per run, which runs_predictions is parsed from.
    runs_answer_raw: List[str] = field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def cue_prediction(self, run: int) -> Optional[str]:
        """Run ``run``'s letter read-out after its reasoning + answer cue (argmax of its stored
        letter log-probabilities); None when they were not stored."""
        if run >= len(self.runs_letter_logprobs):
            return None
        return letter_readout(self.runs_letter_logprobs[run])

    @classmethod
    def from_json(cls, obj: Any, where: str = "<results>") -> "BaselineRecord":
        if not isinstance(obj, dict):
            raise RecordError(f"{where}: expected a JSON object")
        missing = [n for n in ("id", "runs_reasonings", "runs_predictions") if n not in obj]
        if missing:
            raise RecordError(f"{where}: not a baseline record, missing {', '.join(missing)}")
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in obj.items() if k in known}
        kwargs.setdefault("model", "")
        kwargs.setdefault("prompt_mode", "cot")
        kwargs.setdefault("answer", "")
        record = cls(**kwargs)
        if not isinstance(record.runs_reasonings, list) or not isinstance(record.runs_predictions, list):
            raise RecordError(f"{where}: runs_reasonings and runs_predictions must be lists")
        if record.error is None and len(record.runs_reasonings) != len(record.runs_predictions):
            raise RecordError(f"{where}: runs_reasonings and runs_predictions differ in length")
        return record


@dataclass
class ConditionedRecord:
    """One (item, run, condition, parameters) answer read after an injected or edited CoT."""

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

    def key(self) -> Tuple[str, int, str, str]:
        return result_key(self.id, self.run, self.condition, self.params)

    def to_json(self) -> Dict[str, Any]:
        """Flat JSON: the condition's parameters and extra results sit beside the other fields
        (DESIGN §3); ``param_names`` lists which fields are parameters (the resume key)."""
        obj = dataclasses.asdict(self)
        params = obj.pop("params")
        extra = obj.pop("extra")
        clash = (set(params) | set(extra)) & set(obj) | set(params) & set(extra)
        if clash:
            raise ValueError(f"condition parameters or results shadow record fields: {sorted(clash)}")
        obj.update(params)
        obj.update(extra)
        obj["param_names"] = sorted(params)
        return obj

    @classmethod
    def from_json(cls, obj: Any, where: str = "<results>") -> "ConditionedRecord":
        """Validate one parsed conditioned / intervention line: the fields named in ``param_names``
        become ``params``, other unknown fields ``extra``. A line written before ``reference_field``
        existed gets ``reference_field=""`` (the reader decides which baseline letter it meant)."""
        if not isinstance(obj, dict):
            raise RecordError(f"{where}: expected a JSON object")
        missing = [n for n in ("id", "model", "run", "condition") if n not in obj]
        if missing:
            raise RecordError(f"{where}: conditioned record missing field(s) {', '.join(missing)}")
        param_names = obj.get("param_names", [])
        absent = [name for name in param_names if name not in obj]
        if absent:
            raise RecordError(f"{where}: param_names lists {absent} but the line has no such field(s)")
        known = {f.name for f in dataclasses.fields(cls)} - {"params", "extra"}
        kwargs: Dict[str, Any] = {"answer_mode": "logits", "answer": "", "reference_field": ""}
        params: Dict[str, Any] = {}
        extra: Dict[str, Any] = {}
        for name, value in obj.items():
            if name in param_names:
                params[name] = value
            elif name in known:
                kwargs[name] = value
            elif name != "param_names":
                extra[name] = value
        return cls(params=params, extra=extra, **kwargs)


def result_key(item_id: str, run: int, condition: str, params: Dict[str, Any]) -> Tuple[str, int, str, str]:
    """The deterministic resume key of a conditioned / intervention line."""
    return (item_id, int(run), condition, json.dumps(params, sort_keys=True))


def key_of_json(obj: Dict[str, Any]) -> Tuple[str, int, str, str]:
    """Resume key of a conditioned / intervention JSON line written by ``ConditionedRecord``."""
    params = {name: obj[name] for name in obj.get("param_names", [])}
    return result_key(obj["id"], obj["run"], obj["condition"], params)
