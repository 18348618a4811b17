"""Prefetching: decode media and preprocess the next samples while the model runs this one.

A small thread pool is enough: PIL, PyAV and torch release the GIL in their heavy loops. Results
come back in input order; at most ``lookahead`` samples are in flight, which bounds memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Prefetcher(Generic[T, R]):
    """Iterate ``fn(item)`` over ``items`` in order, computing up to ``lookahead`` ahead.

    ``fn`` should not raise (the runner's prepare step turns failures into error records); if it
    does, the exception is re-raised when its item is reached. ``workers=0`` runs inline.
    """

    def __init__(
        self, items: Sequence[T], fn: Callable[[T], R], workers: int = 2, lookahead: int = 4
    ) -> None:
        if workers < 0 or lookahead < 1:
            raise ValueError("workers must be >= 0 and lookahead >= 1")
        self.items = items
        self.fn = fn
        self.workers = workers
        self.lookahead = max(lookahead, workers)

    def __iter__(self) -> Iterator[R]:
        if self.workers == 0:
            for item in self.items:
                yield self.fn(item)
            return
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ov-bench-prefetch")
        pending: deque[Future[R]] = deque()
        source = iter(self.items)
        try:
            for item in source:
                pending.append(pool.submit(self.fn, item))
                if len(pending) >= self.lookahead:
                    break
            while pending:
                result = pending.popleft().result()
                nxt = next(source, _END)
                if nxt is not _END:
                    pending.append(pool.submit(self.fn, nxt))
                yield result
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


_END = object()
