"""Fault injection for the crash tests: die by SIGKILL at a named point of a daemon or command.

Off by default and a no-op in production: only when the environment variable
TANJI_FAULT_POINT names one of POINTS does `crash_point(name)` kill its process —
SIGKILL, as a power cut would: no cleanup, no flush, an open transaction is lost.
The integration tests (tests/integration/test_faults.py, test_node_store.py) set it
on one process alone, to reach code paths that waiting on a calculation's status
cannot hit reliably: between two statements of one RPC, or inside an open
transaction. An unknown name is refused at start-up, so a misspelt test cannot
silently pass; an armed process says so on stderr when it starts.
"""
from __future__ import annotations

import os
import signal
import sys

#: where a process can be made to die, and what is committed at that moment
POINTS = {
    # the coordinator (coordinator/key_holder_queue.py, coordinator/routing.py)
    "key-announced": "the key announcement is committed; the key holder has not heard back",
    "merge-uncommitted": "the summed weight of a merged request is in the object store; its transaction is open",
    "result-uncommitted": "the key holder's result is checked and added; its transaction is open",
    "result-stored": "the result is committed; neither the key holder nor the requester has heard back",
    # a node's import (node/importer.py)
    "import-uncommitted": "the new data version is written into the store's open transaction, not committed",
    "import-committed": "the new data version is committed; the command has not reported it",
}

_POINT = os.environ.get("TANJI_FAULT_POINT", "")
if _POINT and _POINT not in POINTS:
    raise RuntimeError(f"TANJI_FAULT_POINT={_POINT!r} is not one of {', '.join(POINTS)}")
if _POINT:
    sys.stderr.write(f"WARNING: TANJI_FAULT_POINT={_POINT}: this process kills itself when {POINTS[_POINT]} "
                     "(fault-injection tests only)\n")


def crash_point(name: str) -> None:
    """SIGKILL this process here if TANJI_FAULT_POINT names this point; otherwise nothing."""
    if _POINT and name == _POINT:
        sys.stderr.write(f"TANJI_FAULT_POINT {name}: killing this process (SIGKILL)\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
