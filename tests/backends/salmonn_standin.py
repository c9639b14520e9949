"""A stand-in for a user's checkout of bytedance/SALMONN (branch ``salmonn``), written by the
tests into a temporary directory, plus tiny weights for it.

It has the same module names and the call signatures the backend relies on —
``models/salmonn.py`` (class ``SALMONN`` with ``from_config(cfg)``, ``encode_speech(spectrogram,
raw_wav=None, audio_padding_mask=None)``, ``llama_model``, ``llama_tokenizer``, ``maybe_autocast``,
``generate(samples, generate_cfg, prompts)``), ``models/Qformer.py``, ``utils.py``
(``prepare_one_sample``, importing ``dist_utils``), ``config.py``, ``configs/decode_config.yaml`` —
but tiny torch modules inside: a real ``transformers.LlamaForCausalLM`` at toy size with a toy
LLaMA (Metaspace BPE) tokenizer, LoRA through peft, and a toy speech encoder that turns a Whisper
spectrogram and the raw waveform into a fixed number (6) of LLaMA input embeddings. Like BEATs,
its waveform branch sees padding, so encoding clips of different lengths together changes them.

Written from the documented behaviour of the real code, not copied from it. It proves the glue
(isolation, prompt layout, batching, scoring, errors), not SALMONN's internals.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Dict

N_SPEECH = 6  # speech embeddings per clip (the real model: 88 per 30 s window)
MEL_BINS = 80

_CORPUS = [
    "USER: <Speech><SpeechHere></Speech> Which animal makes the sound in this recording?\nASSISTANT: The dog barks.",
    "Think step by step about what you hear in the audio and explain your reasoning.",
    "Then give your final answer on its own line as Answer: (X), where X is the letter of the correct option.",
    "What emotion is the speaker expressing? angry sad fear disgust happy neutral. Which language is spoken?",
    "Please identify the gender of the speaker. Male Female male female. the then there this that A B C D",
    "English German Spanish French dog cat cow crow rooster. It sounds like a dog, so the answer is dog.",
]

_SALMONN_PY = '''
"""Stand-in for SALMONN's models/salmonn.py (tests only)."""
import contextlib
import json
import os

import torch
import torch.nn as nn
from transformers import AutoTokenizer, LlamaForCausalLM

from .Qformer import QFORMER_NOTE  # the real module imports transformers helpers here
from .utils import first_row_stopped

N_SPEECH = {n_speech}


