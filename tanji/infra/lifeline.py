"""A party process started by the demo (or a test) dies with the process that started it.

The parent sets `TANJI_DIE_WITH_PARENT` to its pid; the child arms Linux's parent-death signal
itself, after exec. Arming it in a `preexec_fn` instead would make `subprocess` fork() a process
that runs gRPC threads, and gRPC's fork handlers can abort the child before it execs.
"""
from __future__ import annotations

import os
import signal
import sys

ENV = "TANJI_DIE_WITH_PARENT"


def child_environment(**extra: str) -> dict[str, str]:
    """The environment for a party process this process starts and should take down with it."""
    return dict(os.environ, PYTHONUNBUFFERED="1", **{ENV: str(os.getpid())}, **extra)


def arm() -> None:
    """Linux: SIGTERM when the parent named in the environment dies (even by SIGKILL)."""
    parent = os.environ.pop(ENV, None)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # the parent died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)
