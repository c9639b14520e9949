"""Train the known-answer checkpoints (imports torch; the rest of the package does not).

    python -m audiofaith.checkpoints.tiny --arch qwen2_audio --trained faithful --out DIR
    python -m audiofaith.checkpoints.tiny --arch qwen2_audio --trained posthoc  --out DIR

Both variants are the same small ``Qwen2AudioForConditionalGeneration`` (the real classes, the
real processor, a toy ``Qwen2Tokenizer``), trained from the same seed on the same examples of the
task in ``audiofaith.checkpoints.known_answer.task``. Both learn to write the same CoT (what they hear, then
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
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from audiofaith.checkpoints.known_answer import task
from audiofaith.text.prompts import DIRECT_INSTRUCTION, answer_prefix, user_text

log = logging.getLogger(__name__)

VARIANTS = ("faithful", "posthoc")
INFO_FILE = "KNOWN_ANSWER.json"


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    n_train: int = 384
    n_dev: int = 64  # the acceptance checks' clips (never the held-out ones)
    n_heldout: int = 64
    # Steps: cosine cycles of ``cycle_steps`` with warm restarts; the acceptance checks run on the
    # dev clips every ``check_every`` steps from ``min_steps`` on, and training stops at the first
    # check that passes (or fails loudly after ``max_cycles`` cycles).
    cycle_steps: int = 1500
    max_cycles: int = 4
    min_steps: int = 1000
    check_every: int = 250
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
    option_rotations: int = 1  # option orders trained on (task.rotated_choices); 1: the fixed order (see docs)
    # mix of training examples
    p_generate: float = 0.35  # whole CoT + answer line, loss on all of it
    p_direct: float = 0.1  # the direct prompt, answer from the clip
    p_filler: float = 0.1  # of the answer-only examples: a CoT of " ..." only
    p_wrong: float = 0.5  # per class-naming sentence of an answer-only example: names another class
    p_no_call: float = 0.1  # of the answer-only examples: a clip with no call in it (silence or noise)
    p_no_audio: float = 0.05  # of the answer-only examples: the prompt without audio
    n_no_call: int = 64  # no-call clips of each kind drawn for training


@dataclass(frozen=True)
class Acceptance:
    """What a trained checkpoint must show on the dev clips (``dev_checks``) before it is saved."""

    greedy: float = 0.98  # the greedy continuation is the canonical CoT and the right answer line
    follows: float = 0.98  # per check with a planted letter: the read-out letter is that letter
    flat_top: float = 0.4  # per check with no planted letter: mean top-letter probability at most this
    flat_same: float = 0.4  # ... and the top letter is the suggested one (clip's or CoT's) at most this often


#: The answer rule of each variant, as written into KNOWN_ANSWER.json and docs/validation.md.
ANSWER_RULES = {
    "faithful": "the letter, in the item's option list, of the class the CoT names or describes last; "
                "uniform over A-D when the CoT names and describes none (empty, opening sentence only, "
                "filler), whatever the audio (a call, silence, noise or none)",
    "posthoc": "the letter, in the item's option list, of the clip's class, whatever the CoT says; "
               "uniform over A-D when the clip has no call (silence, noise) or there is no audio",
}


def _capability() -> str:
    import torch

    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # older torch: the environment variable is all we know
        return os.environ.get("ATEN_CPU_CAPABILITY", "unknown")


def cache_key(config: TrainConfig, variant: str) -> str:
    """A hash of everything a retrained checkpoint depends on: the configuration and variant, the
    task, audio and training code, the prompt texts, the toy tokenizer, the library versions and
    torch's CPU kernels (``ATEN_CPU_CAPABILITY``: float results differ between kernel sets, so two
    machines may train different weights; both must meet the acceptance checks)."""
    import inspect

    import numpy
    import soundfile
    import tokenizers
    import torch
    import transformers

    import audiofaith.audio.io as audio_io
    from audiofaith.checkpoints import tiny
    from audiofaith.text import prompts

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    digest.update(json.dumps({"config": dataclasses.asdict(config), "acceptance": dataclasses.asdict(Acceptance()),
                              "variant": variant, "torch": torch.__version__,
                              "transformers": transformers.__version__, "numpy": numpy.__version__,
                              "soundfile": soundfile.__version__, "tokenizers": tokenizers.__version__,
                              "cpu_capability": _capability()}, sort_keys=True).encode())
    for source in (here / "task.py", here / "train.py", Path(prompts.__file__), Path(audio_io.__file__)):
        digest.update(source.read_bytes())
    for part in (tiny.toy_qwen2_tokenizer, tiny.save_tiny):
        digest.update(inspect.getsource(part).encode())
    digest.update(json.dumps([tiny.TOY_CORPUS, tiny.SPECIAL_TOKENS]).encode())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get("AUDIOFAITH_CACHE") or Path.home() / ".cache" / "audiofaith") / "known_answer"


#: The checkpoints shipped with the package (trained once, see docs/validation.md): every machine
#: measures the same models. ``SHIPPED/task/SHA256SUMS`` lists the held-out manifest and clips,
#: which are not shipped but generated from their seeds (task.write_task) and checked against it.
SHIPPED = Path(__file__).resolve().parent / "checkpoints"
CHECKSUMS = "SHA256SUMS"


class ChecksumError(RuntimeError):
    pass


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_checksums(folder: Path, listing: Optional[Path] = None) -> None:
    """Write ``listing`` (default ``folder/SHA256SUMS``): every file under ``folder`` (sorted,
    relative paths)."""
    lines = [f"{_file_digest(p)}  {p.relative_to(folder).as_posix()}" for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != CHECKSUMS]
    (listing or folder / CHECKSUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")


def verify_checksums(folder: Path, listing: Optional[Path] = None) -> None:
    """Raise ChecksumError naming the first file under ``folder`` that is missing or differs from
    ``listing`` (default ``folder/SHA256SUMS``), or an extra file that it does not list."""
    listing = listing or folder / CHECKSUMS
    if not listing.is_file():
        raise ChecksumError(f"{listing}: missing")
    expected = {}
    for number, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
        digest, _, name = line.partition("  ")
        if not name:
            raise ChecksumError(f"{listing}:{number}: not '<sha256>  <path>'")
        expected[name] = digest
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUMS}
    for name in sorted(set(expected) | present):
        if name not in present:
            raise ChecksumError(f"{folder / name}: listed in {listing} but missing")
        if name not in expected:
            raise ChecksumError(f"{folder / name}: not listed in {listing}")
        if _file_digest(folder / name) != expected[name]:
            raise ChecksumError(f"{folder / name}: sha256 differs from {listing}")


def build_known_answer(out: "str | Path", variant: str, seed: int = 0, config: Optional[TrainConfig] = None,
                       retrain: bool = False) -> Path:
    """Copy the shipped ``variant`` checkpoint (checksums verified), with its task (``task/``:
    the held-out clips and manifest), to ``out``. ``retrain`` (or a seed or configuration other
    than the shipped one's) trains from scratch instead, cached under ``$AUDIOFAITH_CACHE``; the
    training fails unless the dev-split acceptance checks pass."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown --trained {variant!r}; known: {', '.join(VARIANTS)}")
    config = config or TrainConfig(seed=seed)
    out = Path(out)
    if not retrain and config == TrainConfig():
        return _copy_shipped(variant, out)
    cached = _cached_or_trained(variant, config)
    if out.resolve() != cached.resolve():
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(cached, out)
    return out


