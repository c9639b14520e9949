"""Build tiny random-weight checkpoints of the real architectures, offline.

    python -m audiofaith.tiny --arch qwen2_audio --out tiny/qwen2_audio

The result is a normal Hugging Face checkpoint directory (config, safetensors weights, a toy
byte-level BPE tokenizer with the model family's real tokenizer class and pre-tokenizer, the real
feature extractor and processor classes) that loads through the same ``from_pretrained`` path as
the real model: ``--model_path tiny/qwen2_audio``. Its weights are random, so its text is
meaningless; it exists to test code paths and environments, never to produce results.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Dict, List

log = logging.getLogger(__name__)

# Text the toy tokenizer's merges are learned from: prompt words and SAKURA-like vocabulary, so
# prompts tokenize into a realistic number of tokens instead of single bytes.
_CORPUS = [
    "Think step by step about what you hear in the audio and explain your reasoning.",
    "Then give your final answer on its own line as Answer: (X), where X is the letter of the correct option.",
    "Answer with the letter of the correct option only. Therefore, the answer is (A) (B) (C) (D).",
    "Which animal makes the sound in this recording? dog cat cow crow rooster pig hen sheep frog",
    "What emotion is the speaker expressing? angry sad fear disgust happy neutral",
    "Please identify the gender of the speaker. Male Female male female",
    "Which language is spoken? English German Spanish French Italian Japanese Korean Chinese",
    "The audio contains a sound that is characteristic of a barking dog, so the answer is the dog.",
    "You are a helpful assistant. system user assistant Audio",
    "The answer is A. The answer is B. It is option C or option D.",
]
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]


def toy_qwen2_tokenizer(vocab_size: int = 400):
    """A Qwen2Tokenizer (Qwen's byte-level BPE and pre-tokenizer regex) with a small learned vocab."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer=trainer)
    state = __import__("json").loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=state["vocab"], merges=merges)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    return tokenizer


def _tiny_qwen2_text_config(tokenizer) -> Dict:
    return dict(
        model_type="qwen2", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), tie_word_embeddings=False,
    )


def build_qwen2_audio(out: Path, seed: int = 0) -> Path:
    """Tiny Qwen2-Audio: real encoder geometry (128 mel bins, 30 s window), 2-layer toy LM."""
    import torch
    from transformers import (Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor,
                              WhisperFeatureExtractor)

    torch.manual_seed(seed)
    tokenizer = toy_qwen2_tokenizer()
    feature_extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=30)
    processor = Qwen2AudioProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
    config = Qwen2AudioConfig(
        text_config=_tiny_qwen2_text_config(tokenizer),
        audio_config=dict(model_type="qwen2_audio_encoder", d_model=16, encoder_attention_heads=4,
                          encoder_ffn_dim=16, encoder_layers=2, num_mel_bins=128, max_source_positions=1500),
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    model = Qwen2AudioForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


BUILDERS: Dict[str, Callable[[Path, int], Path]] = {
    "qwen2_audio": build_qwen2_audio,
}


def build(arch: str, out: "str | Path", seed: int = 0) -> Path:
    """Build the tiny checkpoint of ``arch`` into ``out`` and return the directory."""
    if arch not in BUILDERS:
        raise ValueError(f"unknown --arch {arch!r}; known: {', '.join(sorted(BUILDERS))}")
    return BUILDERS[arch](Path(out), seed)


def main(argv: "List[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audiofaith.tiny",
        description="Build a tiny random-weight checkpoint of a real model architecture (offline). "
                    "Its outputs are meaningless: use it to test code paths, never for results.",
    )
    parser.add_argument("--arch", required=True, choices=sorted(BUILDERS), help="architecture to build")
    parser.add_argument("--out", required=True, help="output directory (loadable with --model_path)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    path = build(args.arch, args.out, args.seed)
    log.info("tiny %s checkpoint (random weights) written to %s", args.arch, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
