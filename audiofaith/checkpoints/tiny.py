"""Build tiny random-weight checkpoints of the real architectures, offline.

    python -m audiofaith.checkpoints.tiny --arch qwen2_audio --out tiny/qwen2_audio
    python -m audiofaith.checkpoints.tiny --arch qwen2_audio --trained faithful --out tiny/faithful   # known answer

The result is a normal Hugging Face checkpoint directory (config, safetensors weights, a toy
byte-level BPE tokenizer with the model family's real tokenizer class and pre-tokenizer, the real
feature extractor and processor classes) that loads through the same ``from_pretrained`` path as
the real model: ``--model_path tiny/qwen2_audio``. Its weights are random, so its text is
meaningless; it exists to test code paths and environments, never to produce results.

``--trained faithful|posthoc`` instead trains a small Qwen2-Audio on a synthetic listening task
so that its faithfulness is known by construction (``audiofaith.checkpoints.known_answer``, docs/validation.md).

Which builder makes ``--arch KEY`` is the model's ``ModelSpec.tiny_builder`` in the registry
(``audiofaith/backends/__init__.py``); ``causal_lm`` (a rewriter, not a registered model) is the one
extra architecture.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from audiofaith.backends.model_source import MARKER, TINY_MAX_NEW_TOKENS, is_tiny_checkpoint  # noqa: F401  (re-exported: their old place)

log = logging.getLogger(__name__)

# Text the toy tokenizer's merges are learned from: prompt words and SAKURA-like vocabulary, so
# prompts tokenize into a realistic number of tokens instead of single bytes.
TOY_CORPUS = [
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


def toy_qwen2_tokenizer(vocab_size: int = 400, special_tokens: Sequence[str] = tuple(SPECIAL_TOKENS[1:]),
                        named_tokens: Optional[Dict[str, str]] = None, extra_corpus: Sequence[str] = ()):
    """A Qwen2Tokenizer (Qwen's byte-level BPE and pre-tokenizer regex) with a small learned vocab.

    ``special_tokens`` are added after the learned vocabulary; ``named_tokens`` (e.g.
    ``{"audio_token": "<|AUDIO|>"}``) also become tokenizer attributes, as processors that read
    ``tokenizer.audio_token`` expect; ``extra_corpus`` adds text the merges are learned from.
    """
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
    bpe.train_from_iterator((list(TOY_CORPUS) + list(extra_corpus)) * 4, trainer=trainer)
    state = __import__("json").loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=state["vocab"], merges=merges, **(named_tokens or {}))
    tokenizer.add_special_tokens({"additional_special_tokens": list(special_tokens)})
    return tokenizer


def _tiny_qwen2_text_config(tokenizer) -> Dict:
    return dict(
        model_type="qwen2", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), tie_word_embeddings=False,
    )


def save_tiny(out: Path, model, processor) -> Path:
    """Save a tiny model and its processor; generation stops at the toy tokenizer's end of turn."""
    model.generation_config.eos_token_id = model.config.text_config.eos_token_id
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


# Our own template with the behaviour of the one published with Qwen2-Audio-7B-Instruct: the default
# system prompt unless one is given, "Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>\n" per audio part,
# then the text. Like the hub's (and unlike transformers' class default), it recognises an audio
# part only by an "audio" or "audio_url" key: a bare {"type": "audio"} renders nothing.
QWEN2_AUDIO_CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for part in message['content'] %}"
    "{% if 'audio' in part or 'audio_url' in part %}{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_qwen2_audio(out: Path, seed: int = 0) -> Path:
    """Tiny Qwen2-Audio: real encoder geometry (128 mel bins, 30 s window), 2-layer toy LM."""
    import torch
    from transformers import (Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor,
                              WhisperFeatureExtractor)

    torch.manual_seed(seed)
    tokenizer = toy_qwen2_tokenizer()
    feature_extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=30)
    processor = Qwen2AudioProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer,
                                    chat_template=QWEN2_AUDIO_CHAT_TEMPLATE)
    config = Qwen2AudioConfig(
        text_config=_tiny_qwen2_text_config(tokenizer),
        audio_config=dict(model_type="qwen2_audio_encoder", d_model=16, encoder_attention_heads=4,
                          encoder_ffn_dim=16, encoder_layers=2, num_mel_bins=128, max_source_positions=1500),
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    return save_tiny(out, Qwen2AudioForConditionalGeneration(config).eval(), processor)


# --- Qwen2.5-Omni ------------------------------------------------------------------------------

# Named multimodal tokens the Omni processor reads from its tokenizer (tokenizer.audio_token ...).
_OMNI_NAMED_TOKENS = {
    "audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>",
    "image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
}

# A chat template of our own that renders what Qwen's does for system/user/assistant turns with
# audio and text parts: each part in order (the audio placeholder, the text), with no separator.
# Like the hub's, it takes a part as audio by its type or by an "audio" / "audio_url" key, and as
# text by a "text" key.
_OMNI_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' or 'audio' in part or 'audio_url' in part %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_qwen_omni(out: Path, seed: int = 0) -> Path:
    """Tiny Qwen2.5-Omni in the hub checkpoint's layout: a full ``Qwen2_5OmniConfig`` (thinker +
    a small talker config; token2wav defaults, no weights) and only ``thinker.*`` weights, so the
    thinker class loads it the way it loads ``Qwen/Qwen2.5-Omni-7B``. The processor is the real
    ``Qwen2_5OmniProcessor`` with its image and video processors.

    One deliberate difference: the feature extractor's window is 30 s, not the hub's 300 s, so
    tests run fast and a 31 s clip exercises the window cut (the backend reads the window from
    whichever checkpoint it loads)."""
    import json
    import tempfile

    import torch
    from safetensors.torch import load_file, save_file
    from transformers import (Qwen2_5OmniConfig, Qwen2_5OmniProcessor, Qwen2_5OmniThinkerConfig,
                              Qwen2_5OmniThinkerForConditionalGeneration, Qwen2VLImageProcessor,
                              Qwen2VLVideoProcessor, WhisperFeatureExtractor)
    from transformers.utils import logging as transformers_logging

    from audiofaith.text.prompts import QWEN_OMNI_SYSTEM_PROMPT

    torch.manual_seed(seed)
    tokenizer = toy_qwen2_tokenizer(special_tokens=["<|im_start|>", "<|im_end|>", *_OMNI_NAMED_TOKENS.values()],
                                    named_tokens=_OMNI_NAMED_TOKENS, extra_corpus=[QWEN_OMNI_SYSTEM_PROMPT])
    processor = Qwen2_5OmniProcessor(
        image_processor=Qwen2VLImageProcessor(), video_processor=Qwen2VLVideoProcessor(),
        feature_extractor=WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=30),
        tokenizer=tokenizer, chat_template=_OMNI_CHAT_TEMPLATE,
    )
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in _OMNI_NAMED_TOKENS.items()}
    hidden = 32
    text_config = dict(_tiny_qwen2_text_config(tokenizer), model_type="qwen2_5_omni_text",
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [1, 1, 2]})
    thinker = Qwen2_5OmniThinkerConfig(
        audio_config=dict(d_model=32, encoder_attention_heads=4, encoder_ffn_dim=32, encoder_layers=2,
                          num_mel_bins=128, max_source_positions=1500, n_window=100, output_dim=hidden),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=32, out_hidden_size=hidden, intermediate_size=24,
                           num_heads=4, patch_size=14, spatial_merge_size=1, temporal_patch_size=2,
                           fullatt_block_indexes=[0]),
        text_config=text_config,
        audio_token_index=ids["audio_token"], image_token_index=ids["image_token"],
        video_token_index=ids["video_token"], audio_start_token_id=ids["audio_bos_token"],
        audio_end_token_id=ids["audio_eos_token"], vision_start_token_id=ids["vision_bos_token"],
        vision_end_token_id=ids["vision_eos_token"], user_token_id=tokenizer.convert_tokens_to_ids("user"),
    )
    talker = dict(  # never built (the thinker class ignores it); small so its ids fit its vocabulary
        vocab_size=64, embedding_size=hidden, hidden_size=32, intermediate_size=37, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, audio_token_index=50, image_token_index=51,
        video_token_index=52, tts_text_start_token_id=53, tts_text_end_token_id=54, tts_text_pad_token_id=55,
        tts_codec_start_token_id=56, tts_codec_end_token_id=57, tts_codec_pad_token_id=58,
        tts_codec_mask_token_id=59, vision_start_token_id=60, vision_end_token_id=61, audio_start_token_id=62,
        audio_end_token_id=63, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                               "mrope_section": [1, 1, 2]},
    )
    model = Qwen2_5OmniThinkerForConditionalGeneration(thinker).eval()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        model.save_pretrained(scratch)  # on-disk thinker names (audio_tower., visual., model., lm_head.)
        weights = load_file(str(Path(scratch) / "model.safetensors"))
    save_file({f"thinker.{name}": tensor for name, tensor in weights.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()  # the default talker it diffs against has out-of-range ids
    try:
        Qwen2_5OmniConfig(thinker_config=thinker.to_dict(), talker_config=talker).save_pretrained(out)
    finally:
        transformers_logging.set_verbosity(verbosity)
    generation = model.generation_config
    generation.eos_token_id = thinker.text_config.eos_token_id
    generation.pad_token_id = tokenizer.pad_token_id
    generation.save_pretrained(out)
    processor.save_pretrained(out)
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_omni", config["model_type"]
    return out


# --- Qwen3-Omni ----------------------------------------------------------------------------------

# Named multimodal tokens of Qwen3-Omni's tokenizer (the processor reads tokenizer.audio_token ...).
_QWEN3_OMNI_NAMED_TOKENS = {
    "audio_token": "<|audio_pad|>", "audio_bos_token": "<|audio_start|>", "audio_eos_token": "<|audio_end|>",
    "image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
    "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>",
}
# Qwen3's trace markers: added tokens that are not special (decoding keeps them), as in Qwen's vocabulary.
QWEN3_THINK_TOKENS = ("<think>", "</think>")


def qwen3_omni_chat_template(thinking: bool) -> str:
    """Our own template with the format of Qwen3-Omni's: ChatML turns, no system turn unless one is
    given, each user part in order (an audio part as ``<|audio_start|><|audio_pad|><|audio_end|>``,
    taken by its type or by an "audio" / "audio_url" key; a text part by its "text" key). The
    Thinking model's generation prompt opens the trace: ``<|im_start|>assistant\n<think>\n``."""
    generation = "<|im_start|>assistant\n" + ("<think>\n" if thinking else "")
    return (
        "{% for message in messages %}"
        "<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for part in message['content'] %}"
        "{% if part['type'] == 'audio' or 'audio' in part or 'audio_url' in part %}"
        "<|audio_start|><|audio_pad|><|audio_end|>"
        "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<|im_end|>\n"
        "{% endfor %}"
        "{% if add_generation_prompt %}" + generation + "{% endif %}"
    )


def _build_qwen3_omni(out: Path, seed: int, thinking: bool) -> Path:
    """Tiny Qwen3-Omni thinker in the hub checkpoint's layout: a full ``Qwen3OmniMoeConfig``
    (talker and code2wav configs at their defaults, never built; audio output off) and only
    ``thinker.*`` weights, which the thinker class loads as it loads the real checkpoint. The
    language model is a real MoE (4 experts, 2 per token); 128 mel bins; the real processor."""
    import json
    import tempfile

    import torch
    from safetensors.torch import load_file, save_file
    from transformers import (Qwen2VLImageProcessor, Qwen2VLVideoProcessor, Qwen3OmniMoeConfig,
                              Qwen3OmniMoeProcessor, Qwen3OmniMoeThinkerConfig,
                              Qwen3OmniMoeThinkerForConditionalGeneration, WhisperFeatureExtractor)

    torch.manual_seed(seed)
    tokenizer = toy_qwen2_tokenizer(special_tokens=["<|im_start|>", "<|im_end|>", *_QWEN3_OMNI_NAMED_TOKENS.values()],
                                    named_tokens=_QWEN3_OMNI_NAMED_TOKENS,
                                    extra_corpus=["<think> I hear a dog. </think>"])
    tokenizer.add_tokens(list(QWEN3_THINK_TOKENS))  # after the specials: their ids stay the same in both builds
    processor = Qwen3OmniMoeProcessor(
        image_processor=Qwen2VLImageProcessor(), video_processor=Qwen2VLVideoProcessor(),
        feature_extractor=WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=30),
        tokenizer=tokenizer, chat_template=qwen3_omni_chat_template(thinking),
    )
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in _QWEN3_OMNI_NAMED_TOKENS.items()}
    text_config = dict(_tiny_qwen2_text_config(tokenizer), model_type="qwen3_omni_moe_text", head_dim=8,
                       num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [1, 1, 2],
                                        "interleaved": True})
    thinker = Qwen3OmniMoeThinkerConfig(
        audio_config=dict(d_model=32, encoder_attention_heads=4, encoder_ffn_dim=32, encoder_layers=2,
                          num_mel_bins=128, max_source_positions=1500, n_window=50, output_dim=32,
                          downsample_hidden_size=16),
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=24, num_heads=4, out_hidden_size=32,
                           patch_size=16, spatial_merge_size=2, deepstack_visual_indexes=[0],
                           num_position_embeddings=64),
        text_config=text_config, audio_token_id=ids["audio_token"], image_token_id=ids["image_token"],
        video_token_id=ids["video_token"], audio_start_token_id=ids["audio_bos_token"],
        vision_start_token_id=ids["vision_bos_token"], user_token_id=tokenizer.convert_tokens_to_ids("user"),
    )
    model = Qwen3OmniMoeThinkerForConditionalGeneration(thinker).eval()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        model.save_pretrained(scratch)  # on-disk thinker names
        weights = load_file(str(Path(scratch) / "model.safetensors"))
    save_file({f"thinker.{name}": tensor for name, tensor in weights.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    Qwen3OmniMoeConfig(thinker_config=thinker.to_dict(), enable_audio_output=False).save_pretrained(out)
    generation = model.generation_config
    generation.eos_token_id = thinker.text_config.eos_token_id
    generation.pad_token_id = tokenizer.pad_token_id
    generation.save_pretrained(out)
    processor.save_pretrained(out)
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "qwen3_omni_moe", config["model_type"]
    return out


def build_qwen3_omni(out: Path, seed: int = 0) -> Path:
    """Tiny Qwen3-Omni-30B-A3B-Instruct (see ``_build_qwen3_omni``): no trace in its template."""
    return _build_qwen3_omni(out, seed, thinking=False)


def build_qwen3_omni_thinking(out: Path, seed: int = 0) -> Path:
    """Tiny Qwen3-Omni-30B-A3B-Thinking: the same architecture, a template that opens ``<think>``."""
    return _build_qwen3_omni(out, seed, thinking=True)


# --- Nemotron 3 Nano Omni ------------------------------------------------------------------------

# Our own template with the ChatML turns of Nemotron's: no system turn unless one is given, each
# user part in order (audio as "<so_embedding>", taken by its type or by an "audio" key), and a
# generation prompt that opens the reasoning trace ("<think>\n") when ``enable_thinking`` (the
# default) or closes an empty one ("<think></think>") when not.
_NEMOTRON_OMNI_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' or 'audio' in part %}<so_embedding>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is not defined or enable_thinking %}{{ '<think>\\n' }}{% else %}{{ '<think></think>' }}"
    "{% endif %}{% endif %}"
)


def build_nemotron_omni(out: Path, seed: int = 0) -> Path:
    """Tiny Nemotron 3 Nano Omni: a 3-block NemotronH LM (one Mamba-2, one attention, one MoE block
    with 4 experts), a 2-layer Parakeet sound encoder on 80 mel bins, a one-layer RADIO vision
    tower, and the real processor with its Parakeet feature extractor."""
    import torch
    from transformers import (NemotronH_Omni_Reasoning_V3, NemotronH_Omni_Reasoning_V3_Config,
                              NemotronH_Omni_Reasoning_V3ImageProcessor, NemotronH_Omni_Reasoning_V3Processor,
                              NemotronH_Omni_Reasoning_V3VideoProcessor, ParakeetFeatureExtractor)

    torch.manual_seed(seed)
    tokenizer = toy_qwen2_tokenizer(special_tokens=["<|im_start|>", "<|im_end|>", "<so_embedding>", "<so_start>",
                                                    "<so_end>", "<image>", "<img>", "</img>", "<video>"],
                                    extra_corpus=["<think> I hear a dog. </think>"])
    tokenizer.add_tokens(list(QWEN3_THINK_TOKENS))  # trace markers: added, not special (decoding keeps them)
    processor = NemotronH_Omni_Reasoning_V3Processor(
        image_processor=NemotronH_Omni_Reasoning_V3ImageProcessor(),
        video_processor=NemotronH_Omni_Reasoning_V3VideoProcessor(), tokenizer=tokenizer,
        feature_extractor=ParakeetFeatureExtractor(), chat_template=_NEMOTRON_OMNI_CHAT_TEMPLATE)
    text = dict(vocab_size=len(tokenizer), hidden_size=32, layers_block_type=["mamba", "attention", "moe"],
                num_attention_heads=4, num_key_value_heads=2, head_dim=8, intermediate_size=37, ssm_state_size=8,
                mamba_num_heads=4, mamba_head_dim=16, n_groups=1, conv_kernel=4, expand=2, chunk_size=16,
                n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                moe_shared_expert_intermediate_size=16, max_position_embeddings=4096,
                pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
                eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"))
    config = NemotronH_Omni_Reasoning_V3_Config(
        text_config=text,
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, patch_size=16, image_size=64,
                           max_img_size=256, num_cls_tokens=1, num_registers=1, video_temporal_patch_size=2),
        audio_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32,
                          subsampling_conv_channels=8, num_mel_bins=80, projection_hidden_size=32,
                          projection_bias=True),
        vision_hidden_size=32, projector_hidden_size=32,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<video>"),
        audio_token_id=tokenizer.convert_tokens_to_ids("<so_embedding>"),
    )
    model = NemotronH_Omni_Reasoning_V3(config).eval()
    model.generation_config.eos_token_id = text["eos_token_id"]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


