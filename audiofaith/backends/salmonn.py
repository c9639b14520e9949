"""SALMONN (7B and 13B) behind the backend protocol, through the user's own checkout of
bytedance/SALMONN (branch ``salmonn``). Nothing of that project is copied here: its
``models.salmonn.SALMONN.from_config`` builds the model, its ``encode_speech`` turns audio into
LLaMA input embeddings, and its LLaMA runs the text. Everything else is ours:

- Audio arrives as 16 kHz mono float32 arrays from ``audiofaith.audio.io`` (their code is never
  handed a file path); clips under 1 s are zero-padded to 1 s as their ``prepare_one_sample``
  does, and the runner cuts clips at 30 s with a recorded warning.
- The prompt is the official ``USER: <Speech><SpeechHere></Speech> {question}\\nASSISTANT:``; an
  assistant prefix (injected reasoning + answer cue) follows ``ASSISTANT:`` after one space.
- Batches are LEFT-padded input embeddings + attention mask (their ``generate`` pads the text on
  the right, which shifts where generation starts); LLaMA position ids follow the mask.
- Decoding is greedy unless ``--num_beams`` says otherwise (the official default is 4-beam
  search); the choice is recorded in the provenance.
- Letter log-probabilities: one forward pass of their LLaMA over the same embeddings that
  generation starts from.

The checkout's top-level modules (``models``, ``utils``, ``config``, ``dist_utils`` ...) are
imported in an isolated scope: ``sys.path`` and the ``sys.modules`` entries of those names are
restored afterwards, so they neither shadow nor are shadowed by other packages' modules.

SALMONN's code needs transformers <= 4.55 (pinned 4.28.0), so it runs in its own environment
(``requirements/salmonn.txt``, docs/salmonn.md). This module imports no torch at import time, so
the CLI can read its options cheaply.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from audiofaith.backends.base import (Backend, GeneratedText, GenerationSettings, ModelInput, ScoringError,
                                      finish_reason_from_tokens)
from audiofaith.errors import UserError
from audiofaith.text.prompts import DEFAULT_PROFILE, PromptProfile

log = logging.getLogger(__name__)

#: The official prompt template (``prompt_template`` in their decode config) and the speech slot
#: that their ``cli_inference.py`` puts before the user's text.
DEFAULT_PROMPT_TEMPLATE = "USER: {}\nASSISTANT:"
SPEECH_SLOT = "<Speech><SpeechHere></Speech> "
SPEECH_MARKER = "<SpeechHere>"
SAMPLE_RATE = 16000
MIN_SAMPLES = SAMPLE_RATE  # their prepare_one_sample pads clips to at least 1 s
OFFICIAL_NUM_BEAMS = 4
WEIGHT_KEYS = ("llama_path", "whisper_path", "beats_path", "ckpt")
#: Top-level module names of the checkout that must never leak into (or come from) the rest of
#: the process; the checkout's own top-level files are added when it is scanned.
CHECKOUT_MODULES = ("models", "utils", "config", "dist_utils", "dataset", "runner", "optims", "logger")
#: State-dict entries the SALMONN checkpoint must provide (everything else is LLaMA, Whisper or
#: BEATs, loaded from their own paths): Q-Former, query tokens, projector, layer norms, LoRA.
TRAINED_PREFIXES = ("speech_Qformer.", "speech_query_tokens", "speech_llama_proj.", "ln_speech.", "ln_audio.")
CLONE_HINT = "git clone -b salmonn https://github.com/bytedance/SALMONN"
ENV_HINT = "create the SALMONN environment from requirements/salmonn.txt (see docs/salmonn.md)"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SalmonnSetupError(UserError):
    """The checkout, its config or the weight paths cannot be used; the message says why."""


def salmonn_prompt(user_text: str, assistant_prefix: str = "", with_audio: bool = True,
                   template: str = DEFAULT_PROMPT_TEMPLATE) -> str:
    """The full prompt as SALMONN's LLaMA reads it: the official template around the speech slot
    and the user text, then the assistant prefix (if any) after one space."""
    text = template.format((SPEECH_SLOT if with_audio else "") + user_text.strip())
    return text + (" " + assistant_prefix if assistant_prefix else "")


def split_prompt(text: str) -> Tuple[str, str]:
    """The text before and after ``<SpeechHere>``, where the speech embeddings go (before is
    empty for a prompt without the speech slot)."""
    if SPEECH_MARKER not in text:
        return "", text
    before, after = text.split(SPEECH_MARKER, 1)
    return before, after


def is_trained_key(key: str) -> bool:
    """Whether a SALMONN state-dict key is one its checkpoint (``ckpt``) must supply."""
    return key.startswith(TRAINED_PREFIXES) or ".lora_" in key


# -- checkout and configuration (no torch) -----------------------------------------------------

def checkout_module_names(repo: Path) -> List[str]:
    """Top-level importable names a checkout defines (``*.py`` files and packages), plus the
    known SALMONN ones."""
    names = set(CHECKOUT_MODULES)
    if repo.is_dir():
        for entry in repo.iterdir():
            if entry.suffix == ".py":
                names.add(entry.stem)
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                names.add(entry.name)
    return sorted(names)


@contextlib.contextmanager
def checkout_scope(repo: "str | os.PathLike[str]") -> Iterator[None]:
    """Import from ``repo`` as if it were the working directory, then restore ``sys.path`` and
    every ``sys.modules`` entry under the checkout's top-level names (``models``, ``models.*``,
    ``utils`` ...) to what they were, so no other import sees SALMONN's modules and SALMONN never
    sees another package's ``utils``. Objects created inside keep working afterwards."""
    repo = Path(repo).resolve()
    names = set(checkout_module_names(repo))

    def ours(module_name: str) -> bool:
        return module_name.split(".", 1)[0] in names

    saved = {name: module for name, module in sys.modules.items() if ours(name)}
    saved_path = list(sys.path)
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(repo))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)
        sys.path[:] = saved_path
        importlib.invalidate_caches()


