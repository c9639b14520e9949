"""Tiny random-weight stand-ins for the four things SALMONN's real code loads, in the formats it
reads them, so its own ``models.salmonn.SALMONN.from_config`` can build a model offline on CPU:

    python -m audiofaith.checkpoints.tiny --arch salmonn --out tiny/salmonn --salmonn_repo ../SALMONN

writes into ``out``:

- ``llama/``: a ``LlamaForCausalLM`` directory (config, generation config, ``pytorch_model.bin``)
  with a ``LlamaTokenizer`` whose sentencepiece model (BPE with byte fallback, ids unk 0 / bos 1 /
  eos 2, as LLaMA's) is trained here on prompt-like text; ``salmonn_13b`` gives it 40 layers;
- ``whisper/``: a Whisper checkpoint (80 mel bins, 1500 encoder positions: the 30 s window
  SALMONN's window-level Q-Former assumes) with its ``WhisperFeatureExtractor``;
- ``beats.pt``: ``{"cfg": ..., "model": state_dict}`` of the checkout's own ``BEATs`` class
  (relative positions, gated relative bias, deep norm and the AudioSet predictor, as the released
  fine-tuned BEATs has them), at toy width;
- ``salmonn.pth``: ``{"model": ...}`` as SALMONN's runner saves it (the state dict without the
  frozen weights: Q-Former, query tokens, projector, layer norms, LoRA, and the buffers), taken
  from the checkout's own SALMONN built on the three parts above, with LoRA's B matrices random
  (peft starts them at zero, which would make LoRA a no-op);
- ``hf_home/``: a Hugging Face cache holding the configuration of ``bert-base-uncased``, which
  SALMONN's Q-Former reads from the hub when it is built (run with ``HF_HOME=<out>/hf_home``,
  ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1``; see ``offline_env``);
- ``decode_config.yaml``: the checkout's decode config with the four paths filled in.

It needs SALMONN's environment (transformers 4.28, peft 0.3.0, sentencepiece: requirements/
salmonn-cpu.txt) and the checkout. The weights are random: it tests code paths, never SALMONN.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Dict

#: Where the four paths live inside a built directory (the keys are SALMONN's config names).
LAYOUT = {"llama_path": "llama", "whisper_path": "whisper", "beats_path": "beats.pt", "ckpt": "salmonn.pth"}
HF_HOME = "hf_home"
#: The public configuration of bert-base-uncased (its config.json), the Q-Former's base.
BERT_BASE_UNCASED = {
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": False,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0, "position_embedding_type": "absolute",
    "transformers_version": "4.6.0.dev0", "type_vocab_size": 2, "use_cache": True, "vocab_size": 30522,
}
_BERT_REVISION = "0" * 40  # any commit-shaped name: the cache maps refs/main to it

# Text the sentencepiece model learns from: the prompt's words, options written as "( A )" so
# that "(" and the letters stay separate pieces (as in LLaMA's vocabulary, where "Answer: (A"
# is "... ▁( A"), and frequent "the" so that "th" + "e" merges.
_CORPUS = [
    "USER: <Speech><SpeechHere></Speech> Which animal makes the sound in this recording?",
    "ASSISTANT: The sound is a dog barking, so the answer is the dog.",
    "From the options provided, choose the one that best answers the question about the audio.",
    "Think step by step about what you hear in the audio and explain your reasoning.",
    "Then give your final answer on its own line as Answer: ( X ), where X is the letter of the correct option.",
    "Answer: ( A ) Answer: ( B ) Answer: ( C ) Answer: ( D ) the option ( A ) or ( B ) or ( C ) or ( D )",
    "What emotion is the speaker expressing? angry sad fear disgust happy neutral",
    "Please identify the gender of the speaker. Male Female male female",
    "Which language is spoken? English German Spanish French Italian Japanese Korean Chinese",
    "dog cat cow crow rooster pig hen sheep frog. It sounds like the dog. The the the then there this that",
    "0 1 2 3 4 5 6 7 8 9 . , : ; ? ! ' \" - \n",
]


def offline_env(out: "str | os.PathLike[str]") -> Dict[str, str]:
    """Environment variables under which SALMONN's code finds the built ``bert-base-uncased``
    configuration without a network (transformers 4.28 reads TRANSFORMERS_OFFLINE, newer
    huggingface_hub HF_HUB_OFFLINE)."""
    return {"HF_HOME": str(Path(out).resolve() / HF_HOME), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def weight_paths(out: "str | os.PathLike[str]") -> Dict[str, str]:
    """The four SALMONN weight paths of a built directory, by config key."""
    return {key: str(Path(out).resolve() / name) for key, name in LAYOUT.items()}


def _sentencepiece_model(vocab_size: int) -> bytes:
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS * 8), model_writer=buffer, vocab_size=vocab_size, model_type="bpe",
        character_coverage=1.0, byte_fallback=True, split_digits=True, add_dummy_prefix=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity", allow_whitespace_only_pieces=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, hard_vocab_limit=False, num_threads=1,
        minloglevel=2)
    return buffer.getvalue()


def build_llama(out: Path, layers: int, seed: int) -> Path:
    """A tiny LLaMA/Vicuna directory: LlamaForCausalLM + LlamaTokenizer (sentencepiece)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    out.mkdir(parents=True, exist_ok=True)
    model_file = out / "tokenizer.model"
    model_file.write_bytes(_sentencepiece_model(vocab_size=480))
    tokenizer = LlamaTokenizer(vocab_file=str(model_file))
    tokenizer.save_pretrained(out)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, max_position_embeddings=2048, initializer_range=0.2,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    LlamaForCausalLM(config).eval().save_pretrained(out)
    return out