# --- Gemma 4 -------------------------------------------------------------------------------------

# Named multimodal tokens of Gemma 4's tokenizer (the processor reads tokenizer.audio_token ...).
_GEMMA4_NAMED_TOKENS = {"image_token": "<|image|>", "boi_token": "<|image>", "eoi_token": "<image|>",
                        "audio_token": "<|audio|>", "boa_token": "<|audio>", "eoa_token": "<audio|>"}
# Gemma 4's turn, thinking and channel control tokens: special tokens, as in Gemma's vocabulary.
_GEMMA4_CONTROL_TOKENS = ["<|turn>", "<turn|>", "<|think|>", "<|channel>", "<channel|>"]

# Our own template in Gemma 4's format (Google's Gemma 4 prompt-formatting guide): turns
# "<|turn>{role}\n...<turn|>\n" with the assistant as "model", no system turn unless one is given,
# each part in order (audio as the "<|audio|>" placeholder, taken by its type or by an "audio"
# key), and the generation prompt "<|turn>model\n". Thinking mode is the "<|think|>" token in the
# system turn (the gemma4_thinking profile puts it there).
_GEMMA4_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' or 'audio' in part %}<|audio|>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<turn|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|turn>model\n{% endif %}"
)


def toy_gemma_tokenizer(vocab_size: int = 400):
    """A GemmaTokenizer (Gemma's BPE with byte fallback and "▁" for spaces) with a small learned
    vocabulary, the 256 byte tokens, and Gemma 4's named and control tokens."""
    import json

    from tokenizers import Tokenizer, models, normalizers, trainers
    from transformers import GemmaTokenizer

    bpe = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    bpe.normalizer = normalizers.Replace(" ", "\u2581")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, show_progress=False,
        special_tokens=["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", *(f"<0x{i:02X}>" for i in range(256))])
    bpe.train_from_iterator(list(TOY_CORPUS) * 4, trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["merges"]]
    tokenizer = GemmaTokenizer(vocab=state["vocab"], merges=merges, **_GEMMA4_NAMED_TOKENS)
    tokenizer.add_special_tokens({"additional_special_tokens": [*_GEMMA4_CONTROL_TOKENS,
                                                                *_GEMMA4_NAMED_TOKENS.values()]})
    return tokenizer


