"""Audio perturbations as pure functions (numpy only): 16 kHz mono float32 in, a ``Perturbed``
(new samples + what was measured on them) out. Exact definitions: docs/audio_interventions.md.

Every random choice comes from a ``numpy.random.Generator`` built from an integer seed that the
caller derives per item (``derive_seed(seed, item.id, condition, params...)``), so the same seed
gives the same bytes and different items get different noise.

Noise is exact, not approximate: it is drawn, then scaled so that its RMS is exactly the target
(up to float32 rounding), which makes the measured SNR equal the requested one. A result whose
peak would exceed full scale is scaled down as a whole (``gain`` < 1, recorded) so that it can be
written as 16-bit PCM without clipping; a common gain leaves SNRs and masked fractions unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from audiofaith.errors import UserError

RATE = 16000
FULL_SCALE = 0.999  # the peak a result is scaled down to when it would exceed it
MASK_POSITIONS = ("start", "end", "random", "scattered")
MASK_FILLS = ("silence", "noise")
INJECT_POSITIONS = ("append", "overlay")
INJECT_GAP_SECONDS = 0.3
SCATTER_MIN_SECONDS = 0.05
SCATTER_MAX_SECONDS = 0.5
#: Reference RMS for injected speech when the clip itself is silent (RMS 0).
SILENT_CLIP_REFERENCE_RMS = 0.05


class PerturbationError(UserError):
    """A perturbation that is undefined for this input (e.g. an SNR on an all-zero clip)."""


@dataclass(frozen=True)
class Perturbed:
    """A perturbed clip and the properties measured on it (``snr_db``, ``masked_fraction``, ...)."""

    samples: np.ndarray
    info: Dict[str, Any] = field(default_factory=dict)


def rms(x: np.ndarray) -> float:
    """Root mean square in float64 (0.0 for an empty array)."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """20·log10(rms(signal) / rms(noise)), in dB (``inf`` for zero noise, ``-inf`` for a zero signal)."""
    s, n = rms(signal), rms(noise)
    if n == 0.0:
        return math.inf
    if s == 0.0:
        return -math.inf
    return 20.0 * math.log10(s / n)


def _check(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise PerturbationError(f"expected mono samples (1-D), got shape {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise PerturbationError("samples contain NaN or infinite values")
    return samples.astype(np.float32, copy=False)


def _headroom(x: np.ndarray) -> Tuple[np.ndarray, float]:
    """Scale ``x`` (float64) down so its peak is at most FULL_SCALE; returns (float32, gain)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    gain = FULL_SCALE / peak if peak > FULL_SCALE else 1.0
    return (x * gain).astype(np.float32), gain