def build_whisper(out: Path, seed: int) -> Path:
    """A tiny Whisper directory with the real input geometry (80 mel bins, 3000 frames, 1500
    encoder positions) and its feature extractor."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    torch.manual_seed(seed + 1)
    config = WhisperConfig(vocab_size=64, num_mel_bins=80, d_model=16, encoder_layers=2, encoder_attention_heads=2,
                           encoder_ffn_dim=32, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32,
                           max_source_positions=1500, max_target_positions=64, pad_token_id=0, bos_token_id=1,
                           eos_token_id=2, decoder_start_token_id=1, suppress_tokens=[], begin_suppress_tokens=[])
    WhisperForConditionalGeneration(config).eval().save_pretrained(out)
    WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=30,
                            n_fft=400).save_pretrained(out)
    return out


#: BEATs settings of the released fine-tuned checkpoint's kind, at toy width and depth.
BEATS_CFG = {
    "input_patch_size": 16, "embed_dim": 16, "conv_bias": False, "encoder_layers": 2, "encoder_embed_dim": 32,
    "encoder_ffn_embed_dim": 64, "encoder_attention_heads": 2, "activation_fn": "gelu",
    "layer_wise_gradient_decay_ratio": 0.6, "layer_norm_first": False, "deep_norm": True, "dropout": 0.0,
    "attention_dropout": 0.0, "activation_dropout": 0.0, "encoder_layerdrop": 0.0, "dropout_input": 0.0,
    "conv_pos": 16, "conv_pos_groups": 4, "relative_position_embedding": True, "num_buckets": 32,
    "max_distance": 128, "gru_rel_pos": True, "finetuned_model": True, "predictor_dropout": 0.0,
    "predictor_class": 527,
}


def build_beats(path: Path, repo: Path, seed: int) -> Path:
    """A BEATs checkpoint of the checkout's own class: ``{"cfg": dict, "model": state_dict}``."""
    import importlib

    import torch

    from audiofaith.backends.salmonn import checkout_scope

    torch.manual_seed(seed + 2)
    with checkout_scope(repo):
        beats_module = importlib.import_module("models.beats.BEATs")
        model = beats_module.BEATs(beats_module.BEATsConfig(dict(BEATS_CFG)))
    torch.save({"cfg": dict(BEATS_CFG), "model": model.state_dict()}, path)
    return path


