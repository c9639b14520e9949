"""Shared machinery of the Hugging Face backends (Qwen2-Audio, Qwen2.5-Omni, Audio Flamingo 3).

A model family subclasses ``HFAudioBackend`` and sets its model class and, where needed, how a
conversation is written; batching, left padding, generation and letter scoring live here once.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import logging
import os
import platform
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from audiofaith.backends.base import (Backend, GeneratedText, GenerationSettings, ModelInput, ScoringError,
                                      finish_reason_from_tokens)
from audiofaith.errors import UserError
from audiofaith.backends.model_source import is_tiny_checkpoint
from audiofaith.text.prompts import DEFAULT_PROFILE, PromptProfile
from audiofaith.seeds import derive_seed

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        # under torchrun / accelerate launch each process takes the GPU of its local rank
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
             "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
    if dtype not in names:
        raise UserError(f"unknown --dtype {dtype!r}; use auto, bf16, fp16 or fp32")
    return names[dtype]


def checkpoint_revision(model_path: str) -> Optional[str]:
    """The hub commit a hub id was loaded from (its snapshot folder in the local cache); None for a
    local directory. transformers >= 5 no longer records it on the config (``_commit_hash``)."""
    if Path(model_path).is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(model_path, "config.json")
    except ValueError:  # not a valid repo id
        return None
    if isinstance(cached, str) and Path(cached).parent.parent.name == "snapshots":
        return Path(cached).parent.name
    return None


#: Thinking models: the trace's default token budget (apart from the answer's --max_new_tokens)
#: and the modes of a model that has both.
DEFAULT_MAX_THINKING_TOKENS = 2048
THINKING_MODES = ("on", "off")


def thinking_budget(thinking: str, max_thinking_tokens: Optional[int]) -> Optional[int]:
    """Check a ``--thinking`` mode; the trace's token budget it implies (None when thinking is off)."""
    if thinking not in THINKING_MODES:
        raise ValueError(f"thinking must be one of {THINKING_MODES}, got {thinking!r}")
    return max_thinking_tokens if thinking == "on" else None


def add_thinking_arguments(parser: Any, mode_help: Optional[str] = None) -> None:
    """``--max_thinking_tokens`` for a thinking model, and ``--thinking on|off`` (with
    ``mode_help``) for one that has both modes."""
    if mode_help is not None:
        parser.add_argument("--thinking", choices=THINKING_MODES, default="on",
                            help=mode_help + ". Recorded in the sidecar and every line; reports keep the two modes "
                                             "in separate rows")
    parser.add_argument("--max_thinking_tokens", type=int, default=DEFAULT_MAX_THINKING_TOKENS,
                        help=("--thinking on: " if mode_help is not None else "") + "token budget of the trace, "
                             "generated before and apart from the answer's --max_new_tokens (default "
                             f"{DEFAULT_MAX_THINKING_TOKENS}); a trace it cuts is closed, flagged with finish reason "
                             "'length', and the answer follows it")


