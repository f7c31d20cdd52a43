"""`tanji simulate`'s run: a whole federation on one machine at scale (issue #14 item 4) — the coordinator
and the key holder as separate processes exactly as `tanji demo` starts them, after the same
onboarding through the registry, but every organisation's node hosted in a pool of a few worker
processes (tanji.node.hosting): the same node code and the same gRPC, without a process and an HE
worker per organisation. Writes OUT/result.json, OUT/metrics.json and OUT/bundle.tar as the demo does.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from rich.console import Console

from tanji.cli import requester
from tanji.cli.demo import (
    Processes,
    _terminate,
    _wait_for,
    approve_all,
    closed_policy,
    collect_results,
    onboard,
    requester_of,
    show_catalogue,
    start_calculation,
    write_bundles,
)
from tanji.errors import TanjiError
from tanji.infra import lifeline
from tanji.infra import metrics as metrics_
from tanji.infra.runtime import private_folder
from tanji.methodology.graph import build_graph, parse_target
from tanji.methodology.loader import load_data_dir
from tanji.protocol import limits
from tanji.v1 import requester_pb2 as rpb

S = rpb.CalculationState
#: a hosted node's lease: long, since a pool process heartbeats its nodes one after another (a quarter of
#: it apart) while it also does their homomorphic work; nobody is offline in a simulation
SIMULATE_LEASE_SECONDS = 600.0
MAX_WORKERS = 64
#: how often the driver asks for the calculation's status
STATUS_SECONDS = 2.0
#: a pool process runs a dozen threads allocating and freeing ciphertexts: glibc's default of an arena per
#: thread (up to 8 per core) keeps each one's freed memory resident; two arenas hold it near its use
HOST_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2"}


class SimulateRefused(TanjiError):
    """Bad arguments to `tanji simulate` (exit 2)."""
    exit_code = 2


def pools(orgs: list[str], workers: int) -> list[list[str]]:
    """Organisations dealt round robin to the pool processes: each tier spread over every process."""
    return [orgs[i::workers] for i in range(min(workers, len(orgs)))]


def check_arguments(data_dir: Path, products: list[str], workers: int):
    """Everything refusable before a process starts: the worker count, the folder, the targets (one
    requester's products, each in the data). Returns the data, the requester and the depth bound.

    Unlike `tanji demo` (decision 0018) this driver reads every organisation's file: it stands in for
    a thousand parties on one machine, and a bad file is better refused before they all start."""
    if not 1 <= workers <= MAX_WORKERS:
        raise SimulateRefused(f"--workers {workers}: between 1 and {MAX_WORKERS} pool processes")
    org = requester_of(products, None)  # none, or several requesters: refused by name
    data = load_data_dir(data_dir)  # a missing folder or bad data: refused by name
    graphs = [build_graph(data, parse_target(p)) for p in products]  # an unknown organisation or product
    return data, org, max(g.depth() for g in graphs)


def start_host(fed: Processes, name: str, members: list[dict], fed_file: Path, address: str) -> Path:
    """A pool process hosting `members`' nodes (python -m tanji.node.hosting SPEC); its ready file."""
    folder = private_folder(fed.root / name)
    ready = folder / "ready"
    ready.unlink(missing_ok=True)
    spec = {"name": name, "coordinator": address, "federation": str(fed_file), "members": members,
            "lease_seconds": SIMULATE_LEASE_SECONDS, "ready": str(ready), "pulls": str(folder / "pulls")}
    (folder / "spec.json").write_text(json.dumps(spec, indent=1) + "\n")
    log = os.fdopen(os.open(folder / "log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
    fed.procs[name] = subprocess.Popen([sys.executable, "-m", "tanji.node.hosting", str(folder / "spec.json")],
                                       stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=lifeline.child_environment(**HOST_ENVIRONMENT), start_new_session=True)
    return ready


def run_simulate(data_dir: Path, products: list[str], out: Path, console: Console, workers: int | None = None,
                 deadline_seconds: float = 3600.0) -> dict:
    workers = workers if workers is not None else (os.cpu_count() or 1)
    data, org, depth_bound = check_arguments(data_dir, products, workers)
    state = out / "state"
    began = time.monotonic()
    fed_file, federation = onboard(state, data.nodes)
    for o in data.nodes:
        closed_policy(state, o)
    dealt = pools(sorted(data.nodes), workers)
    console.print(f"[bold]tanji simulate[/]: {len(data.nodes)} organisations in {len(dealt)} pool processes, "
                  f"target {', '.join(products)}, depth bound {depth_bound}; loopback [yellow]without TLS[/]")
    fed = Processes(state)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        address = fed.start_coordinator(fed_file, lease_seconds=SIMULATE_LEASE_SECONDS)
        fed.start_keyholder(fed_file, address)
        readies = []
        for i, orgs in enumerate(dealt):
            members = [{"org": o, "state": str(state / o), "data": data.nodes[o].file,
                        "factors": data.factors.file} for o in orgs]
            readies.append(start_host(fed, f"host-{i}", members, fed_file, address))
        for ready in readies:
            _wait_for(ready, fed, f"{ready.parent.name} to register its nodes", timeout=1800.0)
        channel = grpc.insecure_channel(address, options=limits.GRPC_OPTIONS)
        approve_all(state, data.nodes, channel, fed)  # as in the demo
        setup = time.monotonic() - began
        console.print(f"{setup:.0f} s to onboard, start and register every party")
        # as the requester's own party (`tanji calc start` in its state folder), as the demo does
        cids = start_calculation(state / org, fed_file, address, products, depth_bound, deadline_seconds, None)
        started = time.monotonic()
        docs = collect_results(channel, org, cids, federation, lambda cid: follow(channel, org, cid, fed, console))
        elapsed = time.monotonic() - started
        written = requester.write_results(docs, out)
        doc = json.loads(docs[0])
        peaks = {name: metrics_.peak_rss_mib(p.pid) for name, p in fed.procs.items()}
    finally:
        fed.stop(grace=30.0)
        signal.signal(signal.SIGTERM, previous)
    sent = {o: metrics_.node_bytes_sent(state / o / "node.db") for o in data.nodes}
    pulls = {f"host-{i}": _read_int(state / f"host-{i}" / "pulls") for i in range(len(dealt))}
    metrics = {"calculation": cids[0], "calculations": cids, "products": len(docs),
               "organisations": len(data.nodes), "workers": len(dealt),
               "seconds": round(elapsed, 2), "setup_seconds": round(setup, 2),
               "peak_rss_mib": peaks, "peak_rss_mib_total": round(sum(v or 0 for v in peaks.values()), 1),
               "pulls": pulls, "bytes_sent": sent,
               "bytes_sent_per_node": {"mean": round(sum(sent.values()) / len(sent)), "max": max(sent.values())}}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if len(docs) > 1:
        show_catalogue([json.loads(d) for d in docs], console)
    per_kwh = "" if doc["per_kwh_kgco2e"] is None else f", {doc['per_kwh_kgco2e']} kgCO2e/kWh"
    console.print(f"[green]done[/] in {elapsed:.1f} s: {doc['total_kgco2e']} kgCO2e{per_kwh} → {written[0]} "
                  f"(costs: {out / 'metrics.json'}; peak memory in all {metrics['peak_rss_mib_total']} MiB)")
    for bundle in write_bundles(state, cids, fed_file, out, None):  # after the coordinator stopped
        console.print(f"audit bundle: {bundle}")
    return doc


def follow(channel, requester_id: str, cid: str, fed: Processes, console: Console, every: float = STATUS_SECONDS,
           show: float = 15.0) -> rpb.GetStatusResponse:
    """The calculation's progress as GetStatus tells the requester, a line every `show` seconds, until it
    ends. GetStatus counts every tier's requests at the coordinator: at a thousand organisations asking
    five times a second (the demo's pace) took a quarter of the coordinator's CPU."""
    began, shown = time.monotonic(), 0.0
    while True:
        fed.check_alive()
        try:
            st = requester.status(channel, requester_id, cid)
        except grpc.RpcError as exc:  # a coordinator busy beyond the call's deadline: ask again
            if exc.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                raise
            console.print(f"  status not answered ({exc.code().name}); asking again", highlight=False)
            time.sleep(every)
            continue
        now = time.monotonic() - began
        if st.state in requester.FINAL_STATES or now - shown >= show:
            shown = now
            label = S.Name(st.state).removeprefix("CALCULATION_STATE_").replace("_", " ").lower()
            tiers = " · tiers " + " ".join(f"{t.answered}/{t.declared}" for t in st.tiers) if st.tiers else ""
            console.print(f"  {now:7.1f} s  {cid[:8]} {label}: {st.requests_answered}/{st.requests_declared}{tiers}",
                          highlight=False)
        if st.state in requester.FINAL_STATES:
            return st
        time.sleep(every)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
