"""Audio Flamingo 3 (``AudioFlamingo3ForConditionalGeneration``, ``nvidia/audio-flamingo-3-hf``).

- The processor returns the audio mask as ``input_features_mask`` (not ``feature_attention_mask``);
  the shared encode step passes every processor output through by name, so nothing is renamed.
- Audio window: the processor splits a clip into 30 s Whisper windows and keeps at most
  ``max_audio_len`` seconds of them (600 s = 20 windows), logging (not recording) a truncation.
  The window is read from the loaded processor, so the runner cuts longer audio to it first and
  records the cut on the item.
- The chat template's default system prompt ("You are a helpful assistant.") is kept: the
  ``default`` prompt profile sets none.

The thinking mode (``af3_think``: LoRA adapter + non-LoRA weights + prompt suffix) lives in
``af3_think.py``.
"""

from __future__ import annotations

from typing import Optional

from audiofaith.backends.hf import HFAudioBackend


class AF3Backend(HFAudioBackend):
    key = "af3"
    model_class_name = "AudioFlamingo3ForConditionalGeneration"
    max_audio_seconds = 600.0  # replaced by the loaded processor's max_audio_len

    def audio_window_seconds(self) -> Optional[float]:
        return float(getattr(self.processor, "max_audio_len", self.max_audio_seconds))