def build_gemma4(out: Path, seed: int = 0) -> Path:
    """Tiny Gemma 4 (E2B-style: audio tower, vision tower, per-layer embeddings): a 2-layer toy LM
    (one sliding, one full attention layer), a 2-layer conformer audio encoder on 128 mel bins, the
    real Gemma4Processor with its audio feature extractor, and a GemmaTokenizer."""
    import torch
    from transformers import (Gemma4AudioFeatureExtractor, Gemma4Config, Gemma4ForConditionalGeneration,
                              Gemma4ImageProcessor, Gemma4Processor, Gemma4VideoProcessor)

    torch.manual_seed(seed)
    tokenizer = toy_gemma_tokenizer()
    processor = Gemma4Processor(feature_extractor=Gemma4AudioFeatureExtractor(), image_processor=Gemma4ImageProcessor(),
                                tokenizer=tokenizer, video_processor=Gemma4VideoProcessor(),
                                chat_template=_GEMMA4_CHAT_TEMPLATE)
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in _GEMMA4_NAMED_TOKENS.items()}
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, head_dim=8, global_head_dim=8, sliding_window=16,
                layer_types=["sliding_attention", "full_attention"], hidden_size_per_layer_input=8,
                vocab_size_per_layer_input=len(tokenizer), max_position_embeddings=4096,
                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.convert_tokens_to_ids("<turn|>"))
    config = Gemma4Config(
        text_config=text,
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=4,
                           num_key_value_heads=4, head_dim=8, position_embedding_size=64),
        # the first conv's channels are the mel bins (its input projection assumes 128 / 4 frequency rows)
        audio_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          subsampling_conv_channels=[128, 4], output_proj_dims=32),
        boi_token_id=ids["boi_token"], eoi_token_id=ids["eoi_token"], image_token_id=ids["image_token"],
        video_token_id=tokenizer.convert_tokens_to_ids("<|video|>"), boa_token_id=ids["boa_token"],
        eoa_token_index=ids["eoa_token"], audio_token_id=ids["audio_token"],
    )
    model = Gemma4ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = text["eos_token_id"]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


