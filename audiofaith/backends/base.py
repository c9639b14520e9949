"""The backend protocol: the only surface runners use. No torch or transformers here."""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class ModelInput:
    """One model call: 16 kHz mono audio (or None for a text-only call), the user turn, and
    optionally the start of the assistant turn (injected reasoning + answer cue)."""

    user_text: str
    audio: Optional[np.ndarray] = None
    assistant_prefix: str = ""


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
        (new tokens only, special tokens removed)."""

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
