"""An idle node keeps no HE worker (issue #14 item 3): the worker starts with a calculation's key
and stops once idle, so between calculations a node is its serving process alone. Prints each
node's resident memory once idle (`-s`): the figure in the README's Measured table."""
import time
from pathlib import Path

import pytest

from tanji.v1 import requester_pb2 as rpb
from tests.harness.processes import LocalFederation

pytestmark = pytest.mark.integration
IDLE = "3"


def children(pid: int) -> list[int]:
    """The HE worker processes of a party (spawned by multiprocessing; not its resource tracker)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:  # it has just ended
                continue
            if b"resource_tracker" not in cmdline:
                out.append(int(child))
    return out


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_a_nodes_he_worker_is_there_only_while_needed(tmp_path, monkeypatch):
    monkeypatch.setenv("TANJI_HE_WORKER_IDLE_SECONDS", IDLE)
    fed = LocalFederation(tmp_path)
    try:
        nodes = {org: fed.procs.procs[org].pid for org in fed.data.nodes}
        assert all(children(pid) == [] for pid in nodes.values())          # registered, no worker yet
        cid = fed.start_calculation()
        st = fed.finish(cid)
        assert st.state == rpb.CALCULATION_STATE_DONE, st
        deadline = time.monotonic() + 60
        while any(children(pid) for pid in nodes.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert {org: children(pid) for org, pid in nodes.items()} == {org: [] for org in nodes}
        idle = {org: resident_mib(pid) for org, pid in nodes.items()}
        print("\nresident memory of each idle node (MiB):",
              ", ".join(f"{org} {mib:.0f}" for org, mib in sorted(idle.items())),
              f"; largest {max(idle.values()):.0f}")
    finally:
        fed.stop()
