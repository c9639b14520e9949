"""Qwen2.5-Omni-7B, text output only (``Qwen2_5OmniThinkerForConditionalGeneration``).

- The thinker class loads just the thinker from the full checkpoint (transformers strips the
  ``thinker.`` prefix), so no talker or token2wav is built, and its ``generate`` honours
  ``max_new_tokens``. The full ``Qwen2_5OmniForConditionalGeneration`` does not: there an
  unprefixed ``max_new_tokens`` loses to its ``thinker_max_new_tokens=1024`` default, and its
  text-only switch changed name across 5.x releases.
- Qwen's fixed system prompt comes from the ``qwen_omni`` prompt profile, as a content list, the
  same in every condition.
- ``use_audio_in_video`` is off: the processor gets no video (so it never loads audio from one)
  and ``generate`` gets ``use_audio_in_video=False`` explicitly.
- Audio window: the feature extractor pads or cuts every clip to its ``n_samples``
  (``chunk_length`` seconds; 300 s in the hub's preprocessor config) and the encoder then works
  through it in ``n_window`` blocks. The window is read from the loaded processor, so the runner
  cuts longer audio to exactly that length, with a warning recorded on the item, instead of the
  feature extractor cutting it silently.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from audiofaith.backends.hf import HFAudioBackend


class QwenOmniBackend(HFAudioBackend):
    key = "qwen_omni"
    model_class_name = "Qwen2_5OmniThinkerForConditionalGeneration"
    max_audio_seconds = 300.0  # replaced by the loaded feature extractor's window

    def audio_window_seconds(self) -> Optional[float]:
        extractor = self.processor.feature_extractor
        return float(extractor.n_samples) / float(extractor.sampling_rate)

    def generate_kwargs(self) -> Dict[str, Any]:
        return {"use_audio_in_video": False}
