"""A throwaway model, as the recipe in docs/architecture.md ("Adding a model") says a new model is
written: one backend, one spec and one tiny builder (here in one test-only module; a real model puts
the backend in audiofaith/backends/<family>.py, the spec in MODELS and the builder in audiofaith/checkpoints/tiny.py).
tests/backends/test_model_recipe.py registers it and runs it through the generic paths."""

from __future__ import annotations

from pathlib import Path

from audiofaith.backends import ModelSpec
from audiofaith.backends.hf import HFAudioBackend


class ToyAudioBackend(HFAudioBackend):
    """1. The backend: the shared Hugging Face machinery with this family's model class."""

    key = "toy_audio"
    model_class_name = "Qwen2AudioForConditionalGeneration"
    max_audio_seconds = 30.0


def build_toy_audio(out: Path, seed: int = 0) -> Path:
    """3. The tiny builder: a checkpoint of the family's real classes at toy size."""
    from audiofaith.checkpoints.tiny import build_qwen2_audio

    return build_qwen2_audio(out, seed)


#: 2. The spec (a real model adds it to MODELS in audiofaith/backends/__init__.py).
TOY_SPEC = ModelSpec("toy_audio", "tests.backends.toy_model:ToyAudioBackend", "example/toy-audio-7b", "default",
                     "Toy Audio 7B", "ToyAudio", "tests.backends.toy_model:build_toy_audio", "hf")
