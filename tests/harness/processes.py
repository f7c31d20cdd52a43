"""Federations of real processes on loopback, and what tests read from their stores.

`LocalFederation` is one process per party (`tanji coordinator|keyholder|node serve`), state
on disk, onboarded as `tanji demo` onboards — a federation a test can hurt: kill a party,
restart it, arm a fault point, share one PostgreSQL database between coordinator replicas.
`store_snapshot`/`pg_snapshot` and `assert_nothing_lost` read the coordinator's committed
state; `assert_matches_reference` compares a result with the plaintext reference.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import grpc
import psycopg

from tanji.cli import requester
from tanji.cli.demo import Processes, _wait_for, onboard
from tanji.methodology.graph import build_graph, reference_result
from tanji.methodology.loader import load_data_dir
from tanji.protocol import limits
from tanji.v1 import requester_pb2 as rpb
from tests.harness.keys import KEY_HOLDER, party_key
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET

S = rpb.CalculationState
#: a lease long enough that a node restarted within it is not declared dead
LEASE = 60.0


def wait_for_file(path: Path, procs: Processes, what: str) -> str:
    """The contents of `path` once a party wrote it (a port, `ready`), failing if a party died."""
    return _wait_for(path, procs, what)


class LocalFederation:
    """One process per party of the chain in `data_dir`; the requester is `target`'s organisation.

    `policies`: policy.toml text per organisation; `fault_point`: TANJI_FAULT_POINT armed in the
    coordinator alone; `database`: an SQLAlchemy URL the `replicas` coordinators share (nodes
    split between them, the key holder on the last); `watch`: waiting also checks that no party
    process died."""

    def __init__(self, root: Path, policies: dict[str, str] | None = None, data_dir: Path = EXAMPLE_CHAIN,
                 target: tuple[str, str] = EXAMPLE_TARGET, fault_point: str = "", lease: float = LEASE,
                 database: str | None = None, replicas: int = 1, watch: bool = False):
        self.data = load_data_dir(data_dir)
        self.data_dir, self.target, self.lease, self.database, self.watch = data_dir, target, lease, database, watch
        self.state = root / "state"
        self.fed_file, self.federation = onboard(self.state, self.data.nodes)
        for org, text in (policies or {}).items():
            (self.state / org / "policy.toml").write_text(text)
        self.procs = Processes(self.state)
        names = ["coordinator"] + [f"coordinator-{i + 1}" for i in range(1, replicas)]
        self.addresses = [self.start_coordinator(fault_point=fault_point, name=n) for n in names]
        self.address = self.addresses[0]
        self.procs.start_keyholder(self.fed_file, self.addresses[-1])
        for i, org in enumerate(sorted(self.data.nodes)):
            self.start_node(org, self.addresses[i % len(self.addresses)])
        for org in self.data.nodes:
            wait_for_file(self.state / org / "ready", self.procs, f"{org} to register")

    def start_coordinator(self, listen: str = "127.0.0.1:0", fault_point: str = "", name: str = "coordinator") -> str:
        """(Re)start a coordinator on its state; `fault_point` arms tanji/infra/faults.py in it alone."""
        saved = os.environ.pop("TANJI_FAULT_POINT", None)
        if fault_point:
            os.environ["TANJI_FAULT_POINT"] = fault_point
        try:
            return self.procs.start_coordinator(self.fed_file, listen=listen, lease_seconds=self.lease,
                                                database=self.database, name=name)
        finally:
            os.environ.pop("TANJI_FAULT_POINT", None)
            if saved is not None:
                os.environ["TANJI_FAULT_POINT"] = saved

    def restart_coordinator(self) -> None:
        self.start_coordinator(listen=f"127.0.0.1:{self.address.rsplit(':', 1)[1]}")

    def start_node(self, org: str, address: str | None = None) -> None:
        self.procs.start_node(org, self.data.nodes[org].file, self.data.factors.file, self.fed_file,
                              address or self.address)

    def channel(self, replica: int = 0) -> grpc.Channel:
        return grpc.insecure_channel(self.addresses[replica], options=limits.GRPC_OPTIONS)

    def spec(self) -> requester.CalculationSpec:
        org, product = self.target
        return requester.spec_for(org, self.data.nodes[org].model, self.data.factors, product, state=self.state / org,
                                  depth_bound=build_graph(self.data, self.target).depth(), key_holder=KEY_HOLDER,
                                  deadline_seconds=600)

    def start_calculation(self, spec: requester.CalculationSpec | None = None, replica: int = 0) -> str:
        return requester.start(self.channel(replica), party_key(self.state, self.target[0]), spec or self.spec())

    def wait(self, cid: str, predicate, replica: int = 0, timeout: float = 600) -> rpb.GetStatusResponse:
        end, st = time.monotonic() + timeout, None
        while time.monotonic() < end:
            if self.watch:
                self.procs.check_alive()  # an outage must not crash any party
            try:  # as the operator reads it (no party: the whole failure, whoever refused; plain loopback only)
                st = requester.status(self.channel(replica), "", cid)
                if predicate(st):
                    return st
            except grpc.RpcError:
                pass  # the coordinator is restarting, or its database is down
            time.sleep(0.1)
        raise AssertionError(f"timed out; last status {st}")

    def finish(self, cid: str, replica: int = 0) -> rpb.GetStatusResponse:
        """The calculation's final status."""
        return self.wait(cid, lambda st: st.state in requester.FINAL_STATES, replica)

    def result(self, cid: str, replica: int = 0) -> dict[str, Any]:
        return json.loads(requester.result(self.channel(replica), self.target[0], cid, self.federation))

    def reap_coordinator(self, timeout: float = 600) -> int:
        """Wait for a coordinator armed with a fault point to die; clear its process group."""
        proc = self.procs.procs.pop("coordinator")
        code = proc.wait(timeout=timeout)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return code

    def log(self, party: str = "coordinator") -> str:
        return (self.state / party / "log.txt").read_text(errors="replace")

    def stop(self) -> None:
        self.procs.stop()


