"""What every runner shares: the resumable loop (``run_resumable``: skip finished keys, length-sorted
batches, audio prefetching on CPU threads, append + fsync per batch, progress), and per-item audio
errors instead of crashes. ``derive_seed`` lives in ``audiofaith/seeds.py`` (re-exported here)."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Generic, Hashable, Iterator, List, Optional, Sequence, Set, Tuple, TypeVar

from audiofaith.audio.io import Audio, AudioError, audio_duration, load_audio, truncate
from audiofaith.store.jsonl import AppendWriter, iter_jsonl
from audiofaith.store.manifest import audio_path
from audiofaith.progress import progress_bar
from audiofaith.store.records import ManifestItem, RecordError, ResultRecord
from audiofaith.seeds import derive_seed

__all__ = ["AudioCache", "LoadedAudio", "Prefetcher", "batches", "completed_keys", "derive_seed", "run_resumable",
           "sort_longest_first"]

log = logging.getLogger(__name__)

T = TypeVar("T")


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
                    # by item id: a swap variant keeps its item's id but loads another clip. The
                    # runners name the audio of each model input by this file (``audio_key``), so
                    # a backend can share the prompt prefix of rows that hear it (HFAudioBackend).
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


def completed_keys(output_path: Path, read_record: Callable[[Any, str], ResultRecord]) -> Set[Tuple]:
    """Resume keys of the records already in an output file, each line read by ``read_record``
    (``BaselineRecord.from_json`` or ``InterventionRecord.from_json``); a torn last line is
    ignored, a duplicated key is an error naming both lines."""
    first: Dict[Tuple, int] = {}
    if not output_path.exists():
        return set()
    for line_number, obj in iter_jsonl(output_path, allow_torn_tail=True):
        where = f"{output_path}:{line_number}"
        key = read_record(obj, where).key()
        if key in first:
            raise RecordError(f"{where}: duplicate line {key} (first on line {first[key]})")
        first[key] = line_number
    return set(first)


def run_resumable(units: Sequence[T], output_path: "str | Path", *, read_record: Callable[[Any, str], ResultRecord],
                  unit_key: Callable[[T], Hashable], sort_key: Callable[[T], Any], item_of: Callable[[T], ManifestItem],
                  cache: AudioCache, batch_size: int, workers: int, desc: str, unit_name: str,
                  answer_batch: Callable[[List[T], List[LoadedAudio]], List[ResultRecord]]) -> None:
    """The loop of every runner: answer each unit (an item, a variant) whose key is not yet in
    ``output_path``, in batches ordered by ``sort_key`` (stable), with the audio of the next batches
    decoding on threads; ``answer_batch`` returns one record per unit, appended and fsynced per
    batch, so a run killed anywhere resumes with nothing lost or repeated."""
    output_path = Path(output_path)
    done = completed_keys(output_path, read_record)
    pending = [unit for unit in units if unit_key(unit) not in done]
    if done:
        log.info("resuming %s: %d %s(s) already done, %d to go", output_path, len(done), unit_name, len(pending))
    ordered = sorted(pending, key=sort_key)
    with AppendWriter(output_path) as writer, progress_bar(len(ordered), desc, unit_name) as progress:
        for batch, loaded in Prefetcher(batches(ordered, batch_size), item_of, cache, workers):
            records = answer_batch(batch, loaded)
            writer.write_many(record.to_json() for record in records)
            progress.update(len(batch))