def check_checkout(repo: Optional[str]) -> Path:
    """The checkout directory, or a SalmonnSetupError saying what is wrong with it."""
    if not repo:
        raise SalmonnSetupError(
            f"SALMONN runs from your checkout of its code: pass --salmonn_repo DIR (or set SALMONN_REPO); "
            f"get it with `{CLONE_HINT}`")
    path = Path(repo).expanduser()
    if not path.is_dir():
        raise SalmonnSetupError(f"--salmonn_repo {path}: directory not found; get it with `{CLONE_HINT}`")
    if not (path / "models" / "salmonn.py").is_file():
        raise SalmonnSetupError(
            f"--salmonn_repo {path} has no models/salmonn.py: is it the `salmonn` branch? The repository's "
            f"default branch holds only a README (`git -C {path} checkout salmonn`, or `{CLONE_HINT}`)")
    return path.resolve()


def _resolve(value: str, repo: Path) -> str:
    """A path from the YAML config: as given if it exists (absolute or relative to the current
    directory), else relative to the checkout (their scripts run from there), else as given."""
    if not value or os.path.isabs(value) or os.path.exists(value):
        return value
    in_repo = repo / value
    return str(in_repo) if in_repo.exists() else value


def _looks_like_hub_id(value: str) -> bool:
    return bool(_HUB_ID.match(value)) and not value.startswith(".") and not os.path.exists(value)