# --- Audio Flamingo 3 ----------------------------------------------------------------------------

#: The system turn the Music Flamingo checkpoint's template writes when a conversation has none
#: (``nvidia/music-flamingo-2601-hf``, written by transformers' convert_musicflamingo_to_hf.py;
#: its typos are the checkpoint's and stay).
MUSIC_FLAMINGO_DEFAULT_SYSTEM_PROMPT = (
    "You are Music Flamingo, a multimodal assistant for language and music. On each turn you receive an audio "
    "clip which contains music and optional text, you will receive at least one or both; use your world "
    "knowledge and reasoning to help the user with any task. Interpret the entirety of the content any input "
    "music--regardlenss of whether the user calls it audio, music, or sound."
)


#: The Flamingo templates' conversation turns (everything after the default system turn).
_AF3_TURNS = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% set turn = namespace(audio=false, text='') %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' or 'audio' in part %}{% set turn.audio = true %}"
    "{% elif part['type'] == 'text' or 'text' in part %}{% set turn.text = turn.text + part['text'] %}{% endif %}"
    "{% endfor %}"
    "{% if turn.audio %}<sound>{% endif %}{{ turn.text }}"
    "{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def af3_chat_template(default_system_prompt: str) -> str:
    """Our own template with the behaviour of the Flamingo processors' published ones: the default
    system prompt unless one is given, and a single <sound> at the start of a user turn that has
    audio, then all its text. Like the published ones, it takes a part as audio by its type or by an
    "audio" key, as text by its type or a "text" key. AF3's default is "You are a helpful
    assistant.", Music Flamingo's ``MUSIC_FLAMINGO_DEFAULT_SYSTEM_PROMPT``."""
    return (
        "{% if messages[0]['role'] != 'system' %}"
        "<|im_start|>system\n" + default_system_prompt + "<|im_end|>\n"
        "{% endif %}" + _AF3_TURNS
    )


