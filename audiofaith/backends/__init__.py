"""The model registry: one ``ModelSpec`` per model key holds the model's whole footprint: its
backend class (a lazy "module:Class" string), default checkpoint, prompt profile, display name,
the prefix of its scripts in ``interface/``, its tiny-checkpoint builder (a lazy
"module:function" string) and the environment it runs in. The interface scripts, the shell
loops (``scripts/run_benchmark.sh --model KEY``), ``python -m audiofaith.checkpoints.tiny --arch KEY``,
``audiofaith models``, the docs table in docs/models.md and the tests' model lists all read it.

Adding a model is one backend file, one spec here and one tiny builder (docs/architecture.md).
Nothing in this module imports torch or transformers; a backend's or builder's module is imported
only when that model is loaded or built.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from audiofaith.backends.base import Backend, GenerationSettings, ModelInput, ScoringError
from audiofaith.errors import UserError
from audiofaith.text.prompts import PROFILES, PromptProfile

#: Environment name -> the requirements file that installs it (docs/models.md, docs/salmonn.md).
ENVIRONMENTS: Dict[str, str] = {"hf": "requirements/hf.txt", "salmonn": "requirements/salmonn.txt"}

#: The scripts every model has in interface/: ``<prefix>_<kind>.py`` -> the audiofaith.cli.main entry point.
SCRIPT_KINDS: Dict[str, str] = {"wrapper": "baseline_main", "conditioned": "conditioned_main",
                                "intervene": "intervene_main"}


@dataclass(frozen=True)
class ModelSpec:
    key: str
    backend: str  # "package.module:ClassName", imported lazily
    default_checkpoint: str
    profile: str
    display_name: str
    script_prefix: str  # interface/<script_prefix>_wrapper.py, _conditioned.py, _intervene.py
    tiny_builder: str  # "package.module:function", function(out: Path, seed: int) -> Path, imported lazily
    environment: str = "hf"  # a key of ENVIRONMENTS
    footprint: str = ""  # what loading the real weights takes, where it needs more than one GPU of 40+ GB
    #: A model with both a thinking and a non-thinking mode (``--thinking on|off``): mode -> prompt
    #: profile; empty for a model with one mode (``profile`` is then its only one).
    thinking_profiles: Tuple[Tuple[str, str], ...] = ()

    @property
    def requirements(self) -> str:
        return ENVIRONMENTS[self.environment]

    @property
    def scripts(self) -> Tuple[str, ...]:
        """The file names of its scripts in interface/."""
        return tuple(f"{self.script_prefix}_{kind}.py" for kind in SCRIPT_KINDS)


MODELS: Dict[str, ModelSpec] = {spec.key: spec for spec in (
    ModelSpec("qwen2_audio", "audiofaith.backends.qwen2_audio:Qwen2AudioBackend", "Qwen/Qwen2-Audio-7B-Instruct",
              "default", "Qwen2-Audio-7B-Instruct", "Qwen2Audio", "audiofaith.checkpoints.tiny:build_qwen2_audio"),
    ModelSpec("salmonn", "audiofaith.backends.salmonn:SalmonnBackend", "tsinghua-ee/SALMONN-7B",
              "default", "SALMONN-7B", "SALMONN", "audiofaith.checkpoints.tiny_salmonn:build_salmonn_7b", "salmonn"),
    ModelSpec("salmonn_13b", "audiofaith.backends.salmonn:Salmonn13BBackend", "tsinghua-ee/SALMONN",
              "default", "SALMONN-13B", "SALMONN13B", "audiofaith.checkpoints.tiny_salmonn:build_salmonn_13b", "salmonn"),
    ModelSpec("qwen_omni", "audiofaith.backends.qwen_omni:QwenOmniBackend", "Qwen/Qwen2.5-Omni-7B",
              "qwen_omni", "Qwen2.5-Omni-7B (thinker)", "QwenOmni", "audiofaith.checkpoints.tiny:build_qwen_omni"),
    ModelSpec("af3", "audiofaith.backends.af3:AF3Backend", "nvidia/audio-flamingo-3-hf",
              "default", "Audio Flamingo 3", "AF3", "audiofaith.checkpoints.tiny:build_af3"),
    ModelSpec("af3_think", "audiofaith.backends.af3_think:AF3ThinkBackend", "nvidia/audio-flamingo-3-hf",
              "af3_think", "Audio Flamingo 3 (thinking)", "AFthink", "audiofaith.checkpoints.tiny:build_af3_think"),
    ModelSpec("qwen3_omni", "audiofaith.backends.qwen3_omni:Qwen3OmniBackend", "Qwen/Qwen3-Omni-30B-A3B-Instruct",
              "default", "Qwen3-Omni-30B-A3B-Instruct (thinker)", "Qwen3Omni", "audiofaith.checkpoints.tiny:build_qwen3_omni",
              footprint="MoE 30B (3B active), ~60 GB bf16: --device_map auto across GPUs"),
    ModelSpec("qwen3_omni_thinking", "audiofaith.backends.qwen3_omni:Qwen3OmniThinkingBackend",
              "Qwen/Qwen3-Omni-30B-A3B-Thinking", "qwen3_omni_thinking", "Qwen3-Omni-30B-A3B-Thinking (thinker)",
              "Qwen3OmniThink", "audiofaith.checkpoints.tiny:build_qwen3_omni_thinking",
              footprint="MoE 30B (3B active), ~60 GB bf16: --device_map auto across GPUs"),
    ModelSpec("music_flamingo", "audiofaith.backends.music_flamingo:MusicFlamingoBackend",
              "nvidia/music-flamingo-2601-hf", "default", "Music Flamingo", "MusicFlamingo",
              "audiofaith.checkpoints.tiny:build_music_flamingo"),
    ModelSpec("nemotron_omni", "audiofaith.backends.nemotron_omni:NemotronOmniBackend",
              "nvidia/Nemotron-3-Nano-Omni-30B-A3B-Reasoning-BF16", "nemotron_omni_thinking",
              "Nemotron 3 Nano Omni 30B-A3B Reasoning", "NemotronOmni", "audiofaith.checkpoints.tiny:build_nemotron_omni",
              footprint="hybrid Mamba/MoE 30B (3B active), ~60 GB bf16: --device_map auto across GPUs",
              thinking_profiles=(("on", "nemotron_omni_thinking"), ("off", "nemotron_omni"))),
    ModelSpec("gemma4", "audiofaith.backends.gemma4:Gemma4Backend", "google/gemma-4-E2B-it", "gemma4_thinking",
              "Gemma 4 E2B-it", "Gemma4", "audiofaith.checkpoints.tiny:build_gemma4",
              thinking_profiles=(("on", "gemma4_thinking"), ("off", "gemma4"))),
    ModelSpec("voxtral", "audiofaith.backends.voxtral:VoxtralBackend", "mistralai/Voxtral-Mini-3B-2507", "default",
              "Voxtral Mini 3B", "Voxtral", "audiofaith.checkpoints.tiny:build_voxtral"),
)}


def get_spec(key: str) -> ModelSpec:
    try:
        return MODELS[key]
    except KeyError:
        raise UserError(f"unknown model {key!r}; known: {', '.join(sorted(MODELS))}") from None


def spec_for_script_prefix(prefix: str) -> ModelSpec:
    """The spec whose interface scripts are named ``<prefix>_<kind>.py``."""
    for spec in MODELS.values():
        if spec.script_prefix == prefix:
            return spec
    known = ", ".join(sorted(spec.script_prefix for spec in MODELS.values()))
    raise UserError(f"no registered model has the script prefix {prefix!r}; known: {known}")


def model_keys(environment: Optional[str] = None) -> List[str]:
    """The registered model keys (in registry order), optionally only those of one environment."""
    return [key for key, spec in MODELS.items() if environment is None or spec.environment == environment]


def get_profile(key: str, thinking: Optional[str] = None) -> PromptProfile:
    """The prompt profile of model ``key``; ``thinking`` ("on" / "off") picks the mode of a model
    that has both (None: its default mode)."""
    spec = get_spec(key)
    if thinking is None:
        return PROFILES[spec.profile]
    modes = dict(spec.thinking_profiles)
    if thinking not in modes:
        having = ", ".join(k for k, s in MODELS.items() if s.thinking_profiles) or "none"
        raise UserError(f"--thinking is for models with both a thinking and a non-thinking mode ({having}); "
                        f"{key} has {'modes ' + ', '.join(modes) if modes else 'one mode'}")
    return PROFILES[modes[thinking]]


def resolve_lazy(target: str) -> Any:
    """Import ``"package.module:name"`` and return the named object."""
    module_name, _, name = target.partition(":")
    return getattr(importlib.import_module(module_name), name)


def backend_class(key: str) -> Type[Backend]:
    """Import and return the backend class registered for ``key``."""
    return resolve_lazy(get_spec(key).backend)


def tiny_builder(key: str) -> Callable[..., Any]:
    """Import and return the tiny-checkpoint builder registered for ``key`` (``function(out, seed)``)."""
    return resolve_lazy(get_spec(key).tiny_builder)


def load_backend(key: str, model_path: Optional[str] = None, device: str = "auto", dtype: str = "auto",
                 **options: Any) -> Backend:
    """Load the model registered as ``key`` from ``model_path`` (default: its hub checkpoint);
    ``options`` are the backend's own settings (see ``Backend.add_arguments``)."""
    spec = get_spec(key)
    cls = backend_class(key)
    profile = get_profile(key, options.get("thinking"))
    return cls(model_path or spec.default_checkpoint, device=device, dtype=dtype, profile=profile, **options)


