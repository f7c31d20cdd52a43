"""The long poll's doorbell: a party's pull waits here while its queue is empty, and every commit
that delivered an envelope or queued key-holder work rings it (issue #14: work reaches a party
within milliseconds of existing, instead of after a polling back-off of up to a second per tier).

One bell per process: a ring wakes every waiting pull, which re-reads its own queue (cheap, and
correct whoever the delivery was for). Replicas sharing PostgreSQL do not hear each other's rings,
so there a waiting pull also re-reads its queue every `SHARED_RECHECK_SECONDS`. Waiting pulls hold
a server thread each, so at most `slots` wait at once; the others answer at once and their
clients back off as before.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: the longest a pull is held, whatever the client asks (well inside the clients' RPC deadline)
MAX_WAIT_SECONDS = 10.0
#: a replica on a shared database re-reads a waiting queue this often (it hears only its own rings)
SHARED_RECHECK_SECONDS = 0.25
#: a waiting pull also looks at whether its caller is still there this often
ALIVE_CHECK_SECONDS = 1.0


class Doorbell:
    def __init__(self, slots: int = 48):
        self._cond = threading.Condition()
        self._generation = 0
        self._slots = threading.BoundedSemaphore(slots)

    def ring(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def _wait(self, since: int, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._generation != since, timeout)

    def hold(self, read: Callable[[], list[T]], wait_seconds: float, shared: bool,
             alive: Callable[[], bool] = lambda: True) -> list[T]:
        """`read()` now, and while it is empty and the caller still waits, again after each ring
        (or each re-check on a shared database), until `wait_seconds` (capped) have passed."""
        since = self.generation
        rows = read()
        wait_seconds = min(max(0.0, wait_seconds), MAX_WAIT_SECONDS)
        if rows or wait_seconds <= 0 or not self._slots.acquire(blocking=False):
            return rows
        try:
            deadline = time.monotonic() + wait_seconds
            while not rows and alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wait(since, min(left, SHARED_RECHECK_SECONDS if shared else ALIVE_CHECK_SECONDS))
                since = self.generation
                rows = read()
            return rows
        finally:
            self._slots.release()


#: this process's bell (tanji.coordinator.transactions rings it after a commit that appended)
BELL = Doorbell()