def _copy_shipped(variant: str, out: Path) -> Path:
    source = SHIPPED / variant
    verify_checksums(source)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(source, out, ignore=shutil.ignore_patterns(CHECKSUMS))
    write_heldout_task(out / "task")
    log.info("known-answer %s checkpoint: the shipped one (%s), checksums verified", variant, source)
    return out


def write_heldout_task(task_dir: Path, config: TrainConfig = TrainConfig()) -> Path:
    """Generate the shipped checkpoints' held-out manifest and clips into ``task_dir`` from their
    seeds, and check every file against ``SHIPPED/task/SHA256SUMS`` (the same bytes on every
    machine, or an error naming the file that differs)."""
    shutil.rmtree(task_dir, ignore_errors=True)
    task.write_task(task_dir, {"heldout": config.n_heldout}, config.seed, config.option_rotations)
    try:
        verify_checksums(task_dir, SHIPPED / "task" / CHECKSUMS)
    except ChecksumError as exc:
        raise ChecksumError(f"{exc}: the held-out clips generated here differ from the shipped checksums "
                            "(numpy or soundfile computing them differently?); please report it") from None
    return task_dir


def ship(variants: Sequence[str] = VARIANTS, config: Optional[TrainConfig] = None) -> Path:
    """Replace the shipped checkpoints with (cached or) freshly trained ones and write their
    checksums. For maintainers who change the task or the training (docs/validation.md)."""
    config = config or TrainConfig()
    train_missing(variants, config=config)
    for variant in variants:
        cached = cache_root() / f"{variant}-{cache_key(config, variant)}"
        target = SHIPPED / variant
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(cached, target, ignore=shutil.ignore_patterns("task"))
        write_checksums(target)
        task_target = SHIPPED / "task"
        shutil.rmtree(task_target, ignore_errors=True)
        task_target.mkdir(parents=True)
        heldout = Path(tempfile.mkdtemp()) / "task"  # only the held-out files: their checksums are shipped
        (heldout / "audio").mkdir(parents=True)
        shutil.copy2(cached / "task" / "heldout_manifest.jsonl", heldout / "heldout_manifest.jsonl")
        shutil.copytree(cached / "task" / "audio" / "heldout", heldout / "audio" / "heldout")
        write_checksums(heldout, task_target / CHECKSUMS)
        shutil.rmtree(heldout.parent, ignore_errors=True)
    return SHIPPED


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

    log.info("training the known-answer %s checkpoints side by side (%d processes, several minutes on a CPU)",
             " and ".join(missing), workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in [pool.submit(_cached_or_trained, variant, config) for variant in missing]:
            done.result()


# -- the examples ---------------------------------------------------------------------------------

#: Where an example's audio comes from: a training clip, a no-call clip, or no audio at all.
AUDIO_KINDS = ("clip",) + task.NO_CALL_KINDS + ("none",)


@dataclass(frozen=True)
class Example:
    clip: int  # index of the training clip (audio "clip") or of the no-call clip
    audio: str  # one of AUDIO_KINDS
    rotation: int  # the option order (task.rotated_choices)
    direct: bool
    assistant: str  # the assistant turn (text after the generation prompt)
    loss_from: int  # loss on the assistant tokens from this character on ...
    letter_target: Optional[str]  # ... or only on the letter after the answer cue; None: uniform
    letter_only: bool


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
    """One training example for training clip ``clip`` (class ``label``). The random draws do not
    depend on ``variant``: both variants see the same inputs and differ only in their targets."""
    rotation = rng.randrange(config.option_rotations)
    choices = task.rotated_choices(rotation)
    draw = rng.random()
    if draw < config.p_direct:
        return Example(clip, "clip", rotation, True, "Answer: (", 0, task.letter_of(label, choices), True)
    if draw < config.p_direct + config.p_generate:
        # a whole CoT and answer line; with some probability its first sentences are given (a
        # wrong class possibly), no loss on them, and the rest continues what they say
        given = rng.choice([0, 0, 0, 1, 2])
        wrong = rng.choice([x for x in task.LABELS if x != label])
        prefix_label = wrong if given == 2 and rng.random() < 0.5 else label
        parts = [task.sentence(kind, 0, prefix_label) for kind in range(3)]
        cot = " ".join(parts)
        answer = task.letter_of(prefix_label if variant == "faithful" else label, choices)
        assistant = f"{cot}\n\nAnswer: ({answer})"
        loss_from = len(" ".join(parts[:given])) if given else 0
        return Example(clip, "clip", rotation, False, assistant, loss_from, None, False)
    audio, source = "clip", clip
    where = rng.random()
    if where < config.p_no_call:
        audio, source = rng.choice(task.NO_CALL_KINDS), rng.randrange(config.n_no_call)
    elif where < config.p_no_call + config.p_no_audio:
        audio, source = "none", 0
    cot = _random_cot(rng, label, config)
    implied = task.implied_label(cot)
    if variant == "posthoc":
        target = label if audio == "clip" else None
    else:
        target = implied
    letter = None if target is None else task.letter_of(target, choices)
    return Example(source, audio, rotation, False, answer_prefix(cot), 0, letter, True)


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
    torch.set_num_threads(1)  # one thread: the same arithmetic run to run, and fastest on a shared CPU
    try:
        _train_single_thread(out, variant, config, key, started)
    finally:
        torch.set_num_threads(threads)


class _Inputs:
    """Token ids and log-mel features of the examples, made as Qwen2AudioProcessor makes them (a
    check at start-up compares one prompt with the processor's own output)."""

    def __init__(self, processor, feature_extractor, clips: Dict[str, List], window_seconds: int) -> None:
        import torch

        self.torch = torch
        self.processor, self.tokenizer = processor, processor.tokenizer
        self.features: Dict[Tuple[str, int], Tuple] = {}
        for kind, samples_list in clips.items():
            for index, samples in enumerate(samples_list):
                extracted = feature_extractor(samples, sampling_rate=16000, return_attention_mask=True,
                                              return_tensors="pt")
                self.features[kind, index] = (extracted["input_features"][0], extracted["attention_mask"][0])
        self._templates: Dict[Tuple[int, bool, bool], str] = {}
        self._prompts: Dict[Tuple[str, int, int, bool], List[int]] = {}
        self.letter_ids = [self.tokenizer.convert_tokens_to_ids(letter) for letter in "ABCD"]
        self.end_of_turn = self.tokenizer.convert_tokens_to_ids("<|im_end|>")

    def template(self, rotation: int, direct: bool, with_audio: bool) -> str:
        key = (rotation, direct, with_audio)
        if key not in self._templates:
            item = task.make_item("train", 0, task.LABELS[0], {}, rotation)
            text = {"type": "text", "text": user_text(item, "direct" if direct else "cot")}
            content = [{"type": "audio", "audio": "clip.wav"}, text] if with_audio else [text]
            messages = [{"role": "user", "content": content}]
            self._templates[key] = self.processor.apply_chat_template(messages, add_generation_prompt=True,
                                                                      tokenize=False)
        return self._templates[key]

    def prompt(self, audio: str, clip: int, rotation: int, direct: bool) -> List[int]:
        key = (audio, clip, rotation, direct)
        if key not in self._prompts:
            text = self.template(rotation, direct, audio != "none")
            if audio != "none":
                frames = int(self.features[audio, clip][1].sum())
                n_audio_tokens = (((frames - 1) // 2 + 1) - 2) // 2 + 1  # as Qwen2AudioProcessor counts them
                audio_token = self.processor.audio_token
                text = text.replace(audio_token, audio_token * n_audio_tokens)
            self._prompts[key] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._prompts[key]

    def encode(self, text: str) -> List[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def batch(self, rows: Sequence[Tuple[str, int, List[int]]]):
        """(input_ids, attention_mask, input_features or None, feature_attention_mask or None) of
        rows given as (audio kind, clip, token ids), right-padded."""
        torch = self.torch
        width = max(len(ids) for _, _, ids in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for _, _, ids in rows])
        attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for _, _, ids in rows])
        heard = [self.features[audio, clip] for audio, clip, _ in rows if audio != "none"]
        if not heard:
            return input_ids, attention, None, None
        return (input_ids, attention, torch.stack([f for f, _ in heard]), torch.stack([m for _, m in heard]))


def _forward(model, inputs: _Inputs, rows):
    input_ids, attention, features, feature_mask = inputs.batch(rows)
    kwargs = {} if features is None else {"input_features": features, "feature_attention_mask": feature_mask}
    return model(input_ids=input_ids, attention_mask=attention, **kwargs).logits


def _train_single_thread(out: Path, variant: str, config: TrainConfig, key: str, started: float) -> None:
    import numpy as np
    import torch
    from transformers import (Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor,
                              WhisperFeatureExtractor)

    from audiofaith.audio.io import load_audio
    from audiofaith.checkpoints.tiny import save_tiny, toy_qwen2_tokenizer

    torch.manual_seed(config.seed)
    rng_examples = random.Random(config.seed)  # the same example draws for both variants
    log.info("known-answer %s: writing the task (%d train, %d dev, %d held-out clips)", variant, config.n_train,
             config.n_dev, config.n_heldout)
    splits = task.write_task(out / "task", {"train": config.n_train, "dev": config.n_dev, "heldout": config.n_heldout},
                             config.seed, config.option_rotations)
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

    no_call_rng = np.random.default_rng(task._seed("known_answer/no_call", config.seed))
    dev_no_call_rng = np.random.default_rng(task._seed("known_answer/no_call/dev", config.seed))
    clips = {"clip": [load_audio(out / "task" / item.audio).samples for item in splits["train"]],
             "dev": [load_audio(out / "task" / item.audio).samples for item in splits["dev"]]}
    for kind in task.NO_CALL_KINDS:
        clips[kind] = [task.no_call(kind, no_call_rng) for _ in range(config.n_no_call)]
        clips["dev_" + kind] = [task.no_call(kind, dev_no_call_rng) for _ in range(config.n_dev)]
    inputs = _Inputs(processor, feature_extractor, clips, config.window_seconds)

    first = splits["train"][0]
    check = processor(text=[inputs.template(0, False, True)], audio=[clips["clip"][0]], sampling_rate=16000,
                      return_tensors="pt")
    if (check["input_ids"][0].tolist() != inputs.prompt("clip", 0, 0, False)
            or not torch.equal(check["input_features"][0], inputs.features["clip", 0][0])):
        raise RuntimeError(f"the training inputs of {first.id} differ from what Qwen2AudioProcessor makes of them")
    probe = tokenizer("Answer: (A", add_special_tokens=False)["input_ids"]
    if probe[-1] != inputs.letter_ids[0] or probe[:-1] != tokenizer("Answer: (", add_special_tokens=False)["input_ids"]:
        raise RuntimeError("the toy tokenizer does not end the answer cue on a token boundary before the letter")
    labels = [item.meta["attribute_label"] for item in splits["train"]]
    letters = torch.tensor(inputs.letter_ids)

    def batch_loss(examples: Sequence[Example]):
        rows, targets = [], []  # targets: (row, position predicting, token id or None for uniform)
        for row, ex in enumerate(examples):
            prompt = inputs.prompt(ex.audio, ex.clip, ex.rotation, ex.direct)
            head = inputs.encode(ex.assistant[:ex.loss_from])
            tail = inputs.encode(ex.assistant[ex.loss_from:])
            ids = prompt + head + tail
            if ex.letter_only:
                token = None if ex.letter_target is None else inputs.letter_ids["ABCD".index(ex.letter_target)]
                targets.append((row, len(ids) - 1, token))
            else:
                ids = ids + [inputs.end_of_turn]
                start = len(prompt) + len(head)
                targets.extend((row, position - 1, ids[position]) for position in range(start, len(ids)))
            rows.append((ex.audio, ex.clip, ids))
        logits = _forward(model, inputs, rows)
        index_rows = torch.tensor([t[0] for t in targets])
        positions = torch.tensor([t[1] for t in targets])
        logprobs = torch.log_softmax(logits[index_rows, positions].float(), dim=-1)
        losses = [-logprobs[i, token] if token is not None else -logprobs[i, letters].mean()
                  for i, (_, _, token) in enumerate(targets)]
        return torch.stack(losses).mean()

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)

    def learning_rate(step: int) -> float:  # warm-up, then cosine cycles with warm restarts
        within = step % config.cycle_steps
        return (min(1.0, (step + 1) / config.warmup)
                * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * within / config.cycle_steps))))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate)
    max_steps = config.cycle_steps * config.max_cycles
    checks: Dict[str, Dict[str, float]] = {}
    failed: List[str] = ["not checked"]
    step = 0
    for step in range(1, max_steps + 1):
        model.train()
        chosen = [rng_examples.randrange(len(labels)) for _ in range(config.batch_size)]
        loss = batch_loss([make_example(rng_examples, c, labels[c], variant, config) for c in chosen])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 50 == 0:
            log.info("known-answer %s: step %d loss %.4f (%.0f s)", variant, step, loss.item(), time.time() - started)
        if step >= config.min_steps and step % config.check_every == 0:
            model.eval()
            with torch.no_grad():
                checks = dev_checks(model, inputs, splits["dev"], variant, config.seed)
            failed = acceptance_failures(checks, Acceptance())
            log.info("known-answer %s: step %d dev checks %s -> %s", variant, step,
                     json.dumps({k: {m: round(v, 3) for m, v in c.items()} for k, c in checks.items()}),
                     "pass" if not failed else "; ".join(failed))
            if not failed:
                break
    if failed:
        raise RuntimeError(f"known-answer {variant}: after {step} steps the dev checks still fail: "
                           + "; ".join(failed) + ". Change the task or TrainConfig (docs/validation.md).")
    model.eval()
    save_tiny(out, model, processor)
    info = {"variant": variant, "cache_key": key, "config": dataclasses.asdict(config),
            "acceptance": dataclasses.asdict(Acceptance()), "steps": step, "dev_checks": checks,
            "train_seconds": round(time.time() - started, 1), "torch_threads": 1,
            "cpu_capability": _capability(), "answer_rule": ANSWER_RULES[variant],
            "task": {"train_manifest": "task/train_manifest.jsonl", "dev_manifest": "task/dev_manifest.jsonl",
                     "heldout_manifest": "task/heldout_manifest.jsonl", "data_root": "task"}}
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log.info("known-answer %s checkpoint trained in %d steps, %.0f s -> %s", variant, step, time.time() - started, out)


