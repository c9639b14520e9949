"""What every runner shares: seeds, length-sorted batches, audio prefetching on CPU threads,
and per-item audio errors instead of crashes."""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Generic, Iterator, List, Optional, Sequence, Tuple, TypeVar

from audiofaith.audio import Audio, AudioError, audio_duration, load_audio, truncate
from audiofaith.manifest import audio_path
from audiofaith.records import ManifestItem

log = logging.getLogger(__name__)

T = TypeVar("T")


def derive_seed(base_seed: int, *parts: object) -> int:
    """A stable 31-bit seed from a base seed and any labels (item ids, run numbers ...)."""
    text = "\x1f".join([str(base_seed)] + [str(p) for p in parts])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") & 0x7FFFFFFF


def batches(units: Sequence[T], size: int) -> List[List[T]]:
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    return [list(units[i:i + size]) for i in range(0, len(units), size)]


def sort_longest_first(units: Sequence[T], length: Callable[[T], float]) -> List[T]:
    """Length-sorted order (longest first, so padding is small and memory peaks come early);
    stable, so equal lengths keep their input order."""
    return sorted(units, key=lambda unit: -length(unit))


@dataclass
class LoadedAudio:
    audio: Optional[Audio]
    error: Optional[str]


class AudioCache:
    """Loads each item's audio once (16 kHz mono, truncated to the model's window with a warning)."""

    def __init__(self, data_root: "str | Path", max_seconds: Optional[float], model_name: str) -> None:
        self.data_root = Path(data_root)
        self.max_seconds = max_seconds
        self.model_name = model_name
        self._durations: Dict[str, float] = {}

    def duration(self, item: ManifestItem) -> float:
        if item.audio not in self._durations:
            self._durations[item.audio] = audio_duration(audio_path(item, self.data_root))
        return self._durations[item.audio]

    def load(self, item: ManifestItem) -> LoadedAudio:
        try:
            audio = load_audio(audio_path(item, self.data_root))
        except AudioError as exc:
            log.error("%s: %s", item.id, exc)
            return LoadedAudio(None, str(exc))
        return LoadedAudio(truncate(audio, self.max_seconds, self.model_name), None)


class Prefetcher(Generic[T]):
    """Iterate over batches while the audio of the next ``depth`` batches decodes on threads,
    so the model never waits on audio decoding."""

    def __init__(self, batch_list: Sequence[Sequence[T]], item_of: Callable[[T], ManifestItem],
                 cache: AudioCache, workers: int = 2, depth: int = 2) -> None:
        self.batch_list = batch_list
        self.item_of = item_of
        self.cache = cache
        self.workers = max(1, workers)
        self.depth = max(1, depth)

    def __iter__(self) -> Iterator[Tuple[List[T], List[LoadedAudio]]]:
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="audio") as pool:
            pending: List[List[Future]] = []

            def submit(index: int) -> None:
                if index < len(self.batch_list):
                    # One load per audio file and batch, keyed by what is loaded (the file), never
                    # by item id: a swap variant keeps its item's id but loads another clip. Units
                    # that load the same file share one audio object, which lets a backend share
                    # their prompt prefix (HFAudioBackend).
                    by_file: Dict[str, Future] = {}
                    for u in self.batch_list[index]:
                        item = self.item_of(u)
                        if item.audio not in by_file:
                            by_file[item.audio] = pool.submit(self.cache.load, item)
                    pending.append([by_file[self.item_of(u).audio] for u in self.batch_list[index]])

            for index in range(self.depth):
                submit(index)
            for index, batch in enumerate(self.batch_list):
                futures = pending.pop(0)
                submit(index + self.depth)
                yield list(batch), [future.result() for future in futures]
