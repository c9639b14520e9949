"""Gemma 4, an audio-capable instruct size (``Gemma4ForConditionalGeneration``,
``google/gemma-4-E2B-it``; audio is native on E2B and E4B only).

- ``--thinking on|off``: Gemma 4 has both modes in one checkpoint. On (the default), the system
  turn holds the ``<|think|>`` control token (Google's Gemma 4 prompt format) and the model writes
  its trace in a thought channel, ``<|channel>thought\\n...\\n<channel|>``, before the visible
  answer; the trace is the CoT (``prompts.GEMMA4_THINKING``), generated with its own budget
  (``--max_thinking_tokens``). Off, there is no system turn and the reasoning is the response text.
  The mode picks the prompt profile (``gemma4_thinking`` / ``gemma4``), so it is in the sidecar's
  fingerprint and a rerun in the other mode on the same output is refused; every line records
  it (``thinking``) and the report labels rows with it.
- The channel markers are special tokens of Gemma's tokenizer: decoding keeps them
  (``HFAudioBackend._decode``) so the trace can be told from the answer.
- Audio window: the processor gives one audio at most ``audio_seq_length`` soft tokens of
  ``audio_ms_per_token`` each (750 x 40 ms = 30 s); the window is read from the loaded processor.
"""

from __future__ import annotations

from typing import Any, Optional

from audiofaith.backends.hf import (DEFAULT_MAX_THINKING_TOKENS, HFAudioBackend, add_thinking_arguments,
                                    thinking_budget)

#: Default trace budget in thinking mode (tokens), apart from the answer's --max_new_tokens.


class Gemma4Backend(HFAudioBackend):
    key = "gemma4"
    model_class_name = "Gemma4ForConditionalGeneration"
    max_audio_seconds = 30.0  # replaced by the loaded processor's audio_seq_length x audio_ms_per_token

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto", thinking: str = "on",
                 max_thinking_tokens: Optional[int] = DEFAULT_MAX_THINKING_TOKENS, **kwargs: Any) -> None:
        budget = thinking_budget(thinking, max_thinking_tokens)
        self.thinking_mode = thinking
        super().__init__(model_path, device=device, dtype=dtype, max_thinking_tokens=budget, **kwargs)
        if thinking == "off":
            self.max_thinking_tokens = None

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        add_thinking_arguments(parser, "Gemma 4's thinking mode (default on): on, its thought-channel trace is the "
                                       "CoT; off, the response text is")

    def audio_window_seconds(self) -> Optional[float]:
        processor = self.processor
        return float(processor.audio_seq_length) * float(processor.audio_ms_per_token) / 1000.0

    def provenance(self):
        return {**super().provenance(), "thinking_mode": self.thinking_mode}