def white_noise(n: int, target_rms: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise of ``n`` samples scaled to RMS exactly ``target_rms`` (float64)."""
    if n == 0 or target_rms == 0.0:
        return np.zeros(n, dtype=np.float64)
    noise = rng.standard_normal(n)
    return noise * (target_rms / rms(noise))


# -- whole-clip perturbations ------------------------------------------------------------------

def silence(samples: np.ndarray) -> Perturbed:
    """Zeros of the clip's length."""
    samples = _check(samples)
    return Perturbed(np.zeros(len(samples), dtype=np.float32), {"rms": 0.0, "clip_rms": rms(samples)})


def noise_matched_rms(samples: np.ndarray, rng: np.random.Generator) -> Perturbed:
    """The clip replaced by Gaussian white noise of the same length and the same RMS."""
    samples = _check(samples)
    target = rms(samples)
    out, gain = _headroom(white_noise(len(samples), target, rng))
    return Perturbed(out, {"rms": rms(out), "clip_rms": target, "gain": gain})


def noise_at_snr(samples: np.ndarray, snr: float, rng: np.random.Generator) -> Perturbed:
    """clip + white noise whose RMS is rms(clip) / 10^(snr/20), so 20·log10(rms(clip)/rms(noise))
    = ``snr`` dB. Undefined (an error) for an all-zero clip."""
    samples = _check(samples)
    if not math.isfinite(snr):
        raise PerturbationError(f"SNR must be finite, got {snr}")
    signal_rms = rms(samples)
    if signal_rms == 0.0:
        raise PerturbationError("the clip is all zeros: an SNR relative to it is undefined")
    noise = white_noise(len(samples), signal_rms / 10.0 ** (snr / 20.0), rng)
    out, gain = _headroom(samples.astype(np.float64) + noise)
    # measured on what was actually added, after the common gain and float32 rounding
    added = out.astype(np.float64) - gain * samples.astype(np.float64)
    return Perturbed(out, {"snr_db": snr_db(gain * samples.astype(np.float64), added), "clip_rms": signal_rms,
                           "gain": gain})


# -- masking -------------------------------------------------------------------------------------

def masked_count(n: int, ratio: float) -> int:
    """How many of ``n`` samples a mask of ``ratio`` covers: round half up of ratio·n."""
    if not 0.0 <= ratio <= 1.0:
        raise PerturbationError(f"mask ratio must be in [0, 1], got {ratio}")
    return min(n, int(math.floor(ratio * n + 0.5)))


def scattered_segments(n: int, k: int, rng: np.random.Generator, rate: int = RATE) -> List[Tuple[int, int]]:
    """Non-overlapping [start, end) spans covering exactly ``k`` of ``n`` samples: span lengths are
    drawn uniformly from 50–500 ms until they reach ``k`` (the last one cut to fit, so it may be
    shorter), and the ``n - k`` unmasked samples are split into random gaps around them. Adjacent
    spans may touch (a gap of 0)."""
    if k <= 0:
        return []
    low = max(1, int(round(SCATTER_MIN_SECONDS * rate)))
    high = max(low, int(round(SCATTER_MAX_SECONDS * rate)))
    lengths: List[int] = []
    total = 0
    while total < k:
        length = min(int(rng.integers(low, high + 1)), k - total)
        lengths.append(length)
        total += length
    free = n - k
    cuts = np.sort(rng.integers(0, free + 1, size=len(lengths)))
    gaps = np.diff(np.concatenate([[0], cuts])).tolist()  # the gap before each span
    spans, position = [], 0
    for gap, length in zip(gaps, lengths):
        position += int(gap)
        spans.append((position, position + length))
        position += length
    return spans


def mask_array(n: int, ratio: float, position: str, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """A boolean mask of ``n`` samples with exactly ``masked_count(n, ratio)`` True values.

    ``start``/``end``: one span at the clip's start or end; ``random``: one span at a uniformly
    drawn offset; ``scattered``: ``scattered_segments``.
    """
    if position not in MASK_POSITIONS:
        raise PerturbationError(f"mask position must be one of {MASK_POSITIONS}, got {position!r}")
    k = masked_count(n, ratio)
    mask = np.zeros(n, dtype=bool)
    if k == 0:
        return mask
    if position == "start":
        mask[:k] = True
    elif position == "end":
        mask[n - k:] = True
    elif position == "random":
        offset = int(rng.integers(0, n - k + 1))
        mask[offset:offset + k] = True
    else:
        for start, end in scattered_segments(n, k, rng, rate):
            mask[start:end] = True
    return mask


def mask_clip(samples: np.ndarray, ratio: float, fill: str, position: str, rng: np.random.Generator,
              rate: int = RATE) -> Perturbed:
    """Replace ``ratio`` of the clip (exactly ``masked_count`` samples) by silence or by white noise
    at the RMS of the unmasked part (of the whole clip when everything is masked).

    The mask positions are drawn first, then the noise, from the same generator."""
    samples = _check(samples)
    if fill not in MASK_FILLS:
        raise PerturbationError(f"mask fill must be one of {MASK_FILLS}, got {fill!r}")
    mask = mask_array(len(samples), ratio, position, rng, rate)
    k = int(mask.sum())
    out = samples.astype(np.float64)
    fill_rms = 0.0
    if fill == "noise" and k:
        fill_rms = rms(samples[~mask]) if k < len(samples) else rms(samples)
        out[mask] = white_noise(k, fill_rms, rng)
    else:
        out[mask] = 0.0
    out32, gain = _headroom(out)
    fraction = k / len(samples) if len(samples) else 0.0
    return Perturbed(out32, {"masked_fraction": fraction, "masked_samples": k, "fill_rms": fill_rms, "gain": gain})


# -- spoken answer injection ---------------------------------------------------------------------

def inject_speech(samples: np.ndarray, speech: np.ndarray, position: str, level_db: float = 0.0,
                  max_samples: Optional[int] = None, rate: int = RATE) -> Perturbed:
    """Add a spoken clip to the audio.

    The speech is scaled so that 20·log10(rms(speech) / rms(clip)) = ``level_db`` (0 = as loud as
    the clip; a silent clip uses a reference RMS of 0.05). ``append``: clip, 0.3 s of silence, then
    the speech; if that exceeds ``max_samples`` (the model's window) the clip's end is cut so the
    speech still fits. ``overlay``: the speech is added from the clip's first sample (the clip is
    padded with zeros if the speech is longer, and the result is cut to ``max_samples``).
    """
    samples = _check(samples)
    speech = _check(speech)
    if position not in INJECT_POSITIONS:
        raise PerturbationError(f"injection position must be one of {INJECT_POSITIONS}, got {position!r}")
    if rms(speech) == 0.0:
        raise PerturbationError("the speech clip is silent")
    clip_rms = rms(samples)
    reference = clip_rms if clip_rms > 0.0 else SILENT_CLIP_REFERENCE_RMS
    voice = speech.astype(np.float64) * (reference * 10.0 ** (level_db / 20.0) / rms(speech))
    clip = samples.astype(np.float64)
    trimmed = 0
    if position == "append":
        gap = np.zeros(int(round(INJECT_GAP_SECONDS * rate)))
        if max_samples is not None and len(clip) + len(gap) + len(voice) > max_samples:
            keep = max(0, max_samples - len(gap) - len(voice))
            trimmed = len(clip) - keep
            clip = clip[:keep]
            if len(gap) + len(voice) > max_samples:
                voice = voice[: max_samples - len(gap)]
        speech_start = len(clip) + len(gap)
        out = np.concatenate([clip, gap, voice])
    else:
        out = np.zeros(max(len(clip), len(voice)))
        out[: len(clip)] += clip
        out[: len(voice)] += voice
        speech_start = 0
        if max_samples is not None and len(out) > max_samples:
            out = out[:max_samples]
    out32, gain = _headroom(out)
    speech_in = min(len(voice), len(out) - speech_start)
    return Perturbed(out32, {"speech_seconds": speech_in / rate, "speech_start_seconds": speech_start / rate,
                             "clip_trimmed_seconds": trimmed / rate, "level_db": level_db, "clip_rms": clip_rms,
                             "gain": gain})


# -- swapping --------------------------------------------------------------------------------------

def swap_sources(keys: Sequence[Any], order: Sequence[int]) -> List[int]:
    """A deterministic map i -> source(i) with keys[source(i)] != keys[i] for every i, over one group.

    ``order`` is a permutation of range(len(keys)) (e.g. items sorted by a seeded hash) that fixes
    the map. If no key holds more than half of the group, the map is a derangement (a permutation:
    every item is some other item's source exactly once): the items are listed by key (biggest
    group of equal keys first, ties by first appearance in ``order``; within a key in ``order``),
    and each item takes the one ``m`` places further in that list (cyclically), where ``m`` is the
    size of the biggest key group, which always lands outside its own key's block. Otherwise a
    permutation is impossible; then the items of the biggest key take the other items in turn
    (cyclically, so sources repeat as evenly as possible) and every other item takes the first
    item of the biggest key after it in ``order`` (cyclically).

    Raises ``PerturbationError`` when every key in the group is the same.
    """
    n = len(keys)
    if sorted(order) != list(range(n)):
        raise ValueError("order must be a permutation of range(len(keys))")
    if n == 0:
        return []
    rank = {index: r for r, index in enumerate(order)}
    by_key: Dict[Any, List[int]] = {}
    for index in order:
        by_key.setdefault(keys[index], []).append(index)
    if len(by_key) < 2:
        raise PerturbationError("every item in the group has the same answer: no swap source exists")
    blocks = sorted(by_key.values(), key=lambda members: (-len(members), rank[members[0]]))
    m = len(blocks[0])
    source = [0] * n
    if 2 * m <= n:
        listed = [index for block in blocks for index in block]
        for position, index in enumerate(listed):
            source[index] = listed[(position + m) % n]
        return source
    biggest = blocks[0]
    others = [index for index in order if keys[index] != keys[biggest[0]]]
    for j, index in enumerate(biggest):
        source[index] = others[j % len(others)]
    for index in others:
        after = sorted(biggest, key=lambda b: (rank[b] - rank[index]) % n)
        source[index] = after[0]
    return source
