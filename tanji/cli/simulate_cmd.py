"""`tanji simulate`: a whole federation on one machine at scale (issue #14 item 4) — the coordinator
and the key holder as separate processes exactly as `tanji demo` starts them, after the same
onboarding through the registry, but every organisation's node hosted in a pool of a few worker
processes (tanji.node.hosting): the same node code and the same gRPC, without a process and an HE
worker per organisation. Writes OUT/result.json, OUT/metrics.json and OUT/bundle.tar as the demo does.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import grpc
import typer
from rich.console import Console

from tanji.cli import requester
from tanji.cli.common import DataDirArg, fail, stderr
from tanji.cli.demo import (
    COORDINATOR,
    KEY_HOLDER,
    DemoFailed,
    Processes,
    _terminate,
    _wait_for,
    _wait_for_text,
    approve_customers,
    closed_policy,
    onboard,
)
from tanji.errors import TanjiError
from tanji.infra import lifeline
from tanji.infra import metrics as metrics_
from tanji.infra.runtime import private_folder
from tanji.methodology.graph import build_graph, parse_target
from tanji.methodology.loader import load_data_dir
from tanji.protocol import limits
from tanji.protocol.signing import SigningKey
from tanji.v1 import requester_pb2 as rpb

S = rpb.CalculationState
#: a hosted node's lease: long, since a pool process heartbeats its nodes one after another (a quarter of
#: it apart) while it also does their homomorphic work; nobody is offline in a simulation
SIMULATE_LEASE_SECONDS = 240.0
MAX_WORKERS = 64


class SimulateRefused(TanjiError):
    """Bad arguments to `tanji simulate` (exit 2)."""
    exit_code = 2


def pools(orgs: list[str], workers: int) -> list[list[str]]:
    """Organisations dealt round robin to the pool processes: each tier spread over every process."""
    return [orgs[i::workers] for i in range(min(workers, len(orgs)))]


def check_arguments(data_dir: Path, products: list[str], workers: int):
    """Everything refusable before a process starts: the folder, the one product, the worker count."""
    if not 1 <= workers <= MAX_WORKERS:
        raise SimulateRefused(f"--workers {workers}: between 1 and {MAX_WORKERS} pool processes")
    if len(products) != 1:
        raise SimulateRefused(f"--product given {len(products)} times: tanji simulate calculates one target product")
    data = load_data_dir(data_dir)  # a missing folder or bad data: refused by name
    target = parse_target(products[0])
    graph = build_graph(data, target)  # an unknown organisation or product: refused by name
    return data, target, graph


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
                                       env=lifeline.child_environment(), start_new_session=True)
    return ready


def run_simulate(data_dir: Path, products: list[str], out: Path, console: Console, workers: int | None = None,
                 deadline_seconds: float = 3600.0) -> dict:
    workers = workers if workers is not None else (os.cpu_count() or 1)
    data, target, graph = check_arguments(data_dir, products, workers)
    depth_bound = graph.depth()
    state = out / "state"
    began = time.monotonic()
    fed_file, federation = onboard(state, data.nodes)
    for org in data.nodes:
        closed_policy(state, org)
    dealt = pools(sorted(data.nodes), workers)
    console.print(f"[bold]tanji simulate[/]: {len(data.nodes)} organisations in {len(dealt)} pool processes, "
                  f"target {products[0]}, depth bound {depth_bound}; loopback [yellow]without TLS[/]")
    fed = Processes(state)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        address = fed.start_coordinator(fed_file, lease_seconds=SIMULATE_LEASE_SECONDS)
        fed.start_keyholder(fed_file, address)
        readies = []
        for i, orgs in enumerate(dealt):
            members = [{"org": org, "state": str(state / org), "data": data.nodes[org].file,
                        "factors": data.factors.file} for org in orgs]
            readies.append(start_host(fed, f"host-{i}", members, fed_file, address))
        for ready in readies:
            _wait_for(ready, fed, f"{ready.parent.name} to register its nodes", timeout=1800.0)
        channel = grpc.insecure_channel(address, options=limits.GRPC_OPTIONS)
        for org in data.nodes:  # each supplier approves the buyers that named it, as in the demo
            approve_customers(state, org, channel)
        for org in data.nodes:
            policy = hashlib.sha256((state / org / "policy.toml").read_bytes()).hexdigest()
            _wait_for_text(state / org / "registered-policy", policy, fed, f"node {org} to register its policy")
        setup = time.monotonic() - began
        spec = requester.spec_for(target[0], data.nodes[target[0]].model, data.factors, target[1],
                                  state=state / target[0], depth_bound=depth_bound, key_holder=KEY_HOLDER,
                                  deadline_seconds=deadline_seconds)
        started = time.monotonic()
        cid = requester.start(channel, SigningKey.load_or_create(state / target[0] / "envelope-key.pem"), spec)
        console.print(f"calculation {cid} started ({setup:.0f} s to onboard, start and register every party)")
        shown = -1
        while True:
            fed.check_alive()
            st = requester.status(channel, target[0], cid)
            if st.requests_answered != shown and (st.requests_answered - shown >= 50 or st.state
                                                  in requester.FINAL_STATES):
                shown = st.requests_answered
                console.print(f"  {time.monotonic() - started:6.1f} s  {shown}/{len(graph.order)} answered")
            if st.state in requester.FINAL_STATES:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        if st.state != S.CALCULATION_STATE_DONE:
            raise DemoFailed(f"calculation {cid} {S.Name(st.state)}: {st.failure_message}")
        result_bytes = requester.result(channel, target[0], cid, federation)
        (out / "result.json").write_bytes(result_bytes)
        doc = json.loads(result_bytes)
        peaks = {name: metrics_.peak_rss_mib(p.pid) for name, p in fed.procs.items()}
    finally:
        fed.stop(grace=30.0)
        signal.signal(signal.SIGTERM, previous)
    sent = {org: metrics_.node_bytes_sent(state / org / "node.db") for org in data.nodes}
    pulls = {f"host-{i}": _read_int(state / f"host-{i}" / "pulls") for i in range(len(dealt))}
    metrics = {"calculation": cid, "organisations": len(data.nodes), "workers": len(dealt),
               "seconds": round(elapsed, 2), "setup_seconds": round(setup, 2),
               "peak_rss_mib": peaks, "peak_rss_mib_total": round(sum(v or 0 for v in peaks.values()), 1),
               "pulls": pulls, "bytes_sent": sent,
               "bytes_sent_per_node": {"mean": round(sum(sent.values()) / len(sent)), "max": max(sent.values())}}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    per_kwh = "" if doc["per_kwh_kgco2e"] is None else f", {doc['per_kwh_kgco2e']} kgCO2e/kWh"
    console.print(f"[green]done[/] in {elapsed:.1f} s: {doc['total_kgco2e']} kgCO2e{per_kwh} → {out / 'result.json'} "
                  f"(costs: {out / 'metrics.json'}; peak memory in all {metrics['peak_rss_mib_total']} MiB)")
    from tanji.coordinator.bundle import write_bundle  # after the coordinator stopped: a quiet database

    write_bundle(state / COORDINATOR, cid, fed_file, out / "bundle.tar", None)
    console.print(f"audit bundle: {out / 'bundle.tar'}")
    return doc


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def simulate(
    data_dir: DataDirArg,
    product: Annotated[list[str], typer.Option("--product", help="target as ORG/PRODUCT (one, for now)")],
    out: Annotated[Path, typer.Option("--out", help="output folder: result.json, metrics.json, state/<party>/")] = \
        Path("out/simulate"),
    workers: Annotated[int | None, typer.Option(
        "--workers", help="pool processes hosting the nodes (default: the cores)")] = None,
    deadline: Annotated[float, typer.Option("--deadline", help="calculation deadline in seconds")] = 3600.0,
) -> None:
    """Run a whole federation of many organisations on this machine: coordinator and key holder as
    processes, every node hosted in a pool of N worker processes (loopback, no TLS); writes OUT/result.json."""
    try:
        run_simulate(data_dir, product, out, Console(), workers, deadline)
    except TanjiError as exc:
        fail(exc)
    except KeyboardInterrupt:
        stderr.print("interrupted: every process was stopped")
        raise typer.Exit(130) from None
