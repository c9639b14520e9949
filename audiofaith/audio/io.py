"""Audio loading, validation and writing: any rate / channel count in, 16 kHz mono float32 out.

soundfile decodes and writes, soxr resamples: both are core dependencies (SALMONN's environment
has them too). No torch here.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import soundfile
import soxr

from audiofaith.errors import UserError

log = logging.getLogger(__name__)

TARGET_RATE = 16000


class AudioError(UserError):
    """Audio that cannot be used; the message names the file."""


@dataclass
class Audio:
    """A decoded clip, 16 kHz mono float32, plus what was done to it on the way."""

    samples: np.ndarray
    sample_rate: int = TARGET_RATE
    source_rate: int = TARGET_RATE
    source_channels: int = 1
    warnings: List[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)


def audio_duration(path: "str | os.PathLike[str]") -> float:
    """Duration in seconds read from the file header (no decoding); 0.0 if unreadable."""
    try:
        info = soundfile.info(str(path))
    except Exception:  # an unreadable file is reported properly when it is loaded
        return 0.0
    return float(info.frames) / float(info.samplerate)


def _read(path: Path) -> "tuple[np.ndarray, int]":
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{path}: cannot decode audio ({exc})") from None
    return data, int(rate)


def resample(samples: np.ndarray, source_rate: int, target_rate: int = TARGET_RATE) -> np.ndarray:
    """Resample a mono float32 signal (soxr, high quality)."""
    if source_rate == target_rate:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples, source_rate, target_rate, quality="HQ").astype(np.float32)


def write_wav(path: "str | os.PathLike[str]", samples: np.ndarray, rate: int = TARGET_RATE) -> None:
    """Write 16-bit PCM WAV (samples clipped to [-1, 1]; one column per channel when 2-D) through
    a temporary file renamed into place, so a reader never sees half a clip. Creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    soundfile.write(str(tmp), np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0), rate,
                    subtype="PCM_16", format="WAV")
    tmp.replace(path)


def load_audio(path: "str | os.PathLike[str]", min_seconds: float = 0.0) -> Audio:
    """Decode ``path`` to 16 kHz mono float32 and validate it.

    Raises ``AudioError`` (naming the file) for missing, empty or non-finite audio. Stereo is
    averaged to mono, other rates are resampled, and clipping is noted in ``warnings``.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    data, rate = _read(path)
    notes: List[str] = []
    channels = data.shape[1]
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file has no samples")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    mono = data.mean(axis=1) if channels > 1 else data[:, 0]
    if channels > 1:
        notes.append(f"downmixed {channels} channels to mono")
    if rate != TARGET_RATE:
        mono = resample(mono, rate, TARGET_RATE)
        notes.append(f"resampled {rate} Hz to {TARGET_RATE} Hz")
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if peak >= 0.999:
        clipped = float(np.mean(np.abs(mono) >= 0.999))
        if clipped > 0.001:
            notes.append(f"{clipped:.1%} of samples are clipped")
    if peak == 0.0:
        notes.append("audio is all zeros (silence)")
    seconds = len(mono) / float(TARGET_RATE)
    if seconds < min_seconds:
        raise AudioError(f"{path}: audio is {seconds:.3f} s, shorter than the minimum {min_seconds} s")
    return Audio(samples=np.ascontiguousarray(mono, dtype=np.float32), source_rate=rate,
                 source_channels=channels, warnings=notes)


def truncate(audio: Audio, max_seconds: Optional[float], model_name: str) -> Audio:
    """Cut audio to a model's window, recording a warning (never silently)."""
    if max_seconds is None or audio.seconds <= max_seconds:
        return audio
    keep = int(max_seconds * audio.sample_rate)
    note = f"audio {audio.seconds:.1f} s truncated to {model_name}'s {max_seconds:g} s window"
    log.warning(note)
    return Audio(samples=audio.samples[:keep], sample_rate=audio.sample_rate, source_rate=audio.source_rate,
                 source_channels=audio.source_channels, warnings=audio.warnings + [note])
