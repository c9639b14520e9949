"""A deterministic pure-Python backend for testing runner logic without a model.

It "answers" with the last option letter written as "(X)" in the text it is given, so tests can
predict every output exactly. ``reply`` may be a function of the ``ModelInput`` (e.g. to play a
rewriter); tokens are counted as whitespace-separated words."""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Sequence, Union

from audiofaith.backends.base import Backend, GenerationSettings, ModelInput


class FakeBackend(Backend):
    key = "fake"
    max_audio_seconds = 30.0

    def __init__(self, reply: Union[str, Callable[[ModelInput], str]] = "It sounds like a dog. Answer: (A)") -> None:
        self.reply = reply
        self.calls: List[tuple] = []

    def generate(self, inputs: Sequence[ModelInput], settings: GenerationSettings) -> List[List[str]]:
        self.calls.append(("generate", len(inputs), [inp.audio is None for inp in inputs]))
        replies = [self.reply(inp) if callable(self.reply) else self.reply for inp in inputs]
        return [[reply] * settings.num_return_sequences for reply in replies]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def score_letters(self, inputs: Sequence[ModelInput], letters: Sequence[Sequence[str]]) -> List[Dict[str, float]]:
        self.calls.append(("score", len(inputs), [inp.audio is None for inp in inputs]))
        out = []
        for inp, row in zip(inputs, letters):
            found = re.findall(r"\(([A-J])\)", inp.assistant_prefix)
            favourite = found[-1] if found and found[-1] in row else row[0]
            out.append({letter: (-0.1 if letter == favourite else -3.0) for letter in row})
        return out

    def provenance(self) -> Dict[str, str]:
        return {"model_key": self.key}