# ---------------------------------------------------------------------------- results
def assert_matches_reference(result: dict[str, Any], data_dir: Path = EXAMPLE_CHAIN,
                             target: tuple[str, str] = EXAMPLE_TARGET, rel: float = 1e-5) -> None:
    ref = json.loads(reference_result(load_data_dir(data_dir), target).to_json())
    assert abs(result["total_kgco2e"] - ref["total_kgco2e"]) / ref["total_kgco2e"] < rel
    for stage, value in ref["stages_kgco2e"].items():
        assert abs(result["stages_kgco2e"][stage] - value) <= rel * max(value, 1e-3 * ref["total_kgco2e"]), stage
    assert result["warnings_count"] == ref["warnings_count"]


# ---------------------------------------------------------------------------- the coordinator's store
#: coordinator tables whose rows never change once committed (primary key first)
APPEND_ONLY = {"envelopes": "hash, calculation_id, message_type, sender, receiver, body, signature",
               "log_leaves": "\"index\", envelope_hash, leaf_hash", "tree_heads": "tree_size, root, signature",
               "deliveries": "sequence, party, envelope_hash",
               "key_holder_work": "sequence, party, kind, calculation_id",
               "calc_requests": "hash, buyer, supplier, product, weight_hash", "attestations": "hash, auditor",
               "calc_fallbacks": "hash, request_hash"}
#: rows that move forward; a column set once keeps its value
PROGRESSING = {"calculations": ("id", "key_announcement_hash, context_hash, aggregate_hash, result_hash, request_hash"),
               "calc_pairs": ("calculation_id, org, product",
                              "merged_request_hash, declaration_hash, contribution_hash")}


def _tables(con: Any) -> dict[str, Any]:
    snap: dict[str, Any] = {t: {row[0]: row for row in con.execute(f"SELECT {cols} FROM {t}")}
                            for t, cols in APPEND_ONLY.items()}
    for t, (key, cols) in PROGRESSING.items():
        n = len(key.split(","))
        snap[t] = {row[:n]: row[n:] for row in con.execute(f"SELECT {key}, {cols} FROM {t}")}
    return snap


def store_snapshot(state: Path) -> dict[str, Any]:
    """The coordinator's committed state on SQLite: its tables (read-only) and its objects' names."""
    con = sqlite3.connect(f"file:{state / 'coordinator' / 'coordinator.db'}?mode=ro", uri=True)
    try:
        snap = _tables(con)
    finally:
        con.close()
    snap["objects"] = {p.name for p in (state / "coordinator" / "objects").rglob("*") if p.is_file()}
    return snap


def pg_connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def pg_snapshot(url: str) -> dict[str, Any]:
    """The coordinator's committed tables on PostgreSQL, read in one snapshot, and its objects' names."""
    with pg_connect(url) as con:
        con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snap = _tables(con)
        snap["objects"] = {bytes(h).hex() for (h,) in con.execute("SELECT hash FROM objects")}
        snap["states"] = dict(con.execute("SELECT id, state FROM calculations").fetchall())
    return snap


def assert_nothing_lost(before: dict[str, Any], after: dict[str, Any], cid: str) -> None:
    """Every row committed before the kill is still there, unchanged; the log only grew; one answer each."""
    for t in APPEND_ONLY:
        lost = {k: v for k, v in before[t].items() if after[t].get(k) != v}
        assert not lost, f"{t}: {len(lost)} committed row(s) lost or changed by the restart"
    for t in PROGRESSING:
        for k, cols in before[t].items():
            assert k in after[t], f"{t} {k} lost"
            assert all(b is None or b == a for b, a in zip(cols, after[t][k], strict=True)), \
                f"{t} {k}: a set column changed"
    assert before["objects"] <= after["objects"], "objects lost"
    leaves = sorted(after["log_leaves"].values())
    assert [leaf[0] for leaf in leaves] == list(range(len(leaves)))  # the log stays gapless and append-only
    kinds = [e[2] for e in after["envelopes"].values() if e[1] == cid]
    pairs = {k: v for k, v in after["calc_pairs"].items() if k[0] == cid}
    assert kinds.count("MESSAGE_TYPE_CONTRIBUTION") == len(pairs)  # one per product reached, none twice
    assert {v[2] for v in pairs.values()} == {e[0] for e in after["envelopes"].values()
                                              if e[1] == cid and e[2] == "MESSAGE_TYPE_CONTRIBUTION"}
    for once in ("MESSAGE_TYPE_KEY_ANNOUNCEMENT", "MESSAGE_TYPE_AGGREGATE", "MESSAGE_TYPE_RESULT"):
        assert kinds.count(once) == 1, once
