"""A party's HE worker process, there only while it is needed (issue #14: an idle node under
150 MiB resident). TenSEAL holds the GIL, so homomorphic steps run in a worker process; that
worker, with TenSEAL and a loaded context, is most of a node's memory. It is started on the first
task — or warmed as soon as a calculation's key arrives, so the node's turn does not wait for it —
and stopped once no task has run for `idle_seconds`."""
from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future

#: a worker with no task for this long is stopped (a deep supplier's turn comes within a calculation's
#: first minute; its key, which warms the worker, arrives at the start)
IDLE_SECONDS = float(os.environ.get("TANJI_HE_WORKER_IDLE_SECONDS", "60"))


def release_freed_memory() -> None:
    """Hand the memory a calculation freed back to the system: CPython and gRPC free into glibc's
    arenas, which keep it resident until trimmed (a node idles at its calculation's peak otherwise)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


def _ready() -> bool:
    """A task that does nothing: the worker process is up once it has run."""
    return True


class OnDemandWorkers:
    def __init__(self, start: Callable[[], Executor], idle_seconds: float = IDLE_SECONDS):
        self._start = start
        self._idle = idle_seconds
        self._pool: Executor | None = None
        self._busy = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="he-worker-reaper", daemon=True)
        self._reaper.start()

    @property
    def running(self) -> bool:
        with self._lock:
            return self._pool is not None

    def submit(self, fn, /, *args, **kwargs) -> Future:
        with self._lock:
            if self._pool is None:
                self._pool = self._start()
            self._busy += 1
            self._last = time.monotonic()
            future = self._pool.submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def warm(self) -> None:
        """Start the worker now, without waiting for it (a calculation is coming)."""
        self.submit(_ready)

    def _done(self, _future: Future) -> None:
        with self._lock:
            self._busy -= 1
            self._last = time.monotonic()

    def reap(self) -> bool:
        """Stop the worker if it has been idle long enough; True if it was stopped."""
        with self._lock:
            if self._pool is None or self._busy or time.monotonic() - self._last < self._idle:
                return False
            pool, self._pool = self._pool, None
        pool.shutdown(wait=True)
        release_freed_memory()
        return True

    def _reap_loop(self) -> None:
        while not self._stopped.wait(min(5.0, self._idle)):
            self.reap()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._stopped.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)
