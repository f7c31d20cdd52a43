"""Many organisations' nodes in one process (issue #14 item 4: a thousand organisations on one
machine, `tanji simulate`).

Each hosted node is the node of `tanji node serve` — `tanji.node.daemon.Node`, its own state
folder, store, keys, policy and federation list, the same gRPC calls to the same coordinator —
but what a node process holds once per node is held here once per process:

* one channel to the coordinator (the party is named in every call and every envelope is signed
  with its own key, as over a channel of its own);
* one HE worker, a thread in this process: TenSEAL holds the GIL, so the process does one
  homomorphic step at a time, and a pool of processes, one per core, keeps every core busy; the
  public context a calculation's first node loads serves every other node here (tanji.he.tasks);
* one pull loop instead of a long poll per node: a thousand parties cannot each hold one of the
  coordinator's waiting slots (tanji.coordinator.doorbell), so each node's inbox is pulled
  without waiting, at once again after it delivered something, then backing off up to a cap that
  keeps the process's pulls near `PULLS_PER_SECOND` however many nodes it hosts; pulls of due
  nodes go out together, their answers are handled on a few threads;
* one heartbeat sweep and one sweep of the files each node watches (policy.toml, the list);
* one copy of each calculation's public objects (its context, the key holder's Enc(1)), pulled
  by the first node that needs it and checked against its name, instead of one per node;
* stores that commit without waiting for the disk (`synchronous=NORMAL`; WAL keeps them whole
  after a crash of the process): one machine hosts every party, so a power cut ends the whole
  simulation anyway, and a thousand fsyncs per tier were its largest system time (decision 0021).

A node whose handler raises stops the whole process, as it would stop its own daemon.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc

from tanji.infra.objectstore import HeldObjects
from tanji.infra.runtime import open_channel, private_folder
from tanji.infra.workers import OnDemandWorkers, release_freed_memory
from tanji.node.daemon import Node, NoPolicy
from tanji.node.importer import import_files
from tanji.node.policy import POLICY_FILE, load_policy
from tanji.node.store import NodeStore
from tanji.protocol import limits
from tanji.protocol.federation import ANCHOR_FILE, FederationFile
from tanji.protocol.signing import SigningKey
from tanji.v1 import node_pb2 as npb

log = logging.getLogger("tanji.host")

#: pulls per second one process sends for its idle nodes: an idle node's back-off doubles from
#: POLL_STEP_SECONDS up to (its process's nodes / PULLS_PER_SECOND), at least POLL_CAP_MIN_SECONDS, so the
#: polling a process costs the coordinator does not grow with the organisations it hosts
PULLS_PER_SECOND = float(os.environ.get("TANJI_SIMULATE_PULLS_PER_SECOND", "40"))
POLL_CAP_MIN_SECONDS = 1.0
POLL_STEP_SECONDS = 0.05
#: pulls (and heartbeats) in flight at once from one process: the coordinator serves 64 calls at a time
PULLS_AT_ONCE = 16
#: threads handling delivered envelopes (downloads, checks, uploads; HE steps queue for the one worker)
HANDLERS = 6
#: SQLite's page cache per hosted node's store (KiB): its default 2 MiB, held by each of hundreds of
#: stores whose calculation key alone is 2 MiB of context, is most of a pool process's memory
STORE_CACHE_KIB = 256
#: the files a node watches are looked at this often; pending uploads retried this often
TICK_SECONDS = 1.0
FLUSH_SECONDS = 10.0


@dataclass(frozen=True)
class Member:
    """One hosted organisation: its id, its state folder and the files it imports at start."""
    org: str
    state: Path
    data: Path
    factors: Path


@dataclass
class Hosted:
    node: Node
    cursor: int = 0         #: the node's acknowledged cursor (its store's), kept here to pull without a read
    due: float = 0.0
    backoff: float = 0.0
    busy: bool = False


class Host:
    def __init__(self, members: list[Member], federation: Path, coordinator: str, lease_seconds: float,
                 pulls_per_second: float = PULLS_PER_SECOND):
        self.members = members
        self.federation = federation
        self.coordinator = coordinator
        self.heartbeat_every = max(1.0, lease_seconds / 4)
        self.pulls_per_second = pulls_per_second
        self.poll_cap = POLL_CAP_MIN_SECONDS
        self.stop = threading.Event()
        self.failure: str | None = None
        self.channel = open_channel(coordinator)  # plain gRPC on loopback only (refused otherwise)
        #: the one HE worker of this process, shared by its nodes (a thread: no process per node)
        self.he = OnDemandWorkers(lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="he"),
                                  idle_seconds=float("inf"))
        self.public_objects = HeldObjects(keep=8)
        self.hosted: list[Hosted] = []
        self._lock = threading.Lock()
        self.pulls = 0  #: pulls sent, for the run's metrics

    # ------------------------------------------------------------------ start
    def start_node(self, m: Member) -> Node:
        """What `tanji node serve --data --factors` does before it serves: import, check the policy and
        the list, register, write STATE/ready."""
        private_folder(m.state)
        policy = load_policy(m.state)
        store = NodeStore(m.state / "node.db")
        small_cache(store)
        import_files(store, m.data, m.factors, policy.ceilings)
        if not (m.state / POLICY_FILE).exists():
            raise NoPolicy(f"{m.state / POLICY_FILE} is missing: a hosted node answers only under its policy")
        listed = FederationFile(self.federation, m.state / ANCHOR_FILE, m.state)
        key = SigningKey.load_or_create(m.state / "envelope-key.pem")
        node = Node(m.org, store, key, listed.federation, self.channel, policy, state=m.state, pool=self.he)
        node.federation_file = listed
        node.client.public_objects = self.public_objects
        node.register(self.coordinator)
        (m.state / "ready").write_text("registered\n")
        return node

    def start(self) -> None:
        for m in self.members:
            (m.state / "ready").unlink(missing_ok=True)
        for m in self.members:
            node = self.start_node(m)
            self.hosted.append(Hosted(node, cursor=node.store.cursor()))
        self.poll_cap = max(POLL_CAP_MIN_SECONDS, len(self.hosted) / self.pulls_per_second)
        log.warning("hosting %d nodes; an idle node is pulled every %.1f s", len(self.hosted), self.poll_cap)

    # ------------------------------------------------------------------ serve
    def run(self) -> None:
        """Until stopped (SIGTERM/SIGINT) or a node fails: sweeps on their threads, pulls here."""
        threads = [threading.Thread(target=self._heartbeat_sweep, name="heartbeats", daemon=True),
                   threading.Thread(target=self._every, args=(TICK_SECONDS, self._ticks), name="ticks", daemon=True),
                   threading.Thread(target=self._every, args=(FLUSH_SECONDS, self._flushes), name="flushes",
                                    daemon=True),
                   threading.Thread(target=self._trims, name="trims", daemon=True)]
        for t in threads:
            t.start()
        handlers = ThreadPoolExecutor(max_workers=HANDLERS, thread_name_prefix="handler")
        try:
            while not self.stop.is_set():
                self._pull_round(handlers)
        finally:  # what was pulled and not handled is not acknowledged: delivered again at the next start
            handlers.shutdown(wait=True, cancel_futures=True)
            self.he.shutdown(wait=False, cancel_futures=True)

    def _every(self, seconds: float, sweep) -> None:
        while not self.stop.wait(seconds):
            for h in list(self.hosted):
                if self.stop.is_set():
                    return
                try:
                    sweep(h)
                except Exception:
                    log.exception("%s: %s", h.node.org, getattr(sweep, "__name__", "sweep"))

    def _trims(self) -> None:
        """What the nodes' answers freed, handed back to the system every FLUSH_SECONDS: one HE worker
        loads and frees thousands of ciphertexts here, and glibc would keep the peak resident."""
        while not self.stop.wait(FLUSH_SECONDS):
            release_freed_memory()

    def _heartbeat_sweep(self) -> None:
        """Every node's heartbeat, PULLS_AT_ONCE at a time: one after another, a sweep of hundreds of
        nodes against a busy coordinator outlasted the lease (and the nodes were declared dead)."""
        with ThreadPoolExecutor(max_workers=PULLS_AT_ONCE, thread_name_prefix="heartbeat") as beats:
            while not self.stop.wait(self.heartbeat_every):
                list(beats.map(lambda h: h.node.client.heartbeat(), list(self.hosted)))

    @staticmethod
    def _ticks(h: Hosted) -> None:
        h.node.tick()

    def _flushes(self, h: Hosted) -> None:
        with self._lock:
            if h.busy:
                return
        h.node.flush()

    def _pull_round(self, handlers: ThreadPoolExecutor) -> None:
        now = time.monotonic()
        with self._lock:
            due = [h for h in self.hosted if not h.busy and h.due <= now][:PULLS_AT_ONCE]
            later = min((h.due for h in self.hosted if not h.busy), default=now + self.poll_cap)
        if not due:
            self.stop.wait(min(max(later - now, 0.01), POLL_STEP_SECONDS))
            return
        calls: list[tuple[Hosted, Future]] = []
        for h in due:
            request = npb.PullMessagesRequest(party_id=h.node.org, ack_cursor=h.cursor, wait_ms=0)
            calls.append((h, h.node.client.node_service.PullMessages.future(
                request, timeout=limits.RPC_TIMEOUT_SECONDS)))
        self.pulls += len(calls)
        for h, call in calls:
            try:
                resp = call.result()
            except grpc.RpcError as exc:
                log.warning("%s: coordinator unreachable (%s); retrying", h.node.org, exc.code())
                self._idle(h, 1.0)
                continue
            if not resp.messages:
                self._idle(h, min(self.poll_cap, max(POLL_STEP_SECONDS, h.backoff * 2)))
                continue
            with self._lock:
                h.busy = True
            handlers.submit(self._handle, h, [(m.sequence, m.envelope) for m in resp.messages])

    def _idle(self, h: Hosted, backoff: float) -> None:
        with self._lock:
            h.backoff = backoff
            h.due = time.monotonic() + backoff

    def _handle(self, h: Hosted, items) -> None:
        """As `PartyClient.serve`: each item handled, then acknowledged; then what it stored is pushed."""
        retry = False
        try:
            for sequence, envelope in items:
                if self.stop.is_set():
                    return
                h.node.handle(envelope)
                h.node.store.set_cursor(sequence)
                h.cursor = sequence
            h.node.push_pending()
        except grpc.RpcError as exc:  # as `PartyClient.serve`: unacknowledged, delivered again; retry later
            log.warning("%s: coordinator unreachable (%s); retrying", h.node.org, exc.code())
            retry = True
        except Exception as exc:  # a node daemon would exit on this: so does the process hosting it
            log.exception("%s failed", h.node.org)
            self.failure = f"{h.node.org}: {exc}"
            self.stop.set()
        finally:
            with self._lock:
                h.busy = False
                h.backoff = 0.0
                h.due = time.monotonic() + (1.0 if retry else 0.0)


def small_cache(store: NodeStore) -> None:
    """Every connection of `store` from now on keeps at most STORE_CACHE_KIB of pages cached and
    commits without an fsync (WAL, synchronous=NORMAL: whole after a process crash; see the module)."""
    from sqlalchemy import event

    @event.listens_for(store.engine, "connect")
    def _cache(conn, _record):  # pragma: no cover - runs on every new connection
        cur = conn.cursor()
        cur.execute(f"PRAGMA cache_size=-{STORE_CACHE_KIB}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    store.engine.dispose()  # the connection opened to create the tables: the next one is small


def main(argv: list[str]) -> int:
    """`python -m tanji.node.hosting SPEC.json`: SPEC names the coordinator, the federation list, the
    lease and the members (org, state, data, factors); `tanji simulate` writes it."""
    from tanji.infra import observability

    spec = json.loads(Path(argv[0]).read_text())
    observability.setup(spec.get("name", "host"), "node")
    members = [Member(m["org"], Path(m["state"]), Path(m["data"]), Path(m["factors"])) for m in spec["members"]]
    host = Host(members, Path(spec["federation"]), spec["coordinator"], float(spec["lease_seconds"]),
                float(spec.get("pulls_per_second", PULLS_PER_SECOND)))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: host.stop.set())
    host.start()
    Path(spec["ready"]).write_text("ready\n")
    host.run()
    Path(spec["pulls"]).write_text(f"{host.pulls}\n")
    if host.failure is not None:
        log.error("stopped: %s", host.failure)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - a process `tanji simulate` starts
    sys.exit(main(sys.argv[1:]))
