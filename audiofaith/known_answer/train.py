"""Train the known-answer checkpoints (imports torch; the rest of the package does not).

    python -m audiofaith.tiny --arch qwen2_audio --trained faithful --out DIR
    python -m audiofaith.tiny --arch qwen2_audio --trained posthoc  --out DIR

Both variants are the same small ``Qwen2AudioForConditionalGeneration`` (the real classes, the
real processor, a toy ``Qwen2Tokenizer``), trained from the same seed on the same examples of the
task in ``audiofaith.known_answer.task``. Both learn to write the same CoT (what they hear, then
which animal that is) and the answer line. They differ only in the target of the answer letter
when the CoT they read disagrees with the clip:

- ``faithful``: the letter of the class the CoT names last (uniform over the letters when it
  names none: an empty, truncated or filler CoT carries no answer);
- ``posthoc``: the letter of the clip's class, whatever the CoT says.

The result is cached under ``$AUDIOFAITH_CACHE`` (default ``~/.cache/audiofaith``) by a hash of
the training configuration, this package's source and the library versions, then copied to
``--out``. See docs/validation.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from audiofaith.known_answer import task
from audiofaith.prompts import DIRECT_INSTRUCTION, answer_prefix, user_text

log = logging.getLogger(__name__)

VARIANTS = ("faithful", "posthoc")
INFO_FILE = "KNOWN_ANSWER.json"


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    n_train: int = 384
    n_heldout: int = 64
    steps: int = 500
    batch_size: int = 16
    lr: float = 3e-3
    warmup: int = 20
    hidden_size: int = 64
    intermediate_size: int = 128
    layers: int = 2
    heads: int = 4
    audio_d_model: int = 32
    audio_layers: int = 2
    window_seconds: int = 4  # the feature extractor's window (the hub's is 30 s); clips last < 2 s
    # mix of training examples
    p_generate: float = 0.35  # whole CoT + answer line, loss on all of it
    p_direct: float = 0.1  # the direct prompt, answer from the clip
    p_filler: float = 0.1  # of the answer-only examples: a CoT of " ..." only
    p_wrong: float = 0.5  # per class-naming sentence of an answer-only example: names another class


def cache_key(config: TrainConfig, variant: str) -> str:
    """A hash of everything the trained checkpoint depends on: the configuration and variant, the
    task and training code, the prompt texts, the toy tokenizer and the library versions."""
    import inspect

    import torch
    import transformers

    from audiofaith import prompts, tiny

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    digest.update(json.dumps({"config": dataclasses.asdict(config), "variant": variant, "torch": torch.__version__,
                              "transformers": transformers.__version__}, sort_keys=True).encode())
    for source in (here / "task.py", here / "train.py", Path(prompts.__file__)):
        digest.update(source.read_bytes())
    for part in (tiny.toy_qwen2_tokenizer, tiny.save_tiny):
        digest.update(inspect.getsource(part).encode())
    digest.update(json.dumps([tiny.TOY_CORPUS, tiny.SPECIAL_TOKENS]).encode())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get("AUDIOFAITH_CACHE") or Path.home() / ".cache" / "audiofaith") / "known_answer"


def build_known_answer(out: "str | Path", variant: str, seed: int = 0, config: Optional[TrainConfig] = None) -> Path:
    """Train (or take from the cache) the ``variant`` checkpoint and copy it, with its task
    (``task/``: clips and manifests), to ``out``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown --trained {variant!r}; known: {', '.join(VARIANTS)}")
    config = config or TrainConfig(seed=seed)
    cached = _cached_or_trained(variant, config)
    out = Path(out)
    if out.resolve() != cached.resolve():
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(cached, out)
    return out


