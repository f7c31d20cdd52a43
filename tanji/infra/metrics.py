"""What a demo run cost each party: peak memory (Linux /proc) and bytes sent (node stores)."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident memory of a process and its children (MiB), or None off Linux."""
    if not Path("/proc").is_dir():
        return None
    pids, seen = [pid], set()
    while pids:
        p = pids.pop()
        if p not in seen:
            seen.add(p)
            pids += _children(p)
    return round(sum(_vm_hwm_kib(p) for p in seen) / 1024, 1)


def node_bytes_sent(node_db: Path) -> int:
    """Envelope and object bytes a node stored for sending (each is pushed once)."""
    con = sqlite3.connect(f"file:{node_db}?mode=ro", uri=True)
    try:
        envelopes = con.execute("SELECT COALESCE(SUM(LENGTH(body) + LENGTH(signature)), 0) FROM outbox").fetchone()[0]
        objects = con.execute("SELECT COALESCE(SUM(LENGTH(content)), 0) FROM out_objects").fetchone()[0]
    finally:
        con.close()
    return int(envelopes + objects)