def resolve_model_config(repo: Path, config_path: Optional[str], overrides: Dict[str, Optional[str]],
                         model_path: Optional[str]) -> Tuple[Dict[str, Any], Dict[str, str], Optional[str]]:
    """The ``model:`` section to hand ``SALMONN.from_config``: the decode YAML (default: the
    checkout's configs/decode_config.yaml) with the weight paths overridden by the flags. Returns
    (config, where each weight path came from, the YAML path). Every unusable weight path is
    named in one error."""
    import yaml  # PyYAML: a dependency of omegaconf, which SALMONN's code needs anyway

    source = Path(config_path).expanduser() if config_path else repo / "configs" / "decode_config.yaml"
    if not source.is_file():
        raise SalmonnSetupError(f"SALMONN decode config {source} not found (--salmonn_config)")
    with open(source, encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle) or {}
    section = loaded.get("model") if isinstance(loaded, dict) else None
    if not isinstance(section, dict):
        raise SalmonnSetupError(f"{source}: no `model:` section (expected SALMONN's configs/decode_config.yaml layout)")
    config = dict(section)
    origin: Dict[str, str] = {}
    for key in WEIGHT_KEYS:
        if overrides.get(key):
            config[key], origin[key] = str(Path(overrides[key]).expanduser()), f"--{key}"
        else:
            config[key], origin[key] = _resolve(str(config.get(key) or ""), repo), f"{source.name}: model.{key}"
    if not overrides.get("ckpt") and model_path and Path(model_path).expanduser().is_file():
        config["ckpt"], origin["ckpt"] = str(Path(model_path).expanduser()), "--model_path"
    problems = []
    for key in WEIGHT_KEYS:
        value = config[key]
        if not value:
            problems.append(f"  {key}: not set (pass --{key} or set model.{key} in {source})")
        elif key in ("beats_path", "ckpt"):
            if not Path(value).is_file():
                problems.append(f"  {key}: file not found: {value} (from {origin[key]})")
        elif not Path(value).is_dir() and not _looks_like_hub_id(value):
            problems.append(f"  {key}: directory not found: {value} (from {origin[key]})")
    if problems:
        raise SalmonnSetupError("SALMONN weights missing:\n" + "\n".join(problems) +
                                "\nSee docs/salmonn.md for what each path holds.")
    # The training prompts are only used by SALMONN's training loss, and their relative path would
    # be read from the current directory: not needed for inference.
    config["prompt_path"] = ""
    return config, origin, str(source)


def _git_commit(repo: Path) -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _import_error_message(repo: Path, exc: BaseException) -> str:
    try:
        import transformers

        version = transformers.__version__
    except ImportError:
        version = "not installed"
    text = f"importing SALMONN's code from {repo} failed: {type(exc).__name__}: {exc}\n"
    if "transformers" in str(exc) or str(getattr(exc, "name", None) or "").startswith("transformers"):
        text += (f"Its models/Qformer.py imports helpers that transformers removed in 4.56, so it needs "
                 f"transformers <= 4.55 (pinned: 4.28.0); this environment has transformers {version}. ")
    return text + ENV_HINT[0].upper() + ENV_HINT[1:] + "."


# -- the backend ------------------------------------------------------------------------------

