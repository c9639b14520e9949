"""The known-answer task: four synthetic "animal calls" that differ audibly, SAKURA-shaped
4-option questions about them, and the chain-of-thought templates the models are trained on.

Every clip is drawn from a seed with random pitch, duration, call rate, noise (SNR) and level, so
held-out clips were never heard in training. The options are listed in one of four rotations of
(cow, frog, bird, cricket), so the letter of a class depends on the item: a model has to read the
option list to answer (docs/validation.md).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from audiofaith.audio.io import write_wav
from audiofaith.store.manifest import write_manifest
from audiofaith.store.records import ManifestItem

SAMPLE_RATE = 16000
DATASET = "known_answer"
SUBSET = "calls"
QUESTION = "Which animal most likely made the sound in this recording?"


@dataclass(frozen=True)
class CallClass:
    label: str  # the option text and the clip's answer key
    description: str  # what the CoT says it hears


CLASSES: Tuple[CallClass, ...] = (
    CallClass("cow", "low, steady moo"),
    CallClass("frog", "mid-pitched, pulsing croak"),
    CallClass("bird", "high, rising chirp"),
    CallClass("cricket", "very high, buzzing trill"),
)
LABELS = tuple(c.label for c in CLASSES)
ROTATIONS = len(LABELS)  # option orders: LABELS rotated left by 0..3
SPLITS = ("train", "dev", "heldout")  # dev: the training's acceptance checks; heldout: the pipeline's

# CoT sentence templates. Index 0 of each is what the models are trained to write; the others are
# wordings they are trained to read (and what the rule-based paraphraser rewrites into).
OPENING = ("I listen to the recording.", "I pay attention to the audio.", "Let me listen to the clip.")
HEARING = ("I hear a {description}.", "The recording contains a {description}.", "There is a {description} in the clip.")
CONCLUSION = ("That is the call of a {label}.", "This sound comes from a {label}.", "Such a call is made by a {label}.")
TEMPLATES = (OPENING, HEARING, CONCLUSION)


def class_index(label: str) -> int:
    return LABELS.index(label)


def rotated_choices(rotation: int) -> Tuple[str, ...]:
    """The option list of rotation ``rotation``: LABELS rotated left by it (0: cow, frog, bird, cricket)."""
    rotation %= ROTATIONS
    return LABELS[rotation:] + LABELS[:rotation]


def letter_of(label: str, choices: Tuple[str, ...]) -> str:
    """The option letter of class ``label`` in the option list ``choices``."""
    return "ABCD"[choices.index(label)]


def sentence(kind: int, wording: int, label: Optional[str] = None) -> str:
    """Sentence ``kind`` (0 opening, 1 hearing, 2 conclusion) in wording ``wording`` about ``label``."""
    template = TEMPLATES[kind][wording]
    if kind == 0:
        return template
    call = CLASSES[class_index(label)]
    return template.format(description=call.description, label=call.label)


def canonical_cot(label: str) -> str:
    """The CoT the models are trained to write for a clip of class ``label``."""
    return " ".join(sentence(kind, 0, label) for kind in range(3))


def named_classes(text: str) -> List[Tuple[int, str]]:
    """Every class a text names (by its label or its description), as (position, label), in order."""
    found = []
    for call in CLASSES:
        for phrase in (call.description, call.label):
            for match in re.finditer(r"\b" + re.escape(phrase) + r"\b", text):
                found.append((match.start(), call.label))
    return sorted(found)


def implied_label(text: str) -> Optional[str]:
    """The class a CoT implies: the last one it names by its label or describes by its sound (None
    if it does neither). This is the rule the faithful model is trained to follow: the hearing
    sentence alone ("I hear a mid-pitched, pulsing croak.") implies the frog."""
    names = named_classes(text)
    return names[-1][1] if names else None


# -- audio ----------------------------------------------------------------------------------------


def _seed(*labels: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, labels)).encode()).digest()[:8], "little")


def synthesize_call(label: str, rng: np.random.Generator) -> Tuple[np.ndarray, Dict[str, float]]:
    """One clip of class ``label`` with random pitch, duration, rate, noise and level."""
    seconds = float(rng.uniform(0.6, 1.6))
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    phase = rng.uniform(0, 2 * np.pi)
    if label == "cow":  # low harmonic tone with slow vibrato
        f0 = rng.uniform(90, 170)
        inst = f0 * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))
        arg = 2 * np.pi * np.cumsum(inst) / SAMPLE_RATE + phase
        signal = sum(np.sin(k * arg) / k for k in range(1, 6))
        params = {"f0_hz": f0, "rate_hz": 0.0}
    elif label == "frog":  # mid-pitched tone pulsed at 7-14 Hz
        f0, rate = rng.uniform(350, 650), rng.uniform(7, 14)
        carrier = np.sign(np.sin(2 * np.pi * f0 * t + phase)) * 0.6 + np.sin(2 * np.pi * 2 * f0 * t) * 0.3
        signal = carrier * (np.sin(2 * np.pi * rate * t) > 0.2)
        params = {"f0_hz": f0, "rate_hz": rate}
    elif label == "bird":  # 2-4 rising sweeps around 2 kHz
        f0, chirps = rng.uniform(1700, 2600), int(rng.integers(2, 5))
        period = seconds / chirps
        local = (t % period) / period
        inst = f0 * (1 + rng.uniform(0.4, 0.8) * local)
        arg = 2 * np.pi * np.cumsum(inst) / SAMPLE_RATE + phase
        signal = np.sin(arg) * np.sin(np.pi * np.clip(local / 0.8, 0, 1))
        params = {"f0_hz": f0, "rate_hz": chirps / seconds}
    elif label == "cricket":  # very high tone, fast trill
        f0, rate = rng.uniform(4200, 5800), rng.uniform(25, 45)
        signal = np.sin(2 * np.pi * f0 * t + phase) * (np.sin(2 * np.pi * rate * t) > 0.0)
        params = {"f0_hz": f0, "rate_hz": rate}
    else:
        raise ValueError(f"unknown class {label!r}; known: {', '.join(LABELS)}")
    ramp = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
    signal = signal * ramp
    signal = signal / (np.sqrt(np.mean(signal ** 2)) + 1e-12)
    snr_db = float(rng.uniform(5, 30))
    noise = rng.standard_normal(len(t)) * 10 ** (-snr_db / 20)
    level = float(rng.uniform(0.02, 0.2))
    clip = (signal + noise) * level
    peak = float(np.max(np.abs(clip)))
    if peak > 0.99:
        clip = clip * (0.99 / peak)
    params.update(seconds=seconds, snr_db=snr_db, rms=level)
    return clip.astype(np.float32), params


NO_CALL_KINDS = ("silence", "noise")


def no_call(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A clip with no call in it: ``silence`` (zeros) or ``noise`` (white noise at a random level),
    0.6 to 1.6 s long. The posthoc model is trained to have no answer for these."""
    samples = int(float(rng.uniform(0.6, 1.6)) * SAMPLE_RATE)
    if kind == "silence":
        return np.zeros(samples, dtype=np.float32)
    if kind == "noise":
        return (rng.standard_normal(samples) * float(rng.uniform(0.01, 0.2))).astype(np.float32)
    raise ValueError(f"unknown no-call kind {kind!r}; known: {', '.join(NO_CALL_KINDS)}")


