"""The model registry: model key -> backend class (a lazy "module:Class" string), default
checkpoint and prompt profile. Adding a model is one backend file plus one line here.

Nothing in this module imports torch or transformers; a backend's module is imported only when
that model is loaded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Dict, Optional, Type

from audiofaith.backends.base import Backend, GenerationSettings, ModelInput, ScoringError
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
}


def get_spec(key: str) -> ModelSpec:
    try:
        return MODELS[key]
    except KeyError:
        raise ValueError(f"unknown model {key!r}; known: {', '.join(sorted(MODELS))}") from None


def get_profile(key: str) -> PromptProfile:
    return PROFILES[get_spec(key).profile]


def backend_class(key: str) -> Type[Backend]:
    """Import and return the backend class registered for ``key``."""
    module_name, _, class_name = get_spec(key).backend.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def load_backend(key: str, model_path: Optional[str] = None, device: str = "auto", dtype: str = "auto") -> Backend:
    """Load the model registered as ``key`` from ``model_path`` (default: its hub checkpoint)."""
    spec = get_spec(key)
    cls = backend_class(key)
    return cls(model_path or spec.default_checkpoint, device=device, dtype=dtype, profile=get_profile(key))


__all__ = ["Backend", "GenerationSettings", "ModelInput", "ModelSpec", "MODELS", "ScoringError",
           "backend_class", "get_profile", "get_spec", "load_backend"]
