"""The model registry: model key -> backend class (a lazy "module:Class" string), default
checkpoint and prompt profile. Adding a model is one backend file plus one line here.

Nothing in this module imports torch or transformers; a backend's module is imported only when
that model is loaded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Dict, Optional, Type

from audiofaith.backends.base import Backend, GenerationSettings, ModelInput, ScoringError
from audiofaith.errors import UserError
from audiofaith.prompts import PROFILES, PromptProfile


@dataclass(frozen=True)
class ModelSpec:
    key: str
    backend: str  # "package.module:ClassName", imported lazily
    default_checkpoint: str
    profile: str
    display_name: str


MODELS: Dict[str, ModelSpec] = {
    "qwen2_audio": ModelSpec("qwen2_audio", "audiofaith.backends.qwen2_audio:Qwen2AudioBackend",
                             "Qwen/Qwen2-Audio-7B-Instruct", "default", "Qwen2-Audio-7B-Instruct"),
    "salmonn": ModelSpec("salmonn", "audiofaith.backends.salmonn:SalmonnBackend",
                         "tsinghua-ee/SALMONN-7B", "default", "SALMONN-7B"),
    "salmonn_13b": ModelSpec("salmonn_13b", "audiofaith.backends.salmonn:Salmonn13BBackend",
                             "tsinghua-ee/SALMONN", "default", "SALMONN-13B"),
    "qwen_omni": ModelSpec("qwen_omni", "audiofaith.backends.qwen_omni:QwenOmniBackend",
                           "Qwen/Qwen2.5-Omni-7B", "qwen_omni", "Qwen2.5-Omni-7B (thinker)"),
    "af3": ModelSpec("af3", "audiofaith.backends.af3:AF3Backend",
                     "nvidia/audio-flamingo-3-hf", "default", "Audio Flamingo 3"),
    "af3_think": ModelSpec("af3_think", "audiofaith.backends.af3_think:AF3ThinkBackend",
                           "nvidia/audio-flamingo-3-hf", "af3_think", "Audio Flamingo 3 (thinking)"),
}


def get_spec(key: str) -> ModelSpec:
    try:
        return MODELS[key]
    except KeyError:
        raise UserError(f"unknown model {key!r}; known: {', '.join(sorted(MODELS))}") from None


def get_profile(key: str) -> PromptProfile:
    return PROFILES[get_spec(key).profile]


def backend_class(key: str) -> Type[Backend]:
    """Import and return the backend class registered for ``key``."""
    module_name, _, class_name = get_spec(key).backend.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def load_backend(key: str, model_path: Optional[str] = None, device: str = "auto", dtype: str = "auto",
                 **options: Any) -> Backend:
    """Load the model registered as ``key`` from ``model_path`` (default: its hub checkpoint);
    ``options`` are the backend's own settings (see ``Backend.add_arguments``)."""
    spec = get_spec(key)
    cls = backend_class(key)
    return cls(model_path or spec.default_checkpoint, device=device, dtype=dtype, profile=get_profile(key), **options)


__all__ = ["Backend", "GenerationSettings", "ModelInput", "ModelSpec", "MODELS", "ScoringError",
           "backend_class", "get_profile", "get_spec", "load_backend"]
