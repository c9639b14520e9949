"""Out-of-memory back-off: a backend wrapper that makes model calls in chunks of the current
batch size and, when a chunk runs out of memory, halves the size and retries that chunk, so a
too-large batch costs a retry instead of the run. The size never grows back within a run."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Sequence

from audiofaith.backends.base import Backend, GenerationSettings, ModelInput

log = logging.getLogger(__name__)


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA/MPS out-of-memory errors, recognised without importing torch."""
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower()


class BackoffBackend(Backend):
    """Delegates to ``inner`` in chunks of at most ``batch_size`` inputs, halving on OOM."""

    def __init__(self, inner: Backend, batch_size: int) -> None:
        self.inner = inner
        self.batch_size = max(1, int(batch_size))
        self.key = inner.key
        self.max_audio_seconds = inner.max_audio_seconds

    def __getattr__(self, name: str) -> Any:  # optional backend methods (count_tokens, ...)
        return getattr(self.inner, name)

    def _chunked(self, call: Callable[[int, int], List], count: int) -> List:
        results: List = []
        start = 0
        while start < count:
            stop = min(start + self.batch_size, count)
            try:
                results.extend(call(start, stop))
            except Exception as error:  # noqa: BLE001 - only OOM is handled, the rest re-raised
                if not is_out_of_memory(error) or stop - start == 1:
                    raise
                self.batch_size = max(1, (stop - start) // 2)
                release = getattr(self.inner, "release_memory", None)
                if release is not None:
                    release()
                log.warning("out of memory at batch size %d; retrying at %d", stop - start, self.batch_size)
                continue
            start = stop
        return results

    def generate(self, inputs: Sequence[ModelInput], settings: GenerationSettings) -> List[List[str]]:
        return self._chunked(lambda a, b: self.inner.generate(inputs[a:b], settings), len(inputs))

    def score_letters(self, inputs: Sequence[ModelInput], letters: Sequence[Sequence[str]]) -> List[Dict[str, float]]:
        return self._chunked(lambda a, b: self.inner.score_letters(inputs[a:b], letters[a:b]), len(inputs))

    def provenance(self) -> Dict[str, Any]:
        return self.inner.provenance()


def with_backoff(backend: Backend, batch_size: int) -> Backend:
    return backend if isinstance(backend, BackoffBackend) else BackoffBackend(backend, batch_size)