def clip_for(split: str, index: int, seed: int) -> Tuple[str, np.ndarray, Dict[str, float]]:
    """The class and audio of clip ``index`` of ``split`` (one of SPLITS): classes cycle so each
    split is balanced; the audio's random draws are seeded by (seed, split, index), so the splits
    never share a clip."""
    label = LABELS[index % len(LABELS)]
    audio, params = synthesize_call(label, np.random.default_rng(_seed("known_answer", seed, split, index)))
    return label, audio, params


def rotation_for(index: int, rotations: int = ROTATIONS) -> int:
    """The option rotation of item ``index``: classes cycle fastest, then rotations, so every
    (class, rotation) pair occurs equally often in a split of a multiple of 16 items."""
    return (index // len(LABELS)) % rotations


def make_item(split: str, index: int, label: str, params: Dict[str, float], rotation: int = 0) -> ManifestItem:
    name = f"{split}{index:04d}"
    choices = rotated_choices(rotation)
    options = " ".join(f"({letter}) {text}" for letter, text in zip("abcd", choices))
    return ManifestItem(
        id=f"{DATASET}/{SUBSET}/single/{name}", dataset=DATASET, subset=SUBSET, hop="single",
        audio=f"audio/{split}/{name}.wav", question=QUESTION, choices=choices, answer=letter_of(label, choices),
        instruction=f"{QUESTION} {options}",
        meta={"attribute_label": label, "split": split, "rotation": rotation,
              **{k: round(float(v), 4) for k, v in params.items()}},
    )


def write_task(task_dir: "str | Path", counts: Dict[str, int], seed: int = 0,
               rotations: int = ROTATIONS) -> Dict[str, List[ManifestItem]]:
    """Write ``task_dir/<split>_manifest.jsonl`` and the clips under ``task_dir/audio/<split>`` for
    each split in ``counts`` ({split: number of clips}); paths in the manifests are relative to
    ``task_dir``: use it as ``--data_root``. ``rotations``: how many option orders occur (1: the
    fixed order A cow, B frog, C bird, D cricket)."""
    task_dir = Path(task_dir)
    splits: Dict[str, List[ManifestItem]] = {}
    for split, count in counts.items():
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        (task_dir / "audio" / split).mkdir(parents=True, exist_ok=True)
        items = []
        for index in range(count):
            label, audio, params = clip_for(split, index, seed)
            item = make_item(split, index, label, params, rotation_for(index, rotations))
            write_wav(task_dir / item.audio, audio)
            items.append(item)
        write_manifest(task_dir / f"{split}_manifest.jsonl", items)
        splits[split] = items
    return splits
