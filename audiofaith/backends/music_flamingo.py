"""Music Flamingo (``MusicFlamingoForConditionalGeneration``, ``nvidia/music-flamingo-2601-hf``).

- Audio Flamingo 3's architecture with rotary time embeddings over the encoder's frames; the
  processor expands ``<sound>`` to ``<|sound_bos|>`` + one ``<sound>`` per frame + ``<|sound_eos|>``.
- Audio window: 30 s Whisper windows, at most ``max_audio_len`` = 1200 s (40 windows), read from
  the loaded processor (which only logs when it cuts), so the runner cuts longer audio first and
  records it. Everything else is AF3's (``af3.py``): the audio mask is ``input_features_mask``.
- No thinking mode: transformers' documentation describes an instruct model only, so it is
  prompted with our CoT instruction and its reasoning is the response text.
"""

from __future__ import annotations

from audiofaith.backends.af3 import AF3Backend


class MusicFlamingoBackend(AF3Backend):
    key = "music_flamingo"
    model_class_name = "MusicFlamingoForConditionalGeneration"
    max_audio_seconds = 1200.0  # replaced by the loaded processor's max_audio_len
