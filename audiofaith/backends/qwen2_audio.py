"""Qwen2-Audio-7B-Instruct (``Qwen2AudioForConditionalGeneration``).

Its processor pads every clip to a 30 s Whisper window and cuts longer audio, so the runner
truncates to 30 s first and records it on the item.
"""

from __future__ import annotations

from audiofaith.backends.hf import HFAudioBackend


class Qwen2AudioBackend(HFAudioBackend):
    key = "qwen2_audio"
    model_class_name = "Qwen2AudioForConditionalGeneration"
    max_audio_seconds = 30.0