class SalmonnBackend(Backend):
    """SALMONN-7B (``tsinghua-ee/SALMONN-7B``) from the user's checkout of its code."""

    key = "salmonn"
    max_audio_seconds = 30.0
    expected_llama_layers = 32  # vicuna-7b; a mismatch is a warning (13B has 40)

    @classmethod
    def add_arguments(cls, parser) -> None:
        parser.add_argument("--salmonn_repo", default=os.environ.get("SALMONN_REPO"),
                            help=f"your checkout of bytedance/SALMONN, branch salmonn (`{CLONE_HINT}`); "
                                 "$SALMONN_REPO when set")
        parser.add_argument("--salmonn_config", default=None,
                            help="its decode YAML (default: <salmonn_repo>/configs/decode_config.yaml); "
                                 "the flags below override its weight paths")
        parser.add_argument("--llama_path", default=None, help="Vicuna directory (7B: vicuna-7b-v1.5, 13B: vicuna-13b-v1.1)")
        parser.add_argument("--whisper_path", default=None, help="Whisper directory (openai/whisper-large-v2)")
        parser.add_argument("--beats_path", default=None, help="BEATs file (BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt)")
        parser.add_argument("--ckpt", default=None,
                            help="SALMONN checkpoint file (7B: salmonn_7b_v0.pth, 13B: salmonn_v1.pth); "
                                 "--model_path naming an existing file is used as this too")
        parser.add_argument("--num_beams", type=int, default=1,
                            help=f"beam search width; 1 = greedy (default); the official decode config uses "
                                 f"{OFFICIAL_NUM_BEAMS}")

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto",
                 profile: PromptProfile = DEFAULT_PROFILE, salmonn_repo: Optional[str] = None,
                 salmonn_config: Optional[str] = None, llama_path: Optional[str] = None,
                 whisper_path: Optional[str] = None, beats_path: Optional[str] = None,
                 ckpt: Optional[str] = None, num_beams: int = 1) -> None:
        if num_beams < 1:
            raise UserError(f"--num_beams must be at least 1, got {num_beams}")
        self.model_path = str(model_path)
        self.profile = profile
        self.num_beams = int(num_beams)
        self.repo = check_checkout(salmonn_repo)
        overrides = {"llama_path": llama_path, "whisper_path": whisper_path, "beats_path": beats_path, "ckpt": ckpt}
        self.config, self.path_origin, self.config_path = resolve_model_config(
            self.repo, salmonn_config, overrides, model_path)
        self.prompt_template = str(self.config.get("prompt_template") or DEFAULT_PROMPT_TEMPLATE)
        if self.prompt_template.count("{}") != 1:
            raise SalmonnSetupError(f"{self.config_path}: prompt_template {self.prompt_template!r} must contain "
                                    f"exactly one {{}}")

        import torch

        self._torch = torch
        self.device = "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
        if dtype not in ("auto", "fp32", "float32"):
            raise UserError("SALMONN runs the way its code loads it (LLaMA fp16, encoders fp32, fp16 autocast on "
                            "CUDA): use --dtype auto, or fp32 (all weights fp32; the default on CPU)")
        self.official_precision = dtype == "auto" and self.device.startswith("cuda")
        self.model = self._load_model()
        if not self.official_precision:
            self.model.float()  # fp16 matrix products are not usable on CPU
        self.model.to(self.device).eval()
        self.dtype_label = "float16 LLaMA + fp16 autocast (official)" if self.official_precision else "float32"
        self.tokenizer = self.model.llama_tokenizer
        self.llama = self.model.llama_model
        self.embed = self.llama.get_input_embeddings()
        self.pad_row = self._zero_pad_row()
        from transformers import WhisperFeatureExtractor

        self.feature_extractor = WhisperFeatureExtractor.from_pretrained(self.config["whisper_path"])
        layers = getattr(getattr(self.llama, "config", None), "num_hidden_layers", None)
        self.llama_layers = layers
        if self.expected_llama_layers and layers not in (None, self.expected_llama_layers) and layers in (32, 40):
            log.warning("model key %s expects a %d-layer LLaMA but %s has %d layers: is this the other SALMONN size?",
                        self.key, self.expected_llama_layers, self.config["llama_path"], layers)

    # -- loading ---------------------------------------------------------------------------

    def _load_model(self):
        torch = self._torch
        with checkout_scope(self.repo):
            try:
                module = importlib.import_module("models.salmonn")
            except ImportError as exc:
                raise SalmonnSetupError(_import_error_message(self.repo, exc)) from exc
            model_class = getattr(module, "SALMONN", None)
            if model_class is None or not hasattr(model_class, "from_config"):
                raise SalmonnSetupError(
                    f"{self.repo}/models/salmonn.py has no SALMONN.from_config: this code is not the `salmonn` "
                    f"branch this backend was written for (`{CLONE_HINT}`)")
            if not hasattr(model_class, "encode_speech"):
                raise SalmonnSetupError(f"{self.repo}/models/salmonn.py: SALMONN has no encode_speech(): "
                                        f"not the `salmonn` branch this backend was written for")
            log.info("building SALMONN from %s (LLaMA %s, Whisper %s, BEATs %s, checkpoint %s)", self.repo,
                     *(self.config[k] for k in WEIGHT_KEYS))
            model = model_class.from_config(self.config)
        self.ckpt_check = self._check_checkpoint(model, torch)
        return model

    def _zero_pad_row(self) -> Optional[int]:
        """SALMONN adds a ``[PAD]`` token whose embedding and output rows are initialised at random
        on every load (they are in no checkpoint), so its logit, part of every log-softmax, would
        differ between runs. Zeroing both rows makes scores and generations reproducible; padding
        itself never feeds the token (padded positions get zero embeddings and mask 0)."""
        pad = self.tokenizer.pad_token_id
        if pad is None:
            return None
        with self._torch.no_grad():
            for layer in (self.llama.get_input_embeddings(), self.llama.get_output_embeddings()):
                if layer is not None and pad < layer.weight.shape[0]:
                    layer.weight[pad].zero_()
        return int(pad)

    def _check_checkpoint(self, model, torch) -> Dict[str, Any]:
        """``from_config`` loads the checkpoint with strict=False and drops the report; redo the
        comparison so a checkpoint that leaves the Q-Former, projector or LoRA untrained fails."""
        state = torch.load(self.config["ckpt"], map_location="cpu")
        if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
            raise SalmonnSetupError(f"{self.config['ckpt']}: not a SALMONN checkpoint (no 'model' state dict)")
        provided = set(state["model"])
        # Parameters only: buffers (the Q-Former's position ids ...) are rebuilt by the code itself.
        expected = {key for key, _ in model.named_parameters() if is_trained_key(key)}
        missing = sorted(expected - provided)
        unexpected = sorted(provided - set(model.state_dict()))
        if missing:
            raise SalmonnSetupError(
                f"{self.config['ckpt']} lacks {len(missing)} trained SALMONN weight(s), which would stay at random "
                f"initialisation: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''} "
                f"(wrong checkpoint for this model size, or a peft version that names LoRA weights differently: "
                f"{ENV_HINT})")
        if unexpected:
            log.warning("%d checkpoint entr(ies) match no SALMONN weight and were ignored: %s", len(unexpected),
                        ", ".join(unexpected[:8]))
        return {"trained_keys_loaded": len(expected), "unexpected_keys": unexpected[:50],
                "ckpt_bytes": os.path.getsize(self.config["ckpt"])}

    # -- prompts and embeddings ------------------------------------------------------------

    def prompt_text(self, inp: ModelInput) -> str:
        return salmonn_prompt(inp.user_text, inp.assistant_prefix, inp.audio is not None, self.prompt_template)

    def prompt_halves(self, inp: ModelInput) -> Tuple[str, str]:
        """The text before and after the speech embeddings (before is empty without audio)."""
        return split_prompt(self.prompt_text(inp)) if inp.audio is not None else ("", self.prompt_text(inp))

    def _token_ids(self, text: str) -> List[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def _autocast(self):
        """SALMONN's own fp16 autocast around our LLaMA calls, as its inference script runs them
        (only with --dtype auto on CUDA; its encode_speech applies it by itself on any GPU)."""
        autocast = getattr(self.model, "maybe_autocast", None)
        return autocast() if autocast is not None and self.official_precision else contextlib.nullcontext()

    def speech_embeddings(self, audios: Sequence[np.ndarray]) -> List[Any]:
        """SALMONN's own speech encoding (Whisper + BEATs + window Q-Former + projector) per clip.
        Clips of equal length are encoded together; clips of different lengths never share a batch,
        so no clip is encoded with another's padding (BEATs sees the raw waveform)."""
        torch = self._torch
        clips = [self._padded(audio) for audio in audios]
        result: List[Any] = [None] * len(clips)
        groups: Dict[int, List[int]] = {}
        for index, clip in enumerate(clips):
            groups.setdefault(len(clip), []).append(index)
        for indices in groups.values():
            group = [clips[i] for i in indices]
            features = self.feature_extractor(group, sampling_rate=SAMPLE_RATE, return_tensors="pt")["input_features"]
            raw = torch.from_numpy(np.stack(group)).to(self.device)
            samples = {"spectrogram": features.to(self.device), "raw_wav": raw,
                       "padding_mask": torch.zeros(raw.shape, dtype=torch.bool, device=self.device)}
            with self._autocast():
                embeds, _ = self.model.encode_speech(samples["spectrogram"], raw_wav=samples["raw_wav"],
                                                     audio_padding_mask=samples["padding_mask"])
            for row, index in enumerate(indices):
                result[index] = embeds[row]
        return result

    @staticmethod
    def _padded(audio: np.ndarray) -> np.ndarray:
        clip = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(clip) < MIN_SAMPLES:
            clip = np.concatenate([clip, np.zeros(MIN_SAMPLES - len(clip), dtype=np.float32)])
        return clip

    def build_batch(self, inputs: Sequence[ModelInput]):
        """Left-padded input embeddings, attention mask and position ids for a batch: per row
        BOS, the text before the speech slot, the speech embeddings, the text after it (with the
        assistant prefix), laid out as SALMONN's ``generate`` lays out one item."""
        torch = self._torch
        with_audio = [i for i, inp in enumerate(inputs) if inp.audio is not None]
        speech = dict(zip(with_audio, self.speech_embeddings([inputs[i].audio for i in with_audio]))) if with_audio else {}
        bos = self.tokenizer.bos_token_id
        rows = []
        for index, inp in enumerate(inputs):
            before, after = self.prompt_halves(inp)
            with self._autocast():
                parts = [self.embed(torch.tensor([[bos] + self._token_ids(before)], device=self.device))[0]]
                if index in speech:
                    parts.append(speech[index].to(parts[0].dtype))
                after_ids = self._token_ids(after)
                if after_ids:
                    parts.append(self.embed(torch.tensor([after_ids], device=self.device))[0])
            rows.append(torch.cat(parts, dim=0))
        length = max(row.shape[0] for row in rows)
        hidden = rows[0].shape[1]
        embeds = torch.zeros((len(rows), length, hidden), dtype=rows[0].dtype, device=self.device)
        mask = torch.zeros((len(rows), length), dtype=torch.long, device=self.device)
        for index, row in enumerate(rows):
            embeds[index, length - row.shape[0]:] = row
            mask[index, length - row.shape[0]:] = 1
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
        return embeds, mask, positions

    # -- protocol ----------------------------------------------------------------------------

    def generate(self, inputs: Sequence[ModelInput], settings: GenerationSettings) -> List[List[str]]:
        torch = self._torch
        if settings.do_sample and self.num_beams > 1:
            raise UserError("--num_beams > 1 (beam search) cannot be combined with sampling (--num_runs > 1)")
        n = settings.num_return_sequences
        with torch.inference_mode():
            embeds, mask, _ = self.build_batch(inputs)
            if n > 1:
                embeds, mask = embeds.repeat_interleave(n, dim=0), mask.repeat_interleave(n, dim=0)
            kwargs: Dict[str, Any] = dict(
                inputs_embeds=embeds, attention_mask=mask, max_new_tokens=settings.max_new_tokens,
                num_beams=self.num_beams, do_sample=settings.do_sample, num_return_sequences=1,
                repetition_penalty=1.0, length_penalty=1.0,
                eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id,
            )
            if settings.do_sample:  # per-row generators seeded per (item, run): see backends/sampling.py
                from transformers import LogitsProcessorList

                from audiofaith.backends.sampling import RowSeededSampler, row_seeds

                sampler = RowSeededSampler(row_seeds(inputs, n, settings.seed), settings.temperature,
                                           settings.top_p, self.device)
                kwargs.update(temperature=1.0, top_p=1.0, top_k=0, logits_processor=LogitsProcessorList([sampler]))
            with self._autocast():
                output = self.llama.generate(**kwargs)
        sequences = output if torch.is_tensor(output) else output.sequences
        texts = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        # inputs_embeds generation returns new tokens only: an eos among them means it stopped.
        texts = [GeneratedText(text, finish_reason_from_tokens(row.tolist(), [self.tokenizer.eos_token_id]))
                 for text, row in zip(texts, sequences)]
        return [texts[i * n:(i + 1) * n] for i in range(len(inputs))]

    def count_tokens(self, text: str) -> int:
        """Length of ``text`` in SALMONN's LLaMA tokens (as its prompt text is tokenized)."""
        return len(self._token_ids(text))

    def letter_token_ids(self, text: str, letters: Sequence[str]) -> List[int]:
        """Each letter's token id as the next token after ``text`` (the text after the speech
        slot), checked exactly with SALMONN's LLaMA tokenizer: ``text + letter`` must tokenize as
        ``text`` plus one token."""
        base = self._token_ids(text)
        ids = []
        for letter in letters:
            with_letter = self._token_ids(text + letter)
            if len(with_letter) != len(base) + 1 or with_letter[: len(base)] != base:
                raise ScoringError(
                    f"the answer cue {text[-20:]!r} does not end on a token boundary before {letter!r} for "
                    f"SALMONN's LLaMA tokenizer, so the letter cannot be scored as one next token")
            ids.append(with_letter[-1])
        if len(set(ids)) != len(ids):
            raise ScoringError(f"option letters {list(letters)} share a token id {ids}")
        return ids

    def score_letters(self, inputs: Sequence[ModelInput], letters: Sequence[Sequence[str]]) -> List[Dict[str, float]]:
        torch = self._torch
        letter_ids = [self.letter_token_ids(self.prompt_halves(inp)[1], row) for inp, row in zip(inputs, letters)]
        with torch.inference_mode():
            embeds, mask, positions = self.build_batch(inputs)
            with self._autocast():
                output = self.llama(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, return_dict=True)
        logprobs = torch.log_softmax(output.logits[:, -1, :].float(), dim=-1).cpu()
        return [{letter: float(logprobs[row, token]) for letter, token in zip(row_letters, ids)}
                for row, (row_letters, ids) in enumerate(zip(letters, letter_ids))]

    def provenance(self) -> Dict[str, Any]:
        torch = self._torch
        libraries = {"torch": torch.__version__}
        for name in ("transformers", "peft", "torchaudio"):
            try:
                libraries[name] = importlib.import_module(name).__version__
            except ImportError:
                libraries[name] = None
        return {
            "model_key": self.key,
            "checkpoint": self.model_path,
            "revision": None,
            "model_class": "models.salmonn.SALMONN (user checkout)",
            "salmonn_repo": str(self.repo),
            "salmonn_repo_commit": _git_commit(self.repo),
            "salmonn_config": self.config_path,
            "weights": {key: self.config[key] for key in WEIGHT_KEYS},
            "weights_from": dict(self.path_origin),
            "checkpoint_check": self.ckpt_check,
            "tiny_random_weights": self._tiny_random_weights(),
            "pad_token_rows_zeroed": self.pad_row,
            "llama_layers": self.llama_layers,
            "dtype": self.dtype_label,
            "device": self.device,
            "device_name": torch.cuda.get_device_name(0) if self.device.startswith("cuda") else platform.processor(),
            "prompt_template": self.prompt_template,
            "chat_template_sha256": hashlib.sha256((self.prompt_template + "\x1f" + SPEECH_SLOT).encode("utf-8")).hexdigest()[:16],
            "decoding": {"num_beams": self.num_beams, "official_num_beams": OFFICIAL_NUM_BEAMS,
                         "padding": "left (own embeddings; the official code pads the prompt tail on the right)",
                         "config_generate_section": "ignored: settings come from audiofaith's flags"},
            "audio": {"sample_rate": SAMPLE_RATE, "min_seconds_padded_to": 1.0, "max_audio_seconds": self.max_audio_seconds,
                      "resampling": "audiofaith.audio.io (16 kHz mono float32)"},
            "libraries": libraries,
            "python": platform.python_version(),
            "max_audio_seconds": self.max_audio_seconds,
        }

    def _tiny_random_weights(self) -> bool:
        """Whether the weights are audiofaith's tiny random stand-ins (``audiofaith.checkpoints.tiny --arch salmonn``)."""
        from audiofaith.backends.model_source import is_tiny_checkpoint

        return any(is_tiny_checkpoint(path) for path in (self.config["llama_path"], Path(self.config["ckpt"]).parent))


class Salmonn13BBackend(SalmonnBackend):
    """SALMONN-13B (``tsinghua-ee/SALMONN``): the same code with vicuna-13b-v1.1 and salmonn_v1.pth."""

    key = "salmonn_13b"
    expected_llama_layers = 40