def models_markdown() -> str:
    """The registry as the markdown table in docs/models.md (tests/backends/test_registry.py keeps them in step)."""
    lines = ["| key | model | default checkpoint | scripts (`interface/`) | prompt profile | environment | footprint |",
             "|---|---|---|---|---|---|---|"]
    for spec in MODELS.values():
        scripts = f"`{spec.script_prefix}_{{wrapper,conditioned,intervene}}.py`"
        lines.append(f"| `{spec.key}` | {spec.display_name} | `{spec.default_checkpoint}` | {scripts} | "
                     f"`{spec.profile}` | {spec.environment} (`{spec.requirements}`) | {spec.footprint or 'one GPU'} |")
    return "\n".join(lines) + "\n"


def models_main(argv: Optional[List[str]] = None) -> int:
    """``audiofaith models``: the registered models, as a text table, the docs' markdown table, or
    one model's script prefix (for scripts/run_benchmark.sh)."""
    parser = argparse.ArgumentParser(prog="audiofaith models", description="List the registered models.")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--markdown", action="store_true", help="print the table of docs/models.md")
    form.add_argument("--script_prefix", metavar="KEY",
                      help="print only KEY's script prefix (interface/<prefix>_wrapper.py ...); exit 2 if unknown")
    args = parser.parse_args(argv)
    if args.script_prefix is not None:
        try:
            print(get_spec(args.script_prefix).script_prefix)
        except UserError as error:
            parser.exit(2, f"{parser.prog}: {error}\n")
        return 0
    if args.markdown:
        print(models_markdown(), end="")
        return 0
    rows = [(spec.key, spec.display_name, spec.default_checkpoint, f"interface/{spec.script_prefix}_*.py",
             f"[{spec.footprint}] " if spec.footprint else "", spec.environment) for spec in MODELS.values()]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]  # as wide as the longest entry
    for *cells, footprint, environment in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + f"  {footprint}{environment}")
    return 0


__all__ = ["Backend", "ENVIRONMENTS", "GenerationSettings", "ModelInput", "ModelSpec", "MODELS", "SCRIPT_KINDS",
           "ScoringError", "backend_class", "get_profile", "get_spec", "load_backend", "model_keys",
           "models_main", "models_markdown", "resolve_lazy", "spec_for_script_prefix", "tiny_builder"]