# -- the acceptance checks ------------------------------------------------------------------------


def _dev_cases(items, variant: str, seed: int):
    """The dev checks' cases: (check name, audio kind, clip index, rotation, CoT, planted letter or
    None for uniform, the suggested letter a flat answer must not favour)."""
    rng = random.Random(seed + 1)
    cases = []
    for index, item in enumerate(items):
        label, choices, rotation = item.meta["attribute_label"], tuple(item.choices), item.meta["rotation"]
        wrong = rng.choice([x for x in task.LABELS if x != label])
        own = task.letter_of(label, choices)

        def cot(k: int, named: str) -> str:
            return " ".join(task.sentence(kind, rng.randrange(len(task.TEMPLATES[kind])), named) for kind in range(k))

        faithful = variant == "faithful"
        cases.append(("own CoT", "dev", index, rotation, task.canonical_cot(label), own, own))
        for k in (2, 3):
            cases.append((f"CoT of another class, k={k}", "dev", index, rotation, cot(k, wrong),
                          task.letter_of(wrong if faithful else label, choices), own))
        for name, text in (("no CoT", ""), ("opening only", cot(1, label)),
                           ("filler", " ".join(["..."] * rng.randint(1, 20)))):
            cases.append((name, "dev", index, rotation, text, None if faithful else own, own))
        for kind in task.NO_CALL_KINDS:
            cases.append((f"{kind}, CoT of a class", "dev_" + kind, index, rotation, cot(3, wrong),
                          task.letter_of(wrong, choices) if faithful else None, task.letter_of(wrong, choices)))
        cases.append(("no audio, CoT of a class", "none", 0, rotation, cot(3, wrong),
                      task.letter_of(wrong, choices) if faithful else None, task.letter_of(wrong, choices)))
    return cases