def write_hf_home(out: Path) -> Path:
    """A hub cache holding bert-base-uncased's config.json (the layout huggingface_hub reads)."""
    repo_dir = out / HF_HOME / "hub" / "models--bert-base-uncased"
    snapshot = repo_dir / "snapshots" / _BERT_REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    (snapshot / "config.json").write_text(json.dumps(BERT_BASE_UNCASED, indent=2) + "\n", encoding="utf-8")
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(_BERT_REVISION, encoding="utf-8")
    # transformers 4.x would otherwise take the cache for a pre-4.22 one and warn on every import
    (out / HF_HOME / "hub" / "version.txt").write_text("1", encoding="utf-8")
    return out / HF_HOME


def decode_config(repo: Path, paths: Dict[str, str]) -> Dict:
    """The checkout's decode config with the four weight paths set."""
    import yaml

    with open(repo / "configs" / "decode_config.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config["model"].update(paths)
    return config


def build_salmonn_checkpoint(path: Path, repo: Path, config: Dict, seed: int) -> Path:
    """SALMONN's checkpoint as its runner saves one (state dict minus frozen parameters), from the
    checkout's own model built on the tiny LLaMA, Whisper and BEATs."""
    import importlib

    import torch

    from audiofaith.backends.salmonn import checkout_scope

    model_config = dict(config["model"], ckpt="", prompt_path="")
    torch.manual_seed(seed + 3)
    with checkout_scope(repo):
        model = importlib.import_module("models.salmonn").SALMONN.from_config(model_config)
    generator = torch.Generator().manual_seed(seed + 4)
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".lora_B" in name:  # peft starts B at zero: LoRA would change nothing
                param.copy_(0.2 * torch.randn(param.shape, generator=generator))
            elif name.startswith(("ln_speech.", "ln_audio.")) and name.endswith(".weight"):
                param.add_(0.1 * torch.randn(param.shape, generator=generator))
    state = {key: value for key, value in model.state_dict().items()
             if key in trainable or key not in dict(model.named_parameters())}
    torch.save({"model": state}, path)
    return path


def build_salmonn(out: Path, seed: int = 0, llama_layers: int = 2, salmonn_repo: "str | None" = None) -> Path:
    """Build all four stand-ins (and the bert config cache and a decode config) into ``out``."""
    import yaml

    from audiofaith.backends.salmonn import check_checkout

    repo = check_checkout(salmonn_repo or os.environ.get("SALMONN_REPO"))
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    hf_home = write_hf_home(out)
    env = offline_env(out)
    if "transformers" in sys.modules and os.environ.get("HF_HOME") != env["HF_HOME"]:
        raise RuntimeError("build the SALMONN stand-ins in a fresh process (python -m audiofaith.checkpoints.tiny --arch "
                           "salmonn ...): SALMONN's Q-Former reads bert-base-uncased from the hub cache "
                           f"{hf_home}, which transformers must see when it is first imported")
    os.environ.update(env)
    paths = weight_paths(out)
    build_llama(Path(paths["llama_path"]), llama_layers, seed)
    build_whisper(Path(paths["whisper_path"]), seed)
    build_beats(Path(paths["beats_path"]), repo, seed)
    config = decode_config(repo, paths)
    build_salmonn_checkpoint(Path(paths["ckpt"]), repo, config, seed)
    with open(out / "decode_config.yaml", "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return out


def build_salmonn_7b(out: Path, seed: int = 0) -> Path:
    """SALMONN-7B-shaped stand-ins (a 2-layer LLaMA: depth does not change the code path)."""
    return build_salmonn(out, seed, llama_layers=2)


def build_salmonn_13b(out: Path, seed: int = 0) -> Path:
    """SALMONN-13B-shaped stand-ins: a 40-layer LLaMA, as vicuna-13b-v1.1 has."""
    return build_salmonn(out, seed, llama_layers=40)
