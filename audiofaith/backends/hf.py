"""Shared machinery of the Hugging Face backends (Qwen2-Audio, Qwen2.5-Omni, Audio Flamingo 3).

A model family subclasses ``HFAudioBackend`` and sets its model class and, where needed, how a
conversation is written; batching, left padding, generation and letter scoring live here once.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import platform
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from audiofaith.backends.base import Backend, GenerationSettings, ModelInput, ScoringError
from audiofaith.prompts import DEFAULT_PROFILE, PromptProfile

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
             "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
    if dtype not in names:
        raise ValueError(f"unknown --dtype {dtype!r}; use auto, bf16, fp16 or fp32")
    return names[dtype]


class HFAudioBackend(Backend):
    """A transformers audio-language model behind the backend protocol."""

    model_class_name: str = ""

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto",
                 profile: PromptProfile = DEFAULT_PROFILE) -> None:
        import torch
        import transformers

        self._torch = torch
        self.model_path = str(model_path)
        self.profile = profile
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.processor = self.load_processor(self.model_path)
        self.tokenizer = self.processor.tokenizer
        self.sample_rate = int(getattr(self.processor.feature_extractor, "sampling_rate", 16000))
        # Per instance: a family may read its window from the loaded processor's configuration.
        self.max_audio_seconds = self.audio_window_seconds()
        self.model = self.load_model(getattr(transformers, self.model_class_name))
        self._generation_defaults = copy.deepcopy(self.model.generation_config)
        if self._generation_defaults.pad_token_id is None:
            self._generation_defaults.pad_token_id = self.tokenizer.pad_token_id
        if self._generation_defaults.eos_token_id is None:
            # A checkpoint without an end-of-turn id would generate to max_new_tokens every time.
            stops = [self.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", self.tokenizer.eos_token) if t]
            stops = sorted({i for i in stops if isinstance(i, int) and i != self.tokenizer.unk_token_id})
            log.warning("%s has no eos_token_id in its generation config; stopping at %s", self.model_path, stops)
            self._generation_defaults.eos_token_id = stops or None

    # -- hooks a model family may override -------------------------------------------------

    def load_processor(self, model_path: str):
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(model_path)

    def load_model(self, model_class):
        """The model in eval mode on ``self.device`` in ``self.dtype`` (override to add adapters)."""
        return model_class.from_pretrained(self.model_path, dtype=self.dtype).to(self.device).eval()

    def audio_window_seconds(self) -> Optional[float]:
        """The longest audio one item may carry; the runner cuts longer audio to it with a warning
        recorded on the item. Called after the processor is loaded."""
        return type(self).max_audio_seconds

    def generate_kwargs(self) -> Dict[str, Any]:
        """Extra model keyword arguments for every ``generate`` call (generation and scoring)."""
        return {}

    def conversation(self, inp: ModelInput) -> List[Dict[str, Any]]:
        """The chat messages for one input (audio first, then the text)."""
        content: List[Dict[str, Any]] = []
        if inp.audio is not None:
            content.append({"type": "audio"})
        content.append({"type": "text", "text": inp.user_text})
        messages: List[Dict[str, Any]] = []
        if self.profile.system_prompt is not None:
            messages.append({"role": "system", "content": [{"type": "text", "text": self.profile.system_prompt}]})
        messages.append({"role": "user", "content": content})
        return messages

    def processor_kwargs(self) -> Dict[str, Any]:
        return {"sampling_rate": self.sample_rate}

    # -- shared machinery --------------------------------------------------------------------

    def render(self, inp: ModelInput) -> str:
        """The full prompt text: chat template with the generation prompt, then the assistant prefix."""
        text = self.processor.apply_chat_template(self.conversation(inp), add_generation_prompt=True, tokenize=False)
        return text + inp.assistant_prefix

    def encode(self, inputs: Sequence[ModelInput], texts: Optional[List[str]] = None):
        """Processor call for a batch (left padding), moved to the model's device and dtype."""
        texts = texts if texts is not None else [self.render(inp) for inp in inputs]
        with_audio = [inp.audio is not None for inp in inputs]
        if any(with_audio) and not all(with_audio):
            raise ValueError("a batch must be all with audio or all text-only")
        kwargs: Dict[str, Any] = dict(text=texts, return_tensors="pt", padding=True, padding_side="left")
        if all(with_audio):
            kwargs["audio"] = [np.asarray(inp.audio, dtype=np.float32) for inp in inputs]
            kwargs.update(self.processor_kwargs())
        batch = self.processor(**kwargs)
        moved = {}
        for name, value in batch.items():
            if hasattr(value, "to"):
                value = value.to(self.device)
                if value.is_floating_point():
                    value = value.to(self.dtype)
            moved[name] = value
        return moved

    def _generation_config(self, settings: GenerationSettings):
        config = copy.deepcopy(self._generation_defaults)
        config.update(
            max_new_tokens=settings.max_new_tokens, do_sample=settings.do_sample, num_beams=1,
            num_return_sequences=settings.num_return_sequences, repetition_penalty=1.0,
            temperature=settings.temperature if settings.do_sample else 1.0,
            top_p=settings.top_p if settings.do_sample else 1.0, top_k=0 if settings.do_sample else None,
        )
        return config

    def generate(self, inputs: Sequence[ModelInput], settings: GenerationSettings) -> List[List[str]]:
        torch = self._torch
        batch = self.encode(inputs)
        if settings.do_sample:
            torch.manual_seed(settings.seed)
        with torch.inference_mode():
            output = self.model.generate(**batch, **self.generate_kwargs(),
                                         generation_config=self._generation_config(settings))
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        n = settings.num_return_sequences
        return [texts[i * n:(i + 1) * n] for i in range(len(inputs))]

    def letter_token_ids(self, text: str, letters: Sequence[str]) -> List[int]:
        """The token id of each letter as the next token after ``text``, checked exactly: the
        tokenization of ``text + letter`` must be that of ``text`` plus one token."""
        encoded = self.tokenizer([text] + [text + letter for letter in letters], add_special_tokens=False)["input_ids"]
        base = encoded[0]
        ids = []
        for letter, with_letter in zip(letters, encoded[1:]):
            if len(with_letter) != len(base) + 1 or with_letter[: len(base)] != base:
                raise ScoringError(
                    f"the answer cue {text[-20:]!r} does not end on a token boundary before {letter!r} "
                    f"for this tokenizer, so the letter cannot be scored as one next token; "
                    f"change the profile's answer_cue"
                )
            ids.append(with_letter[-1])
        if len(set(ids)) != len(ids):
            raise ScoringError(f"option letters {list(letters)} share a token id {ids}")
        return ids

    def score_letters(self, inputs: Sequence[ModelInput], letters: Sequence[Sequence[str]]) -> List[Dict[str, float]]:
        torch = self._torch
        texts = [self.render(inp) for inp in inputs]
        letter_ids = [self.letter_token_ids(text, row_letters) for text, row_letters in zip(texts, letters)]
        batch = self.encode(inputs, texts)
        config = self._generation_config(GenerationSettings(max_new_tokens=1))
        config.update(output_logits=True, return_dict_in_generate=True)
        with torch.inference_mode():
            output = self.model.generate(**batch, **self.generate_kwargs(), generation_config=config)
        logprobs = torch.log_softmax(output.logits[0].float(), dim=-1).cpu()
        return [
            {letter: float(logprobs[row, token]) for letter, token in zip(row_letters, ids)}
            for row, (row_letters, ids) in enumerate(zip(letters, letter_ids))
        ]

    def provenance(self) -> Dict[str, Any]:
        import torch
        import transformers

        template = getattr(self.processor, "chat_template", None) or ""
        return {
            "model_key": self.key,
            "checkpoint": self.model_path,
            "revision": getattr(self.model.config, "_commit_hash", None),
            "model_class": type(self.model).__name__,
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": self.device,
            "device_name": (torch.cuda.get_device_name(self.device) if self.device.startswith("cuda")
                            else platform.processor() or platform.machine()),
            "chat_template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest()[:16],
            "libraries": {"torch": torch.__version__, "transformers": transformers.__version__},
            "max_audio_seconds": self.max_audio_seconds,
        }
