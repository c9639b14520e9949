"""The backend protocol: the only surface runners use. No torch or transformers here."""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class ModelInput:
    """One model call: 16 kHz mono audio (or None for a text-only call), the user turn, and
    optionally the start of the assistant turn (injected reasoning + answer cue).

    The other fields serve prompt protocols that differ from ours (``audiofaith/text/protocols.py``):
    ``system_prompt`` replaces the profile's system turn, ``audio_after_text`` puts the audio part
    after the text in the user turn, and ``turns`` are later turns after the first user turn,
    alternating assistant, user, assistant ... (text only)."""

    user_text: str
    audio: Optional[np.ndarray] = None
    assistant_prefix: str = ""
    system_prompt: Optional[str] = None
    audio_after_text: bool = False
    turns: Tuple[str, ...] = ()
    #: Sampling only: one seed per returned sequence (run), derived by the runner from
    #: (base seed, item id, run), so a run's sample does not depend on its batch (docs/methods.md).
    run_seeds: Optional[Tuple[int, ...]] = None
    #: What ``audio`` is, among the inputs of one call: rows with the same key hear the same
    #: samples (the runner names them by source file and audio edit). A backend may share the
    #: prompt prefix of such rows (``HFAudioBackend``); audio without a key is never shared.
    audio_key: Optional[str] = None


#: Why generation stopped: the model ended its turn, or it hit ``max_new_tokens``.
FINISH_REASONS = ("stop", "length")


class GeneratedText(str):
    """A generated text that also says why generation stopped (``finish_reason``: ``"stop"``,
    ``"length"``, or None when the backend cannot tell). A ``str`` for every other purpose.

    A thinking model's text also says why its trace stopped (``thinking_finish_reason``: ``"stop"``
    when it closed the trace, ``"length"`` when its trace budget cut it; None for a text without a
    separately generated trace)."""

    finish_reason: Optional[str]
    thinking_finish_reason: Optional[str]

    def __new__(cls, text: str, finish_reason: Optional[str] = None,
                thinking_finish_reason: Optional[str] = None) -> "GeneratedText":
        for reason in (finish_reason, thinking_finish_reason):
            if reason is not None and reason not in FINISH_REASONS:
                raise ValueError(f"finish_reason must be one of {FINISH_REASONS} or None, got {reason!r}")
        obj = super().__new__(cls, text)
        obj.finish_reason = finish_reason
        obj.thinking_finish_reason = thinking_finish_reason
        return obj


def finish_reason_of(text: str) -> Optional[str]:
    """The finish reason of a generated text (None for a plain ``str`` from a backend that does
    not report it)."""
    return getattr(text, "finish_reason", None)


def thinking_finish_reason_of(text: str) -> Optional[str]:
    """Why a thinking model's trace stopped (None: no separately generated trace)."""
    return getattr(text, "thinking_finish_reason", None)


def finish_reason_from_tokens(token_ids: Sequence[int], stop_ids: Sequence[int]) -> str:
    """``"stop"`` when the new tokens contain an end-of-turn / end-of-sequence id, else
    ``"length"`` (the token limit cut the text). Padding after a stop does not matter."""
    stops = set(int(i) for i in stop_ids)
    return "stop" if any(int(t) in stops for t in token_ids) else "length"


@dataclass(frozen=True)
class GenerationSettings:
    """Generation settings, always passed explicitly (hub generation configs differ)."""

    max_new_tokens: int = 512
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    num_return_sequences: int = 1
    seed: int = 0

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


class ScoringError(RuntimeError):
    """The answer cue does not end on a token boundary, so letters cannot be scored exactly."""


class Backend(abc.ABC):
    """A loaded model. Subclasses live one per file in ``audiofaith.backends``."""

    key: str = ""
    #: Longest audio the model sees in one item; longer audio is truncated with a recorded warning.
    max_audio_seconds: Optional[float] = None

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        """Declare backend-specific command-line options (``parser.add_argument(...)``); the CLI
        passes their parsed values to the constructor as keyword arguments and records them in
        the output's provenance. Called before the model loads, so it must not import torch."""

    @classmethod
    def check_model_path(cls, model_path: str) -> None:
        """Raise ``UserError`` when ``model_path`` cannot be loaded (checked before the model loads
        and before the output's sidecar is written). Default: no check."""

    @abc.abstractmethod
    def generate(self, inputs: Sequence[ModelInput], settings: GenerationSettings) -> List[List[str]]:
        """Generate for a batch; returns ``settings.num_return_sequences`` texts per input
        (new tokens only, special tokens removed), as ``GeneratedText`` with their finish reason.
        When sampling, sequence j of an input is drawn with ``inp.run_seeds[j]`` alone, so it does
        not depend on the other rows of the batch."""

    @abc.abstractmethod
    def score_letters(self, inputs: Sequence[ModelInput], letters: Sequence[Sequence[str]]) -> List[Dict[str, float]]:
        """Log-probabilities (log-softmax over the whole vocabulary) of each option letter as the
        next token after each input's assistant prefix, in one forward pass for the batch."""

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` is for this model's tokenizer (no special tokens added); used
        to length-match filler text. Optional: a backend without it cannot run ``--kind filler``."""
        raise NotImplementedError(f"the {self.key or type(self).__name__} backend does not count tokens")

    @abc.abstractmethod
    def provenance(self) -> Dict[str, Any]:
        """What identifies this model run: checkpoint, revision, dtype, device, library versions."""