class SALMONN(nn.Module):
    def __init__(self, llama_path="", whisper_path="", beats_path="", lora=True, lora_rank=8, lora_alpha=32,
                 lora_dropout=0.1, **unused):
        super().__init__()
        self.beats_path = beats_path
        self.lora = lora
        self.llama_tokenizer = AutoTokenizer.from_pretrained(llama_path)
        self.llama_tokenizer.add_special_tokens({{"pad_token": "[PAD]"}})
        self.llama_tokenizer.padding_side = "right"
        self.llama_model = LlamaForCausalLM.from_pretrained(llama_path, dtype=torch.float16)
        self.llama_model.resize_token_embeddings(len(self.llama_tokenizer))
        for param in self.llama_model.parameters():
            param.requires_grad = False
        if lora:
            from peft import LoraConfig, TaskType, get_peft_model

            self.llama_model = get_peft_model(self.llama_model, LoraConfig(
                task_type=TaskType.CAUSAL_LM, inference_mode=False, r=lora_rank, lora_alpha=lora_alpha,
                lora_dropout=lora_dropout))
        with open(os.path.join(whisper_path, "config.json")) as handle:
            whisper = json.load(handle)
        self.speech_encoder = nn.Linear(whisper["num_mel_bins"], whisper["d_model"])
        self.speech_encoder.load_state_dict(torch.load(os.path.join(whisper_path, "encoder.pt")))
        self.ln_speech = nn.LayerNorm(whisper["d_model"])
        width = whisper["d_model"]
        if beats_path:
            beats = torch.load(beats_path, map_location="cpu")
            self.beats = nn.Linear(2, beats["cfg"]["encoder_embed_dim"])
            self.beats.load_state_dict(beats["model"])
            self.ln_audio = nn.LayerNorm(beats["cfg"]["encoder_embed_dim"])
            width += beats["cfg"]["encoder_embed_dim"]
        self.speech_Qformer = nn.Linear(width, 12)
        self.speech_query_tokens = nn.Parameter(torch.zeros(1, 1, 12))
        self.speech_llama_proj = nn.Linear(12, self.llama_model.config.hidden_size)

    @property
    def device(self):
        return next(self.parameters()).device

    def maybe_autocast(self, dtype=torch.float16):
        if self.device != torch.device("cpu"):
            return torch.autocast("cuda", dtype=dtype)
        return contextlib.nullcontext()

    def encode_speech(self, spectrogram, raw_wav=None, audio_padding_mask=None):
        with self.maybe_autocast():
            frames = spectrogram.transpose(1, 2)
            batch, length, bins = frames.shape
            windows = frames.reshape(batch, N_SPEECH, length // N_SPEECH, bins).mean(2)
            speech = self.ln_speech(self.speech_encoder(windows))
            if self.beats_path and raw_wav is not None:
                # like BEATs, this branch sees the padded waveform
                chunks = torch.stack([torch.stack([c.abs().mean(-1), c.std(-1)], -1)
                                      for c in torch.tensor_split(raw_wav.float(), N_SPEECH, dim=1)], 1)
                speech = torch.cat([speech, self.ln_audio(self.beats(chunks))], -1)
            embeds = self.speech_llama_proj(self.speech_Qformer(speech) + self.speech_query_tokens)
        return embeds, torch.ones(embeds.shape[:-1], dtype=torch.long, device=embeds.device)

    def _embed(self, ids):
        return self.llama_model.get_input_embeddings()(ids)

    def prompt_wrap(self, embeds, atts, prompts, multi_prompt=False):
        before = [p.split("<SpeechHere>")[0] for p in prompts]
        after = [p.split("<SpeechHere>")[1] for p in prompts]
        before_tokens = self.llama_tokenizer(before, return_tensors="pt", add_special_tokens=False).to(embeds.device)
        after_tokens = self.llama_tokenizer(after, return_tensors="pt", padding="longest",
                                            add_special_tokens=False).to(embeds.device)
        wrapped = torch.cat([self._embed(before_tokens.input_ids), embeds, self._embed(after_tokens.input_ids)], 1)
        mask = torch.cat([before_tokens.attention_mask, atts, after_tokens.attention_mask], 1)
        return wrapped, mask

    def generate(self, samples, generate_cfg, prompts=None):
        embeds, atts = self.encode_speech(samples["spectrogram"], raw_wav=samples.get("raw_wav"),
                                          audio_padding_mask=samples.get("padding_mask"))
        if prompts is not None:
            embeds, atts = self.prompt_wrap(embeds, atts, prompts, multi_prompt=True)
        bos = torch.full((embeds.shape[0], 1), self.llama_tokenizer.bos_token_id, device=embeds.device)
        embeds = torch.cat([self._embed(bos), embeds], 1)
        atts = torch.cat([atts[:, :1], atts], 1)
        outputs = self.llama_model.generate(
            inputs_embeds=embeds, attention_mask=atts, max_new_tokens=generate_cfg.get("max_new_tokens", 200),
            num_beams=generate_cfg.get("num_beams", 4), do_sample=generate_cfg.get("do_sample", False),
            eos_token_id=self.llama_tokenizer.eos_token_id, pad_token_id=self.llama_tokenizer.pad_token_id)
        return self.llama_tokenizer.batch_decode(outputs, add_special_tokens=False)

    @classmethod
    def from_config(cls, config):
        model = cls(llama_path=config.get("llama_path"), whisper_path=config.get("whisper_path"),
                    beats_path=config.get("beats_path", ""), lora=config.get("lora", True),
                    lora_rank=config.get("lora_rank", 8), lora_alpha=config.get("lora_alpha", 32),
                    lora_dropout=config.get("lora_dropout", 0.1))
        if config.get("prompt_path"):
            with open(config["prompt_path"]) as handle:  # read relative to the current directory, as the real one
                json.load(handle)
        if config.get("ckpt"):
            model.load_state_dict(torch.load(config["ckpt"], map_location="cpu")["model"], strict=False)
        return model
'''

_DECODE_CONFIG = """\
model:
  llama_path: "path to llama model"
  whisper_path: "path to whisper model"
  beats_path: "path to beats model"
  ckpt: "model ckpt"
  freeze_whisper: True
  freeze_beats: True
  use_speech_Qformer: True
  window_level_Qformer: True
  num_speech_query_token: 1
  lora: True
  lora_rank: 8
  lora_alpha: 32
  lora_dropout: 0.1
  multi_prompt: True
  prompt_template: "USER: {}\\nASSISTANT:"
  prompt_path: "prompts/train_prompt.json"
  max_txt_len: 300
  end_sym: "</s>"

generate:
  max_new_tokens: 200
  num_beams: 4
  do_sample: False
"""

_FILES = {
    "models/__init__.py": "from .salmonn import SALMONN\n",
    "models/Qformer.py": 'QFORMER_NOTE = "stand-in"\n',
    "models/utils.py": textwrap.dedent('''\
        def first_row_stopped(input_ids, stop_id=2):
            return bool(input_ids[0, -1] == stop_id)
        '''),
    "models/salmonn.py": _SALMONN_PY.format(n_speech=N_SPEECH),
    "utils.py": textwrap.dedent('''\
        """Stand-in for SALMONN's top-level utils.py."""
        import numpy as np
        import soundfile as sf
        import torch

        from dist_utils import get_rank  # noqa: F401  (the real one imports dist_utils too)

        STANDIN = "salmonn utils"


        def prepare_one_sample(wav_path, wav_processor, cuda_enabled=True):
            audio, rate = sf.read(wav_path)
            if audio.ndim == 2:
                audio = audio[:, 0]
            if len(audio) < rate:
                audio = np.concatenate([audio, np.zeros(rate - len(audio))])
            audio = audio[: rate * 30]
            spectrogram = wav_processor(audio, sampling_rate=rate, return_tensors="pt")["input_features"]
            samples = {"spectrogram": spectrogram, "raw_wav": torch.from_numpy(audio).unsqueeze(0),
                       "padding_mask": torch.zeros(len(audio), dtype=torch.bool).unsqueeze(0)}
            return {k: v.cuda() for k, v in samples.items()} if cuda_enabled else samples
        '''),
    "dist_utils.py": "def get_rank():\n    return 0\n",
    "config.py": 'STANDIN = "salmonn config"\n',
    "configs/decode_config.yaml": _DECODE_CONFIG,
    "prompts/train_prompt.json": "{}\n",
}


def write_checkout(root: Path, variant: str = "ok") -> Path:
    """Write a stand-in checkout under ``root``. Variants: ``ok``; ``main_branch`` (only a
    README, like the repository's default branch); ``no_from_config`` (a SALMONN class without
    ``from_config``); ``new_transformers`` (a Q-Former that imports helpers transformers removed in
    4.56, as the real one does)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("SALMONN stand-in\n")
    if variant == "main_branch":
        return root
    files = dict(_FILES)
    if variant == "no_from_config":
        files["models/salmonn.py"] = "class SALMONN:\n    def __init__(self, ckpt, whisper_path, beats_path, vicuna_path):\n        pass\n"
    elif variant == "new_transformers":
        files["models/Qformer.py"] = ("from transformers.modeling_utils import apply_chunking_to_forward, "
                                      "find_pruneable_heads_and_indices, prune_linear_layer\n" + files["models/Qformer.py"])
    elif variant != "ok":
        raise ValueError(variant)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def toy_llama_tokenizer():
    """A transformers LlamaTokenizer (Metaspace BPE with byte fallback) with a small vocabulary
    learned from prompt-like text; "Answer: (" + letter splits before the letter, as with LLaMA's."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaTokenizer

    bpe = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    bpe.train_from_iterator(_CORPUS * 4, trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    vocab = dict(state["vocab"])
    for byte in range(256):
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["merges"]]
    return LlamaTokenizer(vocab=vocab, merges=merges)


def write_weights(root: Path, checkout: Path, seed: int = 0) -> Dict[str, Path]:
    """Tiny weights for the stand-in: a LLaMA directory (config, safetensors, tokenizer), a
    "Whisper" directory (feature extractor, encoder sizes and weights), a BEATs file and a SALMONN
    checkpoint holding every trained weight (Q-Former, projector, norms, LoRA) at random values."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, WhisperFeatureExtractor

    from audiofaith.backends.salmonn import checkout_scope, is_trained_key

    torch.manual_seed(seed)
    paths = {"llama_path": root / "vicuna", "whisper_path": root / "whisper", "beats_path": root / "beats.pt",
             "ckpt": root / "salmonn_tiny.pth"}
    tokenizer = toy_llama_tokenizer()
    tokenizer.save_pretrained(paths["llama_path"])
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(paths["llama_path"])
    WhisperFeatureExtractor(feature_size=MEL_BINS, sampling_rate=16000).save_pretrained(paths["whisper_path"])
    (paths["whisper_path"] / "config.json").write_text(json.dumps({"num_mel_bins": MEL_BINS, "d_model": 16}))
    torch.save(torch.nn.Linear(MEL_BINS, 16).state_dict(), paths["whisper_path"] / "encoder.pt")
    torch.save({"cfg": {"encoder_embed_dim": 8}, "model": torch.nn.Linear(2, 8).state_dict()}, paths["beats_path"])
    with checkout_scope(checkout):
        from models.salmonn import SALMONN  # the stand-in, imported the way the backend imports it

        model = SALMONN.from_config({k: str(v) for k, v in paths.items() if k != "ckpt"})
    trained = {k: torch.randn_like(v.float()) * 0.5 for k, v in model.state_dict().items() if is_trained_key(k)}
    torch.save({"model": trained}, paths["ckpt"])
    return paths
