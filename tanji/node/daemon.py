"""The on-prem node: dials out to the coordinator, answers requests from its local data.

It never listens. It pulls its inbox in order, verifies every envelope and hands it to the
module for its job — key acceptance (keys), the request handler (requests, answering), dead
suppliers (fallbacks), the auditor (auditor) — then pushes what that stored (outbox). A
request it refuses by rule is answered with a signed REFUSAL carrying the rule's code.
Homomorphic work runs in a separate process (TenSEAL holds the GIL), so heartbeats keep flowing.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import grpc

from tanji.errors import TanjiError
from tanji.infra.party_client import PartyClient
from tanji.infra.runtime import he_worker_context, open_channel, plain_transport, private_folder, stop_on_signals
from tanji.infra.telemetry import TimedPool
from tanji.infra.workers import OnDemandWorkers
from tanji.node import customers, evidence, outbox
from tanji.node.auditor import EVIDENCE, audits, on_aggregate
from tanji.node.fallbacks import on_dead_supplier
from tanji.node.importer import load_current
from tanji.node.keys import binding, on_key
from tanji.node.policy import POLICY_FILE, Policy, load_policy
from tanji.node.requests import on_calculation_request, on_merged_request
from tanji.node.site import Site
from tanji.node.store import Handled, NodeStore
from tanji.protocol import commitment, messages
from tanji.protocol import envelope as env
from tanji.protocol.federation import ANCHOR_FILE, Federation, FederationFile
from tanji.protocol.identity import COORDINATOR_ID, check_calculation_id, is_calculation_id
from tanji.protocol.refusals import Refusal
from tanji.protocol.signing import SigningKey
from tanji.v1 import envelope_pb2 as epb

log = logging.getLogger("tanji.node")


class NoPolicy(TanjiError):
    """A node with no policy.toml, not told --answer-everyone: it does not serve."""
    exit_code = 2
MT = epb.MessageType

#: what each inbound message type is handed to; kept types are stored and need no answer
HANDLERS = {MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT: on_key, MT.MESSAGE_TYPE_CALCULATION_REQUEST: on_calculation_request,
            MT.MESSAGE_TYPE_MERGED_REQUEST: on_merged_request, MT.MESSAGE_TYPE_AGGREGATE: on_aggregate,
            MT.MESSAGE_TYPE_DEAD_SUPPLIER: on_dead_supplier}
KEPT = (MT.MESSAGE_TYPE_CONTRIBUTION, MT.MESSAGE_TYPE_RESULT, MT.MESSAGE_TYPE_REFUSAL,
        MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION,
        # the buyers' signed requests and declarations delivered with a merged request (tanji.node.buyers)
        MT.MESSAGE_TYPE_REQUEST, MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS)


class Watched:
    """A file whose change (or appearance) the node notices between pulls."""

    def __init__(self, path: Path):
        self.path = path
        self.stamp = self._stamp()

    def _stamp(self):
        try:
            st = self.path.stat()
            return st.st_ino, st.st_size, st.st_mtime_ns
        except OSError:
            return None

    def changed(self) -> bool:
        now = self._stamp()
        if now == self.stamp:
            return False
        self.stamp = now
        return True


class Node:
    def __init__(self, org: str, store: NodeStore, key: SigningKey, federation: Federation, channel: grpc.Channel,
                 policy: Policy | None = None, state: Path | None = None, pool: OnDemandWorkers | None = None):
        """`pool`: where homomorphic steps run; default a spawned HE worker of this node's own (`tanji
        simulate` hosts many nodes per process and gives them one shared in-process worker)."""
        current = load_current(store)
        if current is None:
            raise RuntimeError("no data imported: run `tanji node import` first")
        data, factors, version = current
        if data.org != org:
            raise RuntimeError(f"imported data is for {data.org!r}, this node is {org!r}")
        policy = policy or Policy()
        if policy.approved_customers is None:
            log.warning("%s has no approved-customer list (%s): it answers every buyer", org, POLICY_FILE)
        if pool is None:
            pool = OnDemandWorkers(lambda: TimedPool(max_workers=1, mp_context=he_worker_context()))
        self.site = Site(org=org, key=key, store=store, data=data, factors=factors, version=version,
                         federation=federation, client=PartyClient(org, key, channel),
                         pool=pool,
                         policy=policy,
                         state=state if state is not None else Path("."))
        self.federation_file: FederationFile | None = None  #: set by `serve`: the list, reloaded when it changes
        self.policy_file: Watched | None = Watched(state / POLICY_FILE) if state is not None else None
        #: `tanji calc start` writes its commitment here before it sends the request: this node's own
        #: calculation is coming, so its HE worker starts while the key holder makes the key
        self.commitments: Watched | None = Watched(commitment.folder(state)) if state is not None else None
        self._ticking = threading.Lock()

    @property
    def org(self) -> str:
        return self.site.org

    @property
    def store(self) -> NodeStore:
        return self.site.store

    @property
    def client(self) -> PartyClient:
        return self.site.client

    @property
    def pool(self) -> OnDemandWorkers:
        return self.site.pool

    @property
    def stop(self):
        return self.site.client.stop

    def registration(self) -> epb.Registration:
        """Who this node is: its key, its roles, its products, the supply edges its data names and the
        customers its policy approves (tanji.node.customers)."""
        return customers.registration(self.org, self.site.key, self.site.data, self.site.policy)

    def register(self, coordinator: str) -> None:
        reg = self.registration()
        resp = self.client.register_with_retry(reg, coordinator)
        if self.policy_file is not None:
            customers.keep(self.site.state, resp)
            self._note_registered_policy()
        log.info("%s registered (%d products, data version %d)", self.org, len(reg.product_ids), self.site.version)

    def _note_registered_policy(self) -> None:
        """STATE/registered-policy: the SHA-256 of the policy.toml the coordinator now routes by (what
        a script that wrote the policy, `tanji demo` among them, waits for)."""
        assert self.policy_file is not None
        try:
            digest = hashlib.sha256(self.policy_file.path.read_bytes()).hexdigest()
        except OSError:
            digest = "none"
        tmp = self.site.state / "registered-policy.tmp"
        tmp.write_text(digest + "\n")
        tmp.replace(self.site.state / "registered-policy")

    def watch_files(self, every: float = 1.0) -> threading.Thread:
        """The list and policy.toml are looked at every `every` seconds, not only between pulls: a pull
        may wait at the coordinator for seconds (long poll), a new policy should not."""
        def loop() -> None:
            while not self.stop.wait(every):
                try:
                    self.tick()
                except Exception:
                    log.exception("watching the federation list and policy.toml")

        thread = threading.Thread(target=loop, name="file-watch", daemon=True)
        thread.start()
        return thread

    def tick(self) -> None:
        """The federation list and policy.toml as they are on disk now (each verified on load); a
        changed policy is registered again (the customers it approves). From the serving loop and
        the file watcher, one at a time."""
        with self._ticking:
            self._tick()

    def _tick(self) -> None:
        if self.commitments is not None and self.commitments.changed() and self.commitments.stamp is not None:
            self.site.pool.warm()
        if self.federation_file is not None:
            self.site.federation = self.federation_file.current()
        if self.policy_file is not None and self.policy_file.changed():
            try:
                self.site.policy = load_policy(self.site.state)
            except TanjiError as exc:
                log.error("keeping the policy in force: %s", exc)
                return
            log.warning("%s: policy reloaded", self.org)
            self.register_again("the new policy")

    def run(self) -> None:
        self.watch_files()
        self.client.serve(self.client.messages, self.handle, self.store.cursor, self.store.set_cursor,
                          flush=self.flush)
        self.pool.shutdown(cancel_futures=True)

    def push_pending(self) -> None:
        outbox.push_pending(self.store, self.client)

    def flush(self) -> None:
        self.tick()
        self.reload_data()
        self.push_pending()

    def reload_data(self) -> None:
        """Data imported while the node runs (`tanji node import`) is answered from, and the supply edges
        it implies are registered, from the next pull on."""
        latest = self.store.latest_data()
        if latest is None or latest.version == self.site.version:
            return
        current = load_current(self.store)
        if current is None or current[0].org != self.org:
            return
        self.site.data, self.site.factors, self.site.version = current
        log.warning("%s: data version %d in force", self.org, self.site.version)
        self.register_again(f"data version {self.site.version}")

    def register_again(self, what: str) -> None:
        """Register what changed; a failure is logged (the node answers under it all the same, and
        registers again at its next start)."""
        try:
            resp = self.client.register(self.registration())
        except (grpc.RpcError, RuntimeError) as exc:
            log.warning("registering %s failed (%s)", what, exc)
            return
        if self.policy_file is not None:
            customers.keep(self.site.state, resp)
            self._note_registered_policy()

    def handle(self, envelope: epb.Envelope) -> None:
        self.tick()  # a merged request is answered under the list and the policy on disk now
        try:
            opened = env.open_envelope(envelope, self.site.key_of)
        except env.EnvelopeRefused as exc:
            log.error("dropped an envelope: %s", exc)
            return
        mt = opened.body.message_type
        named = is_calculation_id(opened.body.calculation_id)  # else refused below, by code, and kept nowhere
        if named and mt in EVIDENCE and audits(self.store, self.org, opened.body.calculation_id):
            evidence.keep(self.store, opened)  # what the attestation checks completeness against (on_aggregate)
            if opened.body.receiver != self.org:
                return
        with self.store.sessions() as s:
            if s.get(Handled, opened.hash) is not None:
                return  # delivered twice: answered already
        try:
            check_calculation_id(opened.body.calculation_id)  # never a file name (tanji.protocol.identity)
            if mt in HANDLERS:
                HANDLERS[mt](self.site, opened)
            elif mt in KEPT:
                evidence.keep(self.store, opened)
            else:
                log.warning("ignoring %s", opened.type_name)
        except Refusal as exc:
            log.error("%s refuses %s of %s: %s", self.org, opened.type_name, opened.body.calculation_id, exc.message)
            self.refuse(opened, exc)

    def refuse(self, opened: env.Opened, refusal: Refusal) -> None:
        """Answer with a signed REFUSAL, and note the code: a refused request used nothing."""
        cid = opened.body.calculation_id
        sealed = env.seal(messages.refusal(refusal.code, refusal.message, calculation_id=cid, sender=self.org,
                                           receiver=COORDINATOR_ID, binding=binding(self.site, cid),
                                           answers=opened.hash), self.site.key)
        with self.store.sessions.begin() as s:
            s.add(Handled(hash=opened.hash, calculation_id=cid, kind=opened.type_name,
                          outcome=f"refused: {refusal.message}", refusal_code=refusal.code))
            outbox.queue(s, cid, opened.hash, sealed)


def serve(org: str, state: Path, federation_file: Path, coordinator: str,
          data_file: Path | None = None, factors_file: Path | None = None, tls_dir: Path | None = None, *,
          insecure: bool = False, answer_everyone: bool = False, trust: Path | None = None) -> None:
    """Import (if files are given), register, then run until SIGTERM/SIGINT.

    A refused data file raises DataError/DataErrors before anything is stored or
    any connection is made: the node does not serve and says why. So does a node without
    policy.toml, unless `answer_everyone` (the operator's explicit choice to answer every buyer),
    and plain gRPC to a coordinator beyond loopback, unless `insecure`.
    """
    from tanji.node.importer import import_files

    if tls_dir is None:
        plain_transport(coordinator, insecure=insecure, listening=False)
    private_folder(state)  # raw data, salts and openings: the node's alone (0700)
    policy = load_policy(state)
    store = NodeStore(state / "node.db")
    if data_file is not None and factors_file is not None:  # the CLI takes both or neither
        nd, _, version = import_files(store, data_file, factors_file, policy.ceilings)
        log.info("imported %s as data version %d", data_file, version)
    if not (state / POLICY_FILE).exists() and not answer_everyone:
        raise NoPolicy(f"{state / POLICY_FILE} is missing: a node answers only under its owner's policy "
                       "(approved_customers, min_contributors, rate_limit); write one, or start with "
                       "--answer-everyone to answer every buyer on purpose")
    listed = FederationFile(federation_file, trust or state / ANCHOR_FILE, state)  # signed, not older: else named
    key = SigningKey.load_or_create(state / "envelope-key.pem")
    channel = open_channel(coordinator, tls_dir, org, insecure=insecure)
    node = Node(org, store, key, listed.federation, channel, policy, state=state)
    node.federation_file = listed
    stop_on_signals(node.stop)
    node.register(coordinator)
    (state / "ready").write_text("registered\n")
    node.run()