#: The tiny AF-Whisper encoder of the Flamingo builders (AF3, Music Flamingo): real 128 mel bins and
#: 1500 positions (30 s), 2 layers 16 wide.
_TINY_AF_ENCODER = dict(model_type="audioflamingo3_encoder", hidden_size=16, num_attention_heads=4,
                        intermediate_size=16, num_hidden_layers=2, num_mel_bins=128, max_source_positions=1500)


def _af_whisper_features():
    """AF-Whisper's feature extractor geometry: 128 mel bins, 30 s windows, with attention masks."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=30, return_attention_mask=True)


def build_af3(out: Path, seed: int = 0) -> Path:
    """Tiny Audio Flamingo 3: real AF-Whisper geometry (128 mel bins, 30 s windows, up to 600 s),
    2-layer toy LM, the real AudioFlamingo3Processor."""
    import torch
    from transformers import (AudioFlamingo3Config, AudioFlamingo3ForConditionalGeneration,
                              AudioFlamingo3Processor)

    from audiofaith.text.prompts import AF3_THINK_SUFFIX

    torch.manual_seed(seed)
    tokenizer = toy_qwen2_tokenizer(special_tokens=["<|im_start|>", "<|im_end|>", "<sound>"],
                                    extra_corpus=[AF3_THINK_SUFFIX])
    processor = AudioFlamingo3Processor(
        feature_extractor=_af_whisper_features(),
        tokenizer=tokenizer, chat_template=af3_chat_template("You are a helpful assistant."), max_audio_len=600,
    )
    config = AudioFlamingo3Config(
        text_config=_tiny_qwen2_text_config(tokenizer),
        audio_config=_TINY_AF_ENCODER,
        audio_token_id=tokenizer.convert_tokens_to_ids("<sound>"),
    )
    return save_tiny(out, AudioFlamingo3ForConditionalGeneration(config).eval(), processor)


def build_music_flamingo(out: Path, seed: int = 0) -> Path:
    """Tiny Music Flamingo: AF3's architecture plus rotary time embeddings; real AF-Whisper
    geometry (128 mel bins, 30 s windows, up to 1200 s), the real MusicFlamingoProcessor with its
    ``<|sound_bos|>`` / ``<|sound_eos|>`` boundary tokens, a 2-layer toy LM, and the AF3-format
    template (one ``<sound>`` at the start of a user turn with audio) with the checkpoint's own
    default system prompt."""
    import torch
    from transformers import (MusicFlamingoConfig, MusicFlamingoForConditionalGeneration, MusicFlamingoProcessor)

    torch.manual_seed(seed)
    tokenizer = toy_qwen2_tokenizer(special_tokens=["<|im_start|>", "<|im_end|>", "<sound>", "<|sound_bos|>",
                                                    "<|sound_eos|>"])
    processor = MusicFlamingoProcessor(
        feature_extractor=_af_whisper_features(),
        tokenizer=tokenizer, chat_template=af3_chat_template(MUSIC_FLAMINGO_DEFAULT_SYSTEM_PROMPT),
        max_audio_len=1200,
    )
    config = MusicFlamingoConfig(
        text_config=_tiny_qwen2_text_config(tokenizer),
        audio_config=_TINY_AF_ENCODER,
        audio_token_id=tokenizer.convert_tokens_to_ids("<sound>"),
        audio_bos_token_id=tokenizer.convert_tokens_to_ids("<|sound_bos|>"),
        audio_eos_token_id=tokenizer.convert_tokens_to_ids("<|sound_eos|>"),
    )
    return save_tiny(out, MusicFlamingoForConditionalGeneration(config).eval(), processor)


# --- Voxtral: a tekken (mistral-common) tokenizer instead of a chat template -----------------------

#: Our own pre-tokenizer regex for the toy tekken vocabulary (letters with one leading non-letter,
#: single digits, punctuation runs, newlines, spaces): a tiktoken ``pat_str``.
_TOY_TEKKEN_PATTERN = r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
#: Special tokens at the ranks the real Voxtral code reads: the first twenty are mistral-common's
#: long-standing control tokens (its ``Tekkenizer.DEPRECATED_SPECIAL_TOKENS`` order), and
#: ``VoxtralProcessor`` hard-codes ``[AUDIO]`` as id 24; the ranks between are fillers.
_TEKKEN_NAMED_SPECIAL = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
                         "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]",
                         "[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
                         "[TOOL_CONTENT]"]
_TEKKEN_AUDIO_SPECIAL = {24: "[AUDIO]", 25: "[BEGIN_AUDIO]", 34: "[TRANSCRIBE]"}
_TOY_TEKKEN_NUM_SPECIAL = 40


def _byte_level_alphabet() -> Dict[int, str]:
    """Byte -> the printable character byte-level BPE trainers stand it for (printable Latin-1
    bytes stand for themselves, the rest for characters from U+0100 on, in byte order)."""
    printable = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    alphabet, shifted = {}, 0
    for byte in range(256):
        if byte in printable:
            alphabet[byte] = chr(byte)
        else:
            alphabet[byte] = chr(256 + shifted)
            shifted += 1
    return alphabet


def write_toy_tekken(path: Path, vocab_size: int = 400) -> Path:
    """A small tekken tokenizer file (mistral-common's JSON format): the 256 bytes, then BPE merges
    learned from ``TOY_CORPUS`` in merge order (tiktoken's ranks), the special tokens Voxtral needs
    at their ranks, tokenizer version v7 (no system turn beside audio, like Voxtral's) and Voxtral's
    audio settings (16 kHz, 12.5 audio tokens per second, 128 mel bins, 30 s chunks)."""
    import base64

    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_TOY_TEKKEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(list(TOY_CORPUS) * 4, trainer=trainer)
    merges = json.loads(bpe.to_str())["model"]["merges"]
    byte_of = {char: byte for byte, char in _byte_level_alphabet().items()}
    as_bytes = lambda piece: bytes(byte_of[char] for char in piece)  # noqa: E731
    pieces = [bytes([byte]) for byte in range(256)]
    for merge in merges:
        left, right = merge if isinstance(merge, list) else merge.split(" ")
        pieces.append(as_bytes(left) + as_bytes(right))
    special = [{"rank": rank, "token_str": _TEKKEN_NAMED_SPECIAL[rank] if rank < len(_TEKKEN_NAMED_SPECIAL)
                else _TEKKEN_AUDIO_SPECIAL.get(rank, f"<SPECIAL_{rank}>"), "is_control": True}
               for rank in range(max(_TEKKEN_AUDIO_SPECIAL) + 1)]
    model = {
        "config": {"pattern": _TOY_TEKKEN_PATTERN, "num_vocab_tokens": len(pieces),
                   "default_vocab_size": len(pieces) + _TOY_TEKKEN_NUM_SPECIAL,
                   "default_num_special_tokens": _TOY_TEKKEN_NUM_SPECIAL, "version": "v7"},
        "vocab": [{"rank": rank, "token_bytes": base64.b64encode(piece).decode("ascii"),
                   "token_str": piece.decode("utf-8", errors="replace")} for rank, piece in enumerate(pieces)],
        "special_tokens": special,
        "audio": {"sampling_rate": 16000, "frame_rate": 12.5, "chunk_length_s": 30.0,
                  "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model), encoding="utf-8")
    return path


def build_voxtral(out: Path, seed: int = 0) -> Path:
    """Tiny Voxtral: the real VoxtralProcessor around a toy tekken tokenizer (``tekken.json``, read
    by mistral-common through transformers' MistralCommonBackend) and Whisper's 128-bin feature
    extractor; a 2-layer Voxtral encoder of the real geometry (1500 positions per 30 s chunk, four
    frames stacked into one 80 ms audio token by the projector) and a 2-layer toy Llama."""
    import tempfile

    import torch
    from transformers import (MistralCommonBackend, VoxtralConfig, VoxtralForConditionalGeneration, VoxtralProcessor,
                              WhisperFeatureExtractor)

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = MistralCommonBackend(tokenizer_path=str(write_toy_tekken(Path(scratch) / "tekken.json")))
        processor = VoxtralProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tokenizer)
        encoder_width = 16
        config = VoxtralConfig(
            audio_token_id=tokenizer.convert_tokens_to_ids("[AUDIO]"),
            text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=8192,
                             pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                             eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False),
            audio_config=dict(hidden_size=encoder_width, intermediate_size=4 * encoder_width, num_hidden_layers=2,
                              num_attention_heads=4, num_mel_bins=128, max_source_positions=1500),
        )
        return save_tiny(out, VoxtralForConditionalGeneration(config).eval(), processor)


# Module path (transformers >= 5.10) -> the old-layout name the tiny think/non_lora_trainables.bin
# stores it under, as the original training code saved them (see NON_LORA_KEY_MAP in
# audiofaith/backends/af3_think.py, which maps them back).
TINY_NON_LORA_NAMES = {
    "model.multi_modal_projector.linear_1.weight": "multi_modal_projector.linear_1.weight",
    "model.multi_modal_projector.linear_1.bias": "multi_modal_projector.linear_1.bias",
    "model.multi_modal_projector.linear_2.weight": "multi_modal_projector.linear_2.weight",
    "model.multi_modal_projector.linear_2.bias": "multi_modal_projector.linear_2.bias",
    "model.audio_tower.layer_norm.weight": "audio_tower.layer_norm.weight",
    "model.audio_tower.layer_norm.bias": "audio_tower.layer_norm.bias",
    "model.language_model.norm.weight": "language_model.model.norm.weight",
}


def build_af3_think(out: Path, seed: int = 0) -> Path:
    """Tiny AF3 thinking mode: the tiny AF3 checkpoint plus ``think/`` holding a PEFT LoRA adapter
    (random, non-zero, so it changes outputs) and ``non_lora_trainables.bin`` with fresh values for
    a few non-LoRA weights. Both use old-layout names (the adapter's as a pre-5.10 save wrote them,
    which transformers and PEFT remap; the non-LoRA file's for NON_LORA_KEY_MAP to remap)."""
    import warnings

    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file, save_file
    from transformers import AudioFlamingo3ForConditionalGeneration

    build_af3(out, seed)
    model = AudioFlamingo3ForConditionalGeneration.from_pretrained(out).eval()
    think = out / "think"
    generator = torch.Generator().manual_seed(seed + 1)
    current = model.state_dict()
    non_lora = {old: 0.5 * torch.randn(current[new].shape, generator=generator)
                for new, old in TINY_NON_LORA_NAMES.items()}
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, init_lora_weights=False,
                      target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # PEFT calling a deprecated transformers name
        adapted = get_peft_model(model, lora)
        with torch.no_grad():
            for name, param in adapted.named_parameters():
                if ".lora_" in name:
                    param.copy_(0.3 * torch.randn(param.shape, generator=generator))
        adapted.save_pretrained(think)
    adapter_file = str(think / "adapter_model.safetensors")
    old_layout = {name.replace("base_model.model.model.language_model.", "base_model.model.language_model.model."): t
                  for name, t in load_file(adapter_file).items()}
    save_file(old_layout, adapter_file, metadata={"format": "pt"})
    torch.save(non_lora, think / "non_lora_trainables.bin")
    return out


# --- a text-only chat model (rewriter for adding_mistakes / paraphrasing) -------------------------

_CAUSAL_LM_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_causal_lm(out: Path, seed: int = 0) -> Path:
    """Tiny text-only chat model (``Qwen2ForCausalLM``, the toy tokenizer with a simple chat
    template), loadable with ``AutoModelForCausalLM`` / ``AutoTokenizer`` as ``--rewriter_model``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    tokenizer = toy_qwen2_tokenizer()
    tokenizer.chat_template = _CAUSAL_LM_CHAT_TEMPLATE
    model = Qwen2ForCausalLM(Qwen2Config(**_tiny_qwen2_text_config(tokenizer))).eval()
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


#: Architectures --arch builds besides the registered models: name -> "module:function(out, seed)".
EXTRA_BUILDERS: Dict[str, str] = {"causal_lm": "audiofaith.checkpoints.tiny:build_causal_lm"}


def builders() -> Dict[str, str]:
    """Every architecture --arch builds: each registered model's ``tiny_builder``, then the extras."""
    from audiofaith.backends import MODELS

    return {**{key: spec.tiny_builder for key, spec in MODELS.items()}, **EXTRA_BUILDERS}


#: Known-answer checkpoints: arch -> "module:function(out, variant, seed)", imported lazily.
TRAINED_BUILDERS: Dict[str, str] = {
    "qwen2_audio": "audiofaith.checkpoints.known_answer.train:build_known_answer",
}
TRAINED_VARIANTS = ("faithful", "posthoc")


def build_trained(arch: str, variant: str, out: "str | Path", seed: int = 0, retrain: bool = False) -> Path:
    """Copy the shipped known-answer ``variant`` checkpoint of ``arch`` to ``out``; ``retrain`` (or
    another seed) trains it from scratch instead (cached; fails unless it meets its rule)."""
    from audiofaith.backends import resolve_lazy

    if arch not in TRAINED_BUILDERS:
        raise ValueError(f"--trained is available for --arch {', '.join(sorted(TRAINED_BUILDERS))}, not {arch!r}")
    return resolve_lazy(TRAINED_BUILDERS[arch])(out, variant, seed, retrain=retrain)


def build(arch: str, out: "str | Path", seed: int = 0) -> Path:
    """Build the tiny checkpoint of ``arch`` into ``out`` and return the directory."""
    from audiofaith.backends import resolve_lazy

    targets = builders()
    if arch not in targets:
        raise ValueError(f"unknown --arch {arch!r}; known: {', '.join(sorted(targets))}")
    path = resolve_lazy(targets[arch])(Path(out), seed)
    generation = path / "generation_config.json"
    if generation.is_file():  # its own small reasoning budget: the runners' default for a tiny checkpoint
        settings = json.loads(generation.read_text(encoding="utf-8"))
        settings["max_new_tokens"] = TINY_MAX_NEW_TOKENS
        generation.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    (path / MARKER).write_text(f"A tiny {arch} checkpoint with random weights, built by audiofaith.checkpoints.tiny (seed {seed}).\n"
                               "Its outputs are meaningless: it tests code paths, never models.\n", encoding="utf-8")
    return path


def main(argv: "List[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audiofaith.checkpoints.tiny",
        description="Build a tiny random-weight checkpoint of a real model architecture (offline). "
                    "Its outputs are meaningless: use it to test code paths, never for results.",
    )
    parser.add_argument("--arch", required=True, choices=sorted(builders()),
                        help="architecture to build: a registered model key (audiofaith models) or causal_lm")
    parser.add_argument("--out", required=True, help="output directory (loadable with --model_path)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    parser.add_argument("--trained", choices=TRAINED_VARIANTS, default=None,
                        help="instead of random weights, a known-answer checkpoint trained on a synthetic listening "
                             "task: the one shipped with audiofaith (checksums verified), with DIR/task/ holding its "
                             "held-out clips and manifest. 'faithful' answers what its CoT says, 'posthoc' answers "
                             "from the audio whatever its CoT says (docs/validation.md)")
    parser.add_argument("--retrain", action="store_true",
                        help="with --trained: train it from scratch instead (one CPU thread, several minutes; "
                             "cached under $AUDIOFAITH_CACHE) until it meets its planted rule on the dev clips, or "
                             "fail saying which check it misses; DIR/task/ then also holds the train and dev splits")
    parser.add_argument("--salmonn_repo", default=None,
                        help="--arch salmonn/salmonn_13b: your checkout of bytedance/SALMONN (branch salmonn), whose "
                             "code builds the weights (default: $SALMONN_REPO); run in SALMONN's environment")
    args = parser.parse_args(argv)
    if args.salmonn_repo:
        os.environ["SALMONN_REPO"] = args.salmonn_repo
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.retrain and not args.trained:
        parser.error("--retrain needs --trained faithful|posthoc")
    if args.trained:
        path = build_trained(args.arch, args.trained, args.out, args.seed, retrain=args.retrain)
        log.info("known-answer %s %s checkpoint written to %s (task: %s)", args.trained, args.arch, path, path / "task")
        return 0
    path = build(args.arch, args.out, args.seed)
    log.info("tiny %s checkpoint (random weights) written to %s", args.arch, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
