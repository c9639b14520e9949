"""A small synthetic dataset in SAKURA's exact layout (metadata.csv with CRLF line endings and
embedded options, 16 kHz PCM WAV clips), for the demo and the tests. Its audio is synthetic tones
and noise: no model can answer its questions from it, and it is not meant to be answered."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Dict, List

import numpy as np

from audiofaith.audio.io import write_wav

# (track folder, attribute labels, single-hop stem, multi-hop stem, multi-hop options per label)
_TRACKS: Dict[str, Dict] = {
    "Animal": {
        "labels": ["dog", "cat", "cow", "crow"],
        "single": "Which animal most likely made the sound in this recording?",
        "multi": "What physical feature does the animal in the recording have?",
        "multi_options": ["Fur", "Whiskers", "Horns", "Feathers"],
    },
    "Emotion": {
        "labels": ["angry", "sad", "happy", "fear"],
        "single": "What emotion is the speaker expressing in the audio?",
        "multi": "Which sentence best matches the speaker\u2019s state of mind?",
        "multi_options": ["I can\u2019t believe you did that!", "Everything feels so heavy today.",
                          "This is the best day ever!", "Please, make it stop."],
    },
    "Gender": {
        "labels": ["female", "male"],
        "single": "Please identify the gender of the speaker.",
        "multi": "Who among the options has the same gender as the speaker?",
        "multi_options": ["His aunt", "Her uncle"],
    },
    "Language": {
        "labels": ["English", "German", "Spanish", "French"],
        "single": "Which language is spoken in the audio?",
        "multi": "In which country is the spoken language an official language?",
        "multi_options": ["New Zealand", "Austria", "Chile", "Belgium"],
    },
}


def synthetic_clip(seconds: float, seed: int, rate: int = 16000) -> np.ndarray:
    """A harmonic tone with a noise floor and an amplitude envelope (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(120, 600)
    tone = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in range(1, 4))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t) ** 2
    return (0.2 * tone * envelope + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def write_synthetic_sakura(root: "str | Path", rows_per_track: int = 3, long_clip_seconds: float = 0.0,
                           seed: int = 0, clip_seconds: "float | None" = None) -> Path:
    """Write ``root/data/<Track>/{metadata.csv,audio/*.wav}`` for the four SAKURA tracks.

    Clips last 1-4 s (or exactly ``clip_seconds``); ``long_clip_seconds`` > 0 makes the first
    Animal clip that long (to exercise model windows). Returns ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for track_index, (track, spec) in enumerate(_TRACKS.items()):
        folder = root / "data" / track
        (folder / "audio").mkdir(parents=True, exist_ok=True)
        labels: List[str] = spec["labels"]
        letters = "abcd"[: len(labels)]
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(["file", "attribute_label", "single_instruction", "single_answer",
                         "multi_instruction", "multi_answer"])
        for row in range(rows_per_track):
            label_index = int(rng.integers(len(labels)))
            file_name = f"{track.lower()}{row}.wav"
            seconds = float(rng.uniform(1.0, 4.0)) if clip_seconds is None else clip_seconds
            if track == "Animal" and row == 0 and long_clip_seconds > 0:
                seconds = long_clip_seconds
            write_wav(folder / "audio" / file_name, synthetic_clip(seconds, seed * 1000 + track_index * 100 + row))
            order = list(rng.permutation(len(labels)))
            single_options = [labels[i] for i in order]
            multi_options = [spec["multi_options"][i] for i in order]
            gold = order.index(label_index)
            single = spec["single"] + "".join(f" ({l}) {o}" for l, o in zip(letters, single_options))
            multi = spec["multi"] + "".join(f" ({l}) {o}" for l, o in zip(letters, multi_options))
            writer.writerow([file_name, labels[label_index], single, f"({letters[gold]}) {single_options[gold]}",
                             multi, f"({letters[gold]}) {multi_options[gold]}"])
        (folder / "metadata.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return root
