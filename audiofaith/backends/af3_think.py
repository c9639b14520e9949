"""Audio Flamingo 3 in thinking mode (``af3_think``): plain AF3 plus, from the checkpoint's
``think/`` folder, a PEFT LoRA adapter and ``non_lora_trainables.bin`` (the weights that were
trained fully, not through LoRA), plus the prompt suffix of the ``af3_think`` profile.

Loading order: base model -> non-LoRA weights (copied into the base parameters) -> LoRA adapter
-> merged into the weights (``merge_and_unload``), so generation runs at plain-model speed and
the loaded model is an ordinary ``AudioFlamingo3ForConditionalGeneration``.

Both parts are checked and fail loudly instead of being dropped silently:

- every tensor of ``non_lora_trainables.bin`` must map, through ``NON_LORA_KEY_MAP``, to exactly
  one parameter or buffer of the model with the same shape (the common ``load_state_dict(...,
  strict=False)`` recipe silently ignores old-layout names on transformers >= 5.10);
- every tensor of the adapter file must be used, and every LoRA weight the adapter config creates
  must be loaded.

``<checkpoint>/think/`` is used when the checkpoint is a local directory; otherwise the hub
repository's ``think`` subfolder (downloaded, or found in the ``HF_HOME`` cache).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from audiofaith.backends.af3 import AF3Backend
from audiofaith.errors import UserError

log = logging.getLogger(__name__)

THINK_SUBFOLDER = "think"
NON_LORA_FILE = "non_lora_trainables.bin"

#: Prefix a PEFT-wrapped model adds to every name; removed before the map below is applied.
PEFT_WRAPPER_PREFIX = "base_model.model."

#: Old-layout name prefix -> module path in transformers >= 5.10, which nests the submodules of
#: ``AudioFlamingo3ForConditionalGeneration`` as ``model.audio_tower``, ``model.language_model``
#: (a ``Qwen2Model``: ``embed_tokens``, ``layers``, ``norm``) and ``model.multi_modal_projector``
#: (``linear_1``, ``linear_2``), with ``lm_head`` on top. The first matching prefix wins, so the
#: more specific entries come first. A name that is already a current module path is kept as is.
NON_LORA_KEY_MAP: Tuple[Tuple[str, str], ...] = (
    # The Hugging Face port before transformers 5.10 (also what save_pretrained writes on disk):
    # top-level audio_tower / multi_modal_projector and a Qwen2ForCausalLM as language_model.
    ("language_model.model.", "model.language_model."),
    ("language_model.lm_head.", "lm_head."),
    ("audio_tower.", "model.audio_tower."),
    ("multi_modal_projector.layers.0.", "model.multi_modal_projector.linear_1."),
    ("multi_modal_projector.layers.2.", "model.multi_modal_projector.linear_2."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
    # NVIDIA's original training code (llava-style components llm / sound_tower /
    # sound_mm_projector, the projector an nn.Sequential whose Linear layers are 0 and 2).
    ("llm.model.", "model.language_model."),
    ("llm.lm_head.", "lm_head."),
    ("sound_tower.", "model.audio_tower."),
    ("sound_mm_projector.layers.0.", "model.multi_modal_projector.linear_1."),
    ("sound_mm_projector.layers.2.", "model.multi_modal_projector.linear_2."),
)


class ThinkWeightsError(UserError):
    """The thinking-mode weights do not fit the model; nothing is loaded silently half-way."""


def _listing(title: str, names: Sequence[str], limit: int = 20) -> str:
    shown = "\n".join(f"    {name}" for name in list(names)[:limit])
    more = f"\n    ... and {len(names) - limit} more" if len(names) > limit else ""
    return f"  {title} ({len(names)}):\n{shown}{more}"


def map_non_lora_key(name: str, current: Mapping[str, Any]) -> Optional[str]:
    """The current module path for one name of ``non_lora_trainables.bin`` (None: no rule fits)."""
    if name.startswith(PEFT_WRAPPER_PREFIX):
        name = name[len(PEFT_WRAPPER_PREFIX):]
    if name in current:
        return name
    for old, new in NON_LORA_KEY_MAP:
        if name.startswith(old):
            return new + name[len(old):]
    return None


def remap_non_lora_state(state: Mapping[str, Any], current: Mapping[str, Tuple[int, ...]],
                         source: str = NON_LORA_FILE) -> Dict[str, Tuple[str, Any]]:
    """``{current name: (old name, tensor)}`` for every tensor of ``state``; raises
    ``ThinkWeightsError`` listing every name that maps to nothing, to a name the model lacks, to
    the same name as another, or to a parameter of another shape."""
    mapped: Dict[str, Tuple[str, Any]] = {}
    no_rule: List[str] = []
    not_in_model: List[str] = []
    duplicates: List[str] = []
    wrong_shape: List[str] = []
    for old_name, tensor in state.items():
        new_name = map_non_lora_key(old_name, current)
        if new_name is None:
            no_rule.append(old_name)
        elif new_name not in current:
            not_in_model.append(f"{old_name} -> {new_name}")
        elif new_name in mapped:
            duplicates.append(f"{old_name} and {mapped[new_name][0]} -> {new_name}")
        elif tuple(tensor.shape) != tuple(current[new_name]):
            wrong_shape.append(f"{old_name} -> {new_name}: file {tuple(tensor.shape)}, model {tuple(current[new_name])}")
        else:
            mapped[new_name] = (old_name, tensor)
    problems = [(title, names) for title, names in (
        ("names no rule of NON_LORA_KEY_MAP maps", no_rule),
        ("names mapped to a parameter the model does not have", not_in_model),
        ("names mapped to the same parameter", duplicates),
        ("shape mismatches", wrong_shape),
    ) if names]
    if problems:
        details = "\n".join(_listing(title, names) for title, names in problems)
        raise ThinkWeightsError(
            f"{source}: {sum(len(n) for _, n in problems)} of {len(state)} tensor(s) cannot be loaded into "
            f"AudioFlamingo3ForConditionalGeneration, and none is skipped silently:\n{details}\n"
            f"  (extend NON_LORA_KEY_MAP in audiofaith/backends/af3_think.py if the file uses another layout)"
        )
    return mapped


class AF3ThinkBackend(AF3Backend):
    key = "af3_think"

    def load_model(self, model_class):
        model = super().load_model(model_class)
        think = self._think_folder()
        self._think_info: Dict[str, Any] = {"adapter": str(think)}
        if not Path(self.model_path).is_dir():
            self._think_info["hub_subfolder"] = f"{self.model_path}:{THINK_SUBFOLDER}/"
        self._load_non_lora(model, str(think / NON_LORA_FILE))
        return self._load_adapter(model, str(think)).eval()

    def _think_folder(self) -> Path:
        """``<checkpoint>/think`` for a local checkpoint; for a hub id, that subfolder of the
        repository fetched (or found in the cache) as a local folder. PEFT's own ``subfolder``
        handling is not used: offline it looks for ``think/think/...`` (peft 0.21)."""
        local = Path(self.model_path)
        if local.is_dir():
            think = local / THINK_SUBFOLDER
        else:
            from huggingface_hub import snapshot_download

            think = Path(snapshot_download(self.model_path, allow_patterns=[f"{THINK_SUBFOLDER}/*"])) / THINK_SUBFOLDER
        missing = [name for name in ("adapter_config.json", NON_LORA_FILE) if not (think / name).is_file()]
        if missing:
            raise ThinkWeightsError(f"{think}: thinking mode needs {', '.join(missing)} there "
                                    f"(a PEFT LoRA adapter plus {NON_LORA_FILE})")
        return think

    def _load_non_lora(self, model, path: str) -> None:
        torch = self._torch
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, Mapping) or not state:
            raise ThinkWeightsError(f"{path}: expected a non-empty state dict, got {type(state).__name__}")
        targets = dict(model.named_parameters())
        targets.update(dict(model.named_buffers()))
        mapped = remap_non_lora_state(state, {name: tuple(t.shape) for name, t in targets.items()}, path)
        with torch.no_grad():
            for new_name, (_, tensor) in mapped.items():
                targets[new_name].copy_(tensor.to(device=targets[new_name].device, dtype=targets[new_name].dtype))
        renamed = sum(old != new for new, (old, _) in mapped.items())
        log.info("%s: %d non-LoRA tensor(s) loaded (%d renamed from the old layout)", path, len(mapped), renamed)
        self._think_info.update(non_lora_file=path, non_lora_sha256=digest, non_lora_tensors=len(mapped),
                                non_lora_renamed=renamed)

    def _load_adapter(self, model, adapter: str):
        from peft import PeftConfig, get_peft_model

        config = PeftConfig.from_pretrained(adapter)
        config.base_model_name_or_path = model.name_or_path  # the base is ours; PEFT would warn on any other
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # PEFT calling a deprecated transformers name
            peft_model = get_peft_model(model, config)
        # load_adapter (unlike PeftModel.from_pretrained) returns what matched, so it can be checked.
        result = peft_model.load_adapter(adapter, adapter_name="default")
        missing = [k for k in result.missing_keys if "lora_" in k]
        unexpected = list(result.unexpected_keys)
        if missing or unexpected:
            details = "\n".join(_listing(title, names) for title, names in (
                ("adapter tensors that match no LoRA weight of the model", unexpected),
                ("LoRA weights the adapter file does not provide", missing)) if names)
            raise ThinkWeightsError(f"{adapter} ({THINK_SUBFOLDER} LoRA adapter) does not fit the model:\n{details}")
        lora_tensors = sum(1 for name, _ in peft_model.named_parameters() if ".lora_" in name)
        merged = peft_model.merge_and_unload()
        log.info("%s: LoRA adapter (r=%s, alpha=%s, %d tensors) loaded and merged", adapter,
                 getattr(config, "r", None), getattr(config, "lora_alpha", None), lora_tensors)
        target = getattr(config, "target_modules", None)
        self._think_info.update(
            peft_type=str(getattr(config.peft_type, "value", config.peft_type)), lora_r=getattr(config, "r", None),
            lora_alpha=getattr(config, "lora_alpha", None), lora_tensors=lora_tensors,
            target_modules=sorted(target) if isinstance(target, (set, list, tuple)) else target, merged=True,
        )
        return merged

    def provenance(self) -> Dict[str, Any]:
        info = super().provenance()
        info["think"] = dict(self._think_info)
        return info