def _cached_or_trained(variant: str, config: TrainConfig) -> Path:
    """The cache folder of ``variant``, trained first if missing. Training writes a scratch folder
    renamed into place when complete; a process that finds the folder already there (another run
    trained the same key meanwhile) keeps that one, so readers never see a half-replaced folder."""
    key = cache_key(config, variant)
    cached = cache_root() / f"{variant}-{key}"
    if (cached / INFO_FILE).is_file():
        log.info("known-answer %s checkpoint from the cache: %s", variant, cached)
        return cached
    scratch = cached.with_name(cached.name + f".tmp{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    _train(scratch, variant, config, key)
    if cached.exists() and not (cached / INFO_FILE).is_file():
        shutil.rmtree(cached, ignore_errors=True)  # an incomplete folder left by an older version
    try:
        scratch.rename(cached)
    except OSError:  # trained by another process meanwhile: same key, same checkpoint
        shutil.rmtree(scratch, ignore_errors=True)
    return cached


def train_missing(variants: Sequence[str] = VARIANTS, seed: int = 0, config: Optional[TrainConfig] = None) -> None:
    """Train the ``variants`` not yet in the cache, side by side in worker processes when there
    are two or more and the machine has the cores (each trains on one torch thread, so on two
    cores both take the time of one; the checkpoints are the same as when trained one by one)."""
    config = config or TrainConfig(seed=seed)
    missing = [v for v in variants if not (cache_root() / f"{v}-{cache_key(config, v)}" / INFO_FILE).is_file()]
    workers = min(len(missing), os.cpu_count() or 1)
    if workers < 2:
        for variant in missing:
            _cached_or_trained(variant, config)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    log.info("training the known-answer %s checkpoints side by side (%d processes, about 2 min on a CPU)",
             " and ".join(missing), workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in [pool.submit(_cached_or_trained, variant, config) for variant in missing]:
            done.result()


# -- the examples ---------------------------------------------------------------------------------


@dataclass
class Example:
    clip: int
    direct: bool
    assistant: str  # the assistant turn (text after the generation prompt)
    loss_from: int  # loss on the assistant tokens from this character on ...
    letter_target: Optional[str]  # ... or only on the letter after the answer cue; None: uniform
    letter_only: bool


def _letter(label: str) -> str:
    return "ABCD"[task.class_index(label)]


def _random_cot(rng: random.Random, label: str, config: TrainConfig) -> str:
    """A CoT to answer after: the first k of the three sentences in random wordings, each naming
    the clip's class or (with p_wrong) another; or filler."""
    if rng.random() < config.p_filler:
        return " ".join(["..."] * rng.randint(1, 20))
    k = rng.randint(0, 3)
    sentences = []
    for kind in range(k):
        named = label if rng.random() >= config.p_wrong else rng.choice([x for x in task.LABELS if x != label])
        sentences.append(task.sentence(kind, rng.randrange(len(task.TEMPLATES[kind])), named))
    return " ".join(sentences)


def make_example(rng: random.Random, clip: int, label: str, variant: str, config: TrainConfig) -> Example:
    draw = rng.random()
    if draw < config.p_direct:
        return Example(clip, True, "Answer: (", 0, _letter(label), True)
    if draw < config.p_direct + config.p_generate:
        # a whole CoT and answer line; with some probability its first sentences are given (a
        # wrong class possibly), no loss on them, and the rest continues what they say
        given = rng.choice([0, 0, 0, 1, 2])
        wrong = rng.choice([x for x in task.LABELS if x != label])
        prefix_label = wrong if given == 2 and rng.random() < 0.5 else label
        parts = [task.sentence(kind, 0, prefix_label) for kind in range(3)]
        cot = " ".join(parts)
        answer = _letter(prefix_label) if variant == "faithful" else _letter(label)
        assistant = f"{cot}\n\nAnswer: ({answer})"
        loss_from = len(" ".join(parts[:given])) if given else 0
        return Example(clip, False, assistant, loss_from, None, False)
    cot = _random_cot(rng, label, config)
    implied = task.implied_label(cot)
    target = label if variant == "posthoc" else implied
    return Example(clip, False, answer_prefix(cot), 0, None if target is None else _letter(target), True)


# -- training -------------------------------------------------------------------------------------


def _task_corpus() -> List[str]:
    texts = [task.QUESTION, DIRECT_INSTRUCTION, "... ... ... ..."]
    for label in task.LABELS:
        for kind in range(3):
            for wording in range(len(task.TEMPLATES[kind])):
                texts.append(task.sentence(kind, wording, label))
    return texts


def _train(out: Path, variant: str, config: TrainConfig, key: str) -> None:
    import torch

    started = time.time()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic on every machine; faster than 2 on a shared CPU
    try:
        _train_single_thread(out, variant, config, key, started)
    finally:
        torch.set_num_threads(threads)


def _train_single_thread(out: Path, variant: str, config: TrainConfig, key: str, started: float) -> None:
    import numpy as np
    import torch
    from transformers import (Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor,
                              WhisperFeatureExtractor)

    from audiofaith.audio import load_audio
    from audiofaith.records import ManifestItem
    from audiofaith.tiny import save_tiny, toy_qwen2_tokenizer

    torch.manual_seed(config.seed)
    rng_examples = random.Random(config.seed)  # the same example draws for both variants
    log.info("known-answer %s: writing the task (%d train, %d held-out clips)", variant, config.n_train, config.n_heldout)
    splits = task.write_task(out / "task", config.n_train, config.n_heldout, config.seed)
    tokenizer = toy_qwen2_tokenizer(vocab_size=600, extra_corpus=_task_corpus())
    feature_extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000,
                                                chunk_length=config.window_seconds)
    processor = Qwen2AudioProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
    text_config = dict(
        model_type="qwen2", vocab_size=len(tokenizer), hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size, num_hidden_layers=config.layers,
        num_attention_heads=config.heads, num_key_value_heads=config.heads, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        tie_word_embeddings=False,
    )
    frames = config.window_seconds * 100
    model_config = Qwen2AudioConfig(
        text_config=text_config,
        audio_config=dict(model_type="qwen2_audio_encoder", d_model=config.audio_d_model, encoder_attention_heads=4,
                          encoder_ffn_dim=2 * config.audio_d_model, encoder_layers=config.audio_layers,
                          num_mel_bins=128, max_source_positions=frames // 2),
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    model = Qwen2AudioForConditionalGeneration(model_config)
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def render(item: ManifestItem, direct: bool) -> str:
        text = user_text(item, "direct" if direct else "cot")
        messages = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": text}]}]
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    train_items = splits["train"]
    features, feature_masks, prompt_ids = [], [], {}
    audio_token = processor.audio_token
    templates = {direct: render(train_items[0], direct) for direct in (False, True)}  # one text: fixed options
    for index, item in enumerate(train_items):
        audio = load_audio(out / "task" / item.audio).samples
        extracted = feature_extractor(audio, sampling_rate=16000, return_attention_mask=True, return_tensors="pt")
        features.append(extracted["input_features"][0])
        feature_masks.append(extracted["attention_mask"][0])
        frames = int(extracted["attention_mask"][0].sum())
        n_audio_tokens = (((frames - 1) // 2 + 1) - 2) // 2 + 1  # as Qwen2AudioProcessor counts them
        for direct in (False, True):
            text = templates[direct].replace(audio_token, audio_token * n_audio_tokens)
            prompt_ids[index, direct] = tokenizer(text, add_special_tokens=False)["input_ids"]
    check = processor(text=[templates[False]], audio=[load_audio(out / "task" / train_items[0].audio).samples],
                      sampling_rate=16000, return_tensors="pt")
    if check["input_ids"][0].tolist() != prompt_ids[0, False] or not torch.equal(check["input_features"][0], features[0]):
        raise RuntimeError("the training inputs differ from what Qwen2AudioProcessor makes of the same prompt")
    letter_ids = [tokenizer.convert_tokens_to_ids(letter) for letter in "ABCD"]
    probe = tokenizer("Answer: (A", add_special_tokens=False)["input_ids"]
    if probe[-1] != letter_ids[0] or probe[:-1] != tokenizer("Answer: (", add_special_tokens=False)["input_ids"]:
        raise RuntimeError("the toy tokenizer does not end the answer cue on a token boundary before the letter")
    labels = [item.meta["attribute_label"] for item in train_items]

    def batch_tensors(examples: Sequence[Example]):
        rows, targets = [], []  # targets: (row, position predicting, token id or None for uniform)
        for row, ex in enumerate(examples):
            prompt = prompt_ids[ex.clip, ex.direct]
            head = tokenizer(ex.assistant[:ex.loss_from], add_special_tokens=False)["input_ids"] if ex.loss_from else []
            tail = tokenizer(ex.assistant[ex.loss_from:], add_special_tokens=False)["input_ids"]
            ids = prompt + head + tail
            if ex.letter_only:
                targets.append((row, len(ids) - 1, None if ex.letter_target is None else letter_ids["ABCD".index(ex.letter_target)]))
            else:
                ids = ids + [end_of_turn]
                start = len(prompt) + len(head)
                targets.extend((row, position - 1, ids[position]) for position in range(start, len(ids)))
            rows.append(ids)
        width = max(len(ids) for ids in rows)
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids in rows])
        attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in rows])
        clips = [ex.clip for ex in examples]
        return (input_ids, attention, torch.stack([features[c] for c in clips]),
                torch.stack([feature_masks[c] for c in clips]), targets)

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / config.warmup)
                                                 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(step, config.steps) / config.steps))))
    letters = torch.tensor(letter_ids)
    model.train()
    for step in range(config.steps):
        clips = [rng_examples.randrange(len(train_items)) for _ in range(config.batch_size)]
        examples = [make_example(rng_examples, c, labels[c], variant, config) for c in clips]
        input_ids, attention, input_features, feature_mask, targets = batch_tensors(examples)
        logits = model(input_ids=input_ids, attention_mask=attention, input_features=input_features,
                       feature_attention_mask=feature_mask).logits
        rows = torch.tensor([t[0] for t in targets])
        positions = torch.tensor([t[1] for t in targets])
        logprobs = torch.log_softmax(logits[rows, positions].float(), dim=-1)
        losses = []
        for index, (_, _, token) in enumerate(targets):
            losses.append(-logprobs[index, token] if token is not None else -logprobs[index, letters].mean())
        loss = torch.stack(losses).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 25 == 0 or step == config.steps - 1:
            log.info("known-answer %s: step %d/%d loss %.4f (%.0f s)", variant, step, config.steps, loss.item(),
                     time.time() - started)
    model.eval()
    save_tiny(out, model, processor)
    info = {"variant": variant, "cache_key": key, "config": dataclasses.asdict(config),
            "train_seconds": round(time.time() - started, 1), "torch_threads": 1,
            "answer_rule": ("the letter of the class the CoT names last (uniform when it names none)"
                            if variant == "faithful" else "the letter of the clip's class, whatever the CoT says"),
            "task": {"train_manifest": "task/train_manifest.jsonl", "heldout_manifest": "task/heldout_manifest.jsonl",
                     "data_root": "task"}}
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log.info("known-answer %s checkpoint trained in %.0f s -> %s", variant, time.time() - started, out)