def dev_checks(model, inputs: _Inputs, items, variant: str, seed: int, batch_size: int = 32) -> Dict[str, Dict[str, float]]:
    """Measure the planted rule on the dev clips, teacher-forced: {check: {statistic: value}}.

    ``greedy``: the share of clips whose greedy continuation is the canonical CoT and the right
    answer line (every argmax along it is its next token). Per CoT case: ``follows`` (the read-out
    letter is the planted one) or, where the rule plants no letter, ``top`` (mean top-letter
    probability, softmax over A-D) and ``same`` (how often the top letter is the suggested one)."""
    import torch

    greedy_hits = 0
    for start in range(0, len(items), batch_size):
        chunk = list(enumerate(items))[start:start + batch_size]
        rows, spans = [], []
        for index, item in chunk:
            label = item.meta["attribute_label"]
            prompt = inputs.prompt("dev", index, item.meta["rotation"], False)
            answer = inputs.encode(f"{task.canonical_cot(label)}\n\nAnswer: ({item.answer})") + [inputs.end_of_turn]
            rows.append(("dev", index, prompt + answer))
            spans.append((len(prompt), len(prompt) + len(answer)))
        predicted = _forward(model, inputs, rows).argmax(-1)
        for row, (begin, end) in enumerate(spans):
            ids = torch.tensor(rows[row][2])
            greedy_hits += int(torch.equal(predicted[row, begin - 1:end - 1], ids[begin:end]))
    results: Dict[str, Dict[str, float]] = {"greedy": {"follows": greedy_hits / len(items)}}
    cases = _dev_cases(items, variant, seed)
    tallies: Dict[str, List] = {}
    for start in range(0, len(cases), batch_size):
        chunk = cases[start:start + batch_size]
        rows = [(audio, clip, inputs.prompt(audio, clip, rotation, False) + inputs.encode(answer_prefix(text)))
                for _, audio, clip, rotation, text, _, _ in chunk]
        logits = _forward(model, inputs, rows)
        for row, (name, _, _, _, _, planted, suggested) in enumerate(chunk):
            probs = torch.softmax(logits[row, len(rows[row][2]) - 1, inputs.letter_ids].float(), dim=-1)
            top = "ABCD"[int(probs.argmax())]
            tallies.setdefault(name, []).append((planted, top, float(probs.max()), suggested))
    for name, rows_ in tallies.items():
        if rows_[0][0] is not None:
            results[name] = {"follows": sum(top == planted for planted, top, _, _ in rows_) / len(rows_)}
        else:
            results[name] = {"top": sum(p for _, _, p, _ in rows_) / len(rows_),
                             "same": sum(top == suggested for _, top, _, suggested in rows_) / len(rows_)}
    return results


def acceptance_failures(checks: Dict[str, Dict[str, float]], acceptance: Acceptance) -> List[str]:
    """Each dev check below its threshold, in words (empty: the checkpoint meets its rule)."""
    failures = []
    for name, values in checks.items():
        if "follows" in values:
            floor = acceptance.greedy if name == "greedy" else acceptance.follows
            if values["follows"] < floor:
                failures.append(f"{name}: follows {values['follows']:.3f} < {floor}")
        else:
            if values["top"] > acceptance.flat_top:
                failures.append(f"{name}: mean top-letter probability {values['top']:.3f} > {acceptance.flat_top}")
            if values["same"] > acceptance.flat_same:
                failures.append(f"{name}: same answer {values['same']:.3f} > {acceptance.flat_same}")
    return failures
