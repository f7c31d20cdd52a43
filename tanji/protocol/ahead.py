"""Work done ahead, results taken in order: a party that pulls many ciphertexts one after another
waits on each transfer while its HE worker idles (an auditor or the key holder re-adding thousands
of pulled ciphertexts, `tanji.protocol.reexecution`)."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def in_order(fn: Callable[[K], V], keys: Iterable[K], ahead: int) -> Generator[V, None, None]:
    """`fn(k)` for each key, yielded in the keys' order, with up to `ahead` of them running at once
    ahead of the reader (0 or 1: one after another, here). An error is raised where its result was
    due; a reader that stops early leaves what had not started unstarted."""
    if ahead <= 1:
        yield from map(fn, keys)
        return
    queued = iter(keys)
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="ahead") as pool:
        pending: deque[Future[V]] = deque(pool.submit(fn, k) for k in islice(queued, ahead))
        try:
            while pending:
                result = pending.popleft().result()
                following = next(queued, _END)
                if following is not _END:
                    pending.append(pool.submit(fn, following))  # type: ignore[arg-type]
                yield result
        finally:
            for f in pending:
                f.cancel()


_END = object()