class HFAudioBackend(Backend):
    """A transformers audio-language model behind the backend protocol."""

    model_class_name: str = ""
    #: A thinking model's trace budget (tokens), generated before and apart from the answer's
    #: ``max_new_tokens``; None: no separate trace phase (see ``generate``).
    max_thinking_tokens: Optional[int] = None

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto",
                 profile: PromptProfile = DEFAULT_PROFILE, max_thinking_tokens: Optional[int] = None) -> None:
        import torch
        import transformers

        self._torch = torch
        self.model_path = str(model_path)
        self.profile = profile
        if max_thinking_tokens is not None:
            if int(max_thinking_tokens) < 1:
                raise UserError(f"--max_thinking_tokens must be at least 1, got {max_thinking_tokens}")
            self.max_thinking_tokens = int(max_thinking_tokens)
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

    @classmethod
    def check_model_path(cls, model_path: str) -> None:
        from audiofaith.backends.model_source import check_model_source

        check_model_source(model_path)

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

    def chat_template_kwargs(self) -> Dict[str, Any]:
        """Extra variables for the chat template (e.g. a thinking switch); none by default."""
        return {}

    def conversation(self, inp: ModelInput) -> List[Dict[str, Any]]:
        """The chat messages for one input (audio first, then the text, unless the input puts
        the audio after the text; then any later turns).

        The audio part carries the clip under an ``"audio"`` key: the chat templates published
        with the hub checkpoints recognise an audio part by that key (Qwen2-Audio-7B-Instruct's
        only by ``"audio"`` or ``"audio_url"``; a bare ``{"type": "audio"}`` renders no
        placeholder there), and every template accepts the keyed form (docs/models.md)."""
        text = {"type": "text", "text": inp.user_text}
        content: List[Dict[str, Any]] = [text]
        if inp.audio is not None:
            audio = {"type": "audio", "audio": inp.audio}
            content = [text, audio] if inp.audio_after_text else [audio, text]
        messages: List[Dict[str, Any]] = []
        system = inp.system_prompt if inp.system_prompt is not None else self.profile.system_prompt
        if system is not None:
            messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
        messages.append({"role": "user", "content": content})
        for index, turn in enumerate(inp.turns):
            role = "assistant" if index % 2 == 0 else "user"
            messages.append({"role": role, "content": [{"type": "text", "text": turn}]})
        return messages

    #: Compute the log-mel features on the model's GPU (the feature extractor's torch path)
    #: rather than on the CPU, where they would keep the GPU waiting.
    features_on_device: bool = True

    def processor_kwargs(self) -> Dict[str, Any]:
        kwargs: Dict[str, Any] = {"sampling_rate": self.sample_rate}
        if self.features_on_device and self.device.startswith("cuda"):
            kwargs["device"] = self.device
        return kwargs

    # -- shared machinery --------------------------------------------------------------------

    def render(self, inp: ModelInput) -> str:
        """The full prompt text: chat template with the generation prompt, then the assistant prefix.
        A thinking model's prefix that opens the trace (``prompts.trace_prefix`` / ``answer_prefix``)
        is not opened twice where the template's generation prompt already opened it."""
        text = self.processor.apply_chat_template(self.conversation(inp), add_generation_prompt=True, tokenize=False,
                                                  **self.chat_template_kwargs())
        prefix = inp.assistant_prefix
        thinking = self.profile.thinking
        if thinking is not None:
            opened = thinking.open + "\n"
            if text.endswith(opened) and prefix.startswith(opened):
                prefix = prefix[len(opened):]
        return text + prefix

    def encode(self, inputs: Sequence[ModelInput], texts: Optional[List[str]] = None):
        """Processor call for a batch (left padding), moved to the model's device and dtype."""
        texts = texts if texts is not None else [self.render(inp) for inp in inputs]
        with_audio = [inp.audio is not None for inp in inputs]
        if any(with_audio) and not all(with_audio):
            raise ValueError("a batch must be all with audio or all text-only")
        # Padding is a text setting: passed at top level it would also reach the feature extractor,
        # which then pads audio to the longest clip of the batch instead of the model's window
        # (AF3's processor leaves that to the feature extractor's own default).
        kwargs: Dict[str, Any] = dict(text=texts, return_tensors="pt",
                                      text_kwargs={"padding": True, "padding_side": "left"})
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

    def generate(self, inputs: Sequence[ModelInput], settings: GenerationSettings) -> List[List[GeneratedText]]:
        """New text per input and sequence. A thinking model (a profile with a trace format and a
        ``max_thinking_tokens`` budget) whose prefix has not closed its trace generates in two
        phases: the trace, up to ``max_thinking_tokens`` and stopping at the close marker; then,
        after the trace (closed by us when its budget cut it or the model ended its turn inside it),
        the answer, up to the settings' ``max_new_tokens``. The text is both phases; its
        ``thinking_finish_reason`` says whether the trace stopped by itself (``stop``) or was cut
        (``length``); None when the model answered without opening a trace (one phase only)."""
        thinking = self.profile.thinking
        if thinking is None or self.max_thinking_tokens is None:
            return self._generate(inputs, settings)
        tracing = [i for i, inp in enumerate(inputs) if thinking.close not in inp.assistant_prefix]
        results: Dict[int, List[GeneratedText]] = {}
        plain = [i for i in range(len(inputs)) if i not in set(tracing)]
        if plain:
            results.update(zip(plain, self._generate([inputs[i] for i in plain], settings)))
        if tracing:
            results.update(zip(tracing, self._generate_with_trace([inputs[i] for i in tracing], settings)))
        return [results[i] for i in range(len(inputs))]

    def _close_token_id(self) -> int:
        close = self.profile.thinking.close
        ids = self.tokenizer(close, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ScoringError(f"the thinking close marker {close!r} is not one token for this tokenizer ({ids})")
        return int(ids[0])

    def _generate_with_trace(self, inputs: Sequence[ModelInput],
                             settings: GenerationSettings) -> List[List[GeneratedText]]:
        thinking = self.profile.thinking
        close = thinking.close
        trace_settings = dataclasses.replace(settings, max_new_tokens=self.max_thinking_tokens)
        traces = self._generate(inputs, trace_settings, extra_stop_ids=[self._close_token_id()])
        n = settings.num_return_sequences
        continued: List[ModelInput] = []  # one per (input, sequence) whose trace needs an answer
        where: List[Tuple[int, int]] = []
        texts: List[List[Any]] = []
        for i, (inp, row) in enumerate(zip(inputs, traces)):
            texts.append([])
            for j, trace in enumerate(row):
                closed = close in trace
                in_trace = thinking.template_opens or thinking.open in trace
                if not closed and trace.finish_reason == "stop" and not in_trace:
                    # the model answered without thinking (it never opened a trace): no trace, no second phase
                    texts[i].append(GeneratedText(str(trace), "stop", None))
                    continue
                # a trace the model closed, ended its turn inside ("stop": closed by us), or ran out of budget
                # in ("length": closed by us); the answer follows the close either way
                trace_text = str(trace) if closed else f"{trace}\n{close}"
                texts[i].append((trace_text, "stop" if closed or trace.finish_reason == "stop" else "length"))
                seeds = None if inp.run_seeds is None else (derive_seed(inp.run_seeds[j], "after the trace", 0),)
                continued.append(dataclasses.replace(inp, assistant_prefix=inp.assistant_prefix + trace_text,
                                                     run_seeds=seeds))
                where.append((i, j))
        if continued:
            answers = self._generate(continued, dataclasses.replace(settings, num_return_sequences=1))
            for (i, j), (answer,) in zip(where, answers):
                trace_text, reason = texts[i][j]
                texts[i][j] = GeneratedText(trace_text + answer, answer.finish_reason, reason)
        assert all(len(row) == n for row in texts)
        return texts

    def _generate(self, inputs: Sequence[ModelInput], settings: GenerationSettings,
                  extra_stop_ids: Sequence[int] = ()) -> List[List[GeneratedText]]:
        torch = self._torch
        batch = self.encode(inputs)
        config = self._generation_config(settings)
        extra: Dict[str, Any] = {}
        if settings.do_sample:
            # Each row samples from its own generator (seeded per item and run by the runner), so a
            # run does not depend on the batch. RowSeededSampler applies temperature and top-p itself
            # and leaves only the drawn token possible, so generate's own sampling step (its warpers
            # set to no-ops) can only pick that token.
            from transformers import LogitsProcessorList

            from audiofaith.backends.sampling import RowSeededSampler, row_seeds

            sampler = RowSeededSampler(row_seeds(inputs, settings.num_return_sequences, settings.seed),
                                       settings.temperature, settings.top_p, self.device)
            config.update(temperature=1.0, top_p=1.0, top_k=0)
            extra["logits_processor"] = LogitsProcessorList([sampler])
        stop_ids = self._stop_ids()
        if extra_stop_ids:
            config.eos_token_id = sorted(set(stop_ids) | {int(i) for i in extra_stop_ids})
        with torch.inference_mode():
            output = self.model.generate(**batch, **self.generate_kwargs(), **extra, generation_config=config)
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        texts = self._decode(new_tokens)
        stop_ids = stop_ids + [int(i) for i in extra_stop_ids]
        generated = [GeneratedText(text, finish_reason_from_tokens(row.tolist(), stop_ids))
                     for text, row in zip(texts, new_tokens)]
        n = settings.num_return_sequences
        return [generated[i * n:(i + 1) * n] for i in range(len(inputs))]

    def _decode(self, new_tokens) -> List[str]:
        """The new tokens as text, special tokens removed, except a thinking model's trace markers
        where its tokenizer makes them special tokens (Gemma 4's ``<|channel>`` / ``<channel|>``):
        without them the trace could not be told from the answer."""
        thinking = self.profile.thinking
        # what skip_special_tokens drops: the special tokens it lists and every added token marked special
        special = set(self.tokenizer.all_special_ids) | {
            int(i) for i, token in getattr(self.tokenizer, "added_tokens_decoder", {}).items() if token.special}
        kept = set()
        if thinking is not None:
            for marker in (thinking.open, thinking.close):
                kept |= set(self.tokenizer(marker, add_special_tokens=False)["input_ids"]) & special
        if not kept:
            return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        rows = [[int(t) for t in row.tolist() if int(t) in kept or int(t) not in special] for row in new_tokens]
        return self.tokenizer.batch_decode(rows, skip_special_tokens=False)

    def _stop_ids(self) -> List[int]:
        """The token ids that end generation (the generation config's eos ids)."""
        eos = self._generation_defaults.eos_token_id
        return [int(i) for i in (eos if isinstance(eos, (list, tuple)) else [eos]) if i is not None]

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

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def score_letters(self, inputs: Sequence[ModelInput], letters: Sequence[Sequence[str]]) -> List[Dict[str, float]]:
        """Rows that share their user text and audio key (the variants of one item) are scored
        from one forward pass over their shared prompt (see ``_score_shared_prefix``); the other
        rows, and any group that cannot share exactly, take one ordinary batched forward pass."""
        texts = [self.render(inp) for inp in inputs]
        letter_ids = [self.letter_token_ids(text, row_letters) for text, row_letters in zip(texts, letters)]
        rows: Dict[int, Any] = {}  # row -> log-softmax over the vocabulary
        if self.prefix_cache and self._prefix_cache_unsupported() is None:
            for group in _shared_prefix_groups(inputs):
                logprobs = self._score_shared_prefix([inputs[i] for i in group], [texts[i] for i in group])
                if logprobs is not None:
                    rows.update(zip(group, logprobs))
        rest = [i for i in range(len(inputs)) if i not in rows]
        if rest:
            rows.update(zip(rest, self._score_full([inputs[i] for i in rest], [texts[i] for i in rest])))
        return [
            {letter: float(rows[row][token]) for letter, token in zip(row_letters, ids)}
            for row, (row_letters, ids) in enumerate(zip(letters, letter_ids))
        ]

    def _score_full(self, inputs: Sequence[ModelInput], texts: List[str]):
        """Next-token log-softmax after each whole prompt: one left-padded batch, one step."""
        torch = self._torch
        batch = self.encode(inputs, texts)
        config = self._generation_config(GenerationSettings(max_new_tokens=1))
        config.update(output_logits=True, return_dict_in_generate=True)
        with torch.inference_mode():
            output = self.model.generate(**batch, **self.generate_kwargs(), generation_config=config)
        return torch.log_softmax(output.logits[0].float(), dim=-1).cpu()

    # -- prefix cache --------------------------------------------------------------------------

    #: Share the audio + question prefix of rows scored together (set False to compare or debug).
    prefix_cache: bool = True
    _prefix_cache_note: Optional[str] = None

    def _prefix_cache_unsupported(self) -> Optional[str]:
        """Why this model cannot continue from a cached prefix (None: it can). Logged once."""
        if self._prefix_cache_note is None:
            inner = getattr(self.model, "model", None)
            signature = inspect.signature(inner.forward).parameters if inner is not None else {}
            if inner is None or not ({"cache", "past_key_values"} & set(signature)):
                reason = "the model has no inner multimodal model that takes a key/value cache"
            elif _uses_multimodal_rope(self.model.config):
                reason = "multimodal rotary positions (mrope) are computed from the whole prompt"
            else:
                reason = ""
            if reason:
                log.debug("%s: letters are scored without the prefix cache: %s", type(self).__name__, reason)
            self._prefix_cache_note = reason
        return self._prefix_cache_note or None

    def _score_shared_prefix(self, inputs: Sequence[ModelInput], texts: List[str]):
        """Next-token log-softmax after each of ``texts``, rows that differ only in their assistant
        prefix: the shared prompt (chat template up to the assistant turn, audio included) runs once
        with ``use_cache``; its keys/values are repeated along the batch and every row's own tokens
        (right-padded, positions continuing from the prefix) are run against them; each row's
        logits are read at its own last real token. Causal attention keeps right padding out of
        the real positions. None when the prompt does not tokenize as shared ids + row ids."""
        torch = self._torch
        first = inputs[0]
        shared = self.render(ModelInput(first.user_text, first.audio, system_prompt=first.system_prompt,
                                        audio_after_text=first.audio_after_text, turns=first.turns))
        shared_ids = self.tokenizer(shared, add_special_tokens=False)["input_ids"]
        continuations = []
        for text in texts:
            whole = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if not text.startswith(shared) or whole[: len(shared_ids)] != shared_ids or len(whole) == len(shared_ids):
                log.debug("prefix cache: %r does not tokenize as shared prompt + continuation", text[-40:])
                return None
            continuations.append(whole[len(shared_ids):])
        inner = self.model.model
        cache_name = "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"
        prefix = self.encode([inputs[0]], [shared])
        rows, lengths = len(texts), [len(ids) for ids in continuations]
        width, pad = max(lengths), self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            output = inner(**prefix, **self.generate_kwargs(), use_cache=True)
            cache = getattr(output, cache_name)
            cache.batch_repeat_interleave(rows)
            prefix_length = prefix["input_ids"].shape[1]
            ids = torch.tensor([c + [pad] * (width - len(c)) for c in continuations], device=self.device)
            mask = torch.tensor([[1] * n + [0] * (width - n) for n in lengths], device=self.device)
            attention = torch.cat([prefix["attention_mask"].expand(rows, -1).to(mask.dtype), mask], dim=1)
            positions = torch.arange(prefix_length, prefix_length + width, device=self.device).expand(rows, -1)
            hidden = inner(input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=True,
                           **{cache_name: cache}, **self.generate_kwargs()).last_hidden_state
            last = hidden[torch.arange(rows, device=self.device), torch.tensor(lengths, device=self.device) - 1]
            logits = self.model.get_output_embeddings()(last)
        return torch.log_softmax(logits.float(), dim=-1).cpu()

    def provenance(self) -> Dict[str, Any]:
        import torch
        import transformers

        template = getattr(self.processor, "chat_template", None) or ""
        return {
            "model_key": self.key,
            "checkpoint": self.model_path,
            "revision": checkpoint_revision(self.model_path),
            "model_class": type(self.model).__name__,
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": self.device,
            "device_name": (torch.cuda.get_device_name(self.device) if self.device.startswith("cuda")
                            else platform.processor() or platform.machine()),
            "chat_template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest()[:16],
            "libraries": {"torch": torch.__version__, "transformers": transformers.__version__},
            "max_audio_seconds": self.max_audio_seconds,
            "tiny_random_weights": is_tiny_checkpoint(self.model_path),
            **self._thinking_provenance(),
        }

    def _thinking_provenance(self) -> Dict[str, Any]:
        """A thinking model's trace markers and trace budget (nothing for other models)."""
        thinking = self.profile.thinking
        if thinking is None:
            return {}
        return {"thinking": {"open": thinking.open, "close": thinking.close,
                             "max_thinking_tokens": self.max_thinking_tokens}}


def _shared_prefix_groups(inputs: Sequence[ModelInput]) -> List[List[int]]:
    """Row indices of inputs that share their user text, their audio (the same ``audio_key``, or
    no audio) and the rest of their conversation, in groups of two or more. Rows whose audio has
    no key are never grouped: equal-looking arrays are not assumed to be the same clip."""
    groups: Dict[Any, List[int]] = {}
    for i, inp in enumerate(inputs):
        if inp.audio is not None and inp.audio_key is None:
            continue
        audio = None if inp.audio is None else inp.audio_key
        groups.setdefault((inp.user_text, audio, inp.system_prompt, inp.audio_after_text, inp.turns),
                          []).append(i)
    return [rows for rows in groups.values() if len(rows) > 1]


def _uses_multimodal_rope(config) -> bool:
    """Whether a model config (or a sub-config) uses multimodal rotary positions (Qwen2.5-Omni)."""
    parts, seen = [config], []
    while parts:
        part = parts.pop()
        if part is None or any(part is s for s in seen):
            continue
        seen.append(part)
        for name in ("rope_parameters", "rope_scaling"):
            value = getattr(part, name, None)
            if isinstance(value, dict) and "mrope_section" in value:
                return True
        parts += [getattr(part, "text_config", None), getattr(part, "thinker_config", None)]
    return False
