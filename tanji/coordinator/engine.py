"""The coordinator's protocol logic: registry, routing, merging, completeness, aggregation.

It verifies every envelope against the sender's registered key, stores the
exact bytes, and routes: requests are merged into one per (supplier, product)
once every buyer naming it has declared (DESIGN §2 step 4); contributions are
accepted exactly once; when every reached product has answered, it sums the
contributions homomorphically in a fixed order and asks the auditors to
attest. It holds public contexts only and never a secret key.

Replicas (PostgreSQL): several coordinator processes may share one database.
What one process guarded with its own lock is then guarded in the database:
each transition locks its calculation's row (SELECT ... FOR UPDATE) and
re-checks what it is about to do, sweeps claim calculations with SKIP LOCKED,
and the log, the delivery queues and the key holders' work are appended at
commit under the log head's row lock, so they grow in commit order. On SQLite
(one process) the row locks are no-ops and the process lock serialises as before.
"""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import event, func, select, text

from tanji.coordinator import db
from tanji.coordinator.dbguard import is_outage
from tanji.coordinator.faults import crash_point
from tanji.protocol.federation import Federation
from tanji.protocol import envelope as env
from tanji.protocol import limits as bounds
from tanji.protocol import merkle
from tanji.methodology import slots
from tanji.he import tasks as he_sum
from tanji.infra.objectstore import ObjectMissing, ObjectStore
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb

log = logging.getLogger("tanji.coordinator")
MT = epb.MessageType
S = rpb.CalculationState
COORDINATOR_ID = "coordinator"
STARTUP_LOCK_KEY = 0x74616E6A6901  # pg_advisory_xact_lock while a replica registers the federation's parties
FINAL_STATES = (S.Name(S.CALCULATION_STATE_DONE), S.Name(S.CALCULATION_STATE_FAILED),
                S.Name(S.CALCULATION_STATE_WITHHELD))
#: what an auditor needs, besides the contributions, to check that a calculation is complete
EVIDENCE = ("MESSAGE_TYPE_REQUEST", "MESSAGE_TYPE_MERGED_REQUEST", "MESSAGE_TYPE_DECLARATION_OF_REQUESTS",
            "MESSAGE_TYPE_DEAD_SUPPLIER")


class Refused(Exception):
    def __init__(self, code: int, message: str):
        self.code, self.message = code, message
        super().__init__(message)


def check_length(what: str, value: str, limit: int) -> None:
    """A wire string bound for a VARCHAR(limit) column: refused by name on every database
    (PostgreSQL enforces the length, SQLite would keep it silently)."""
    if len(value) > limit:
        raise Refused(cpb.REFUSAL_CODE_MALFORMED, f"{what} of {len(value)} characters; at most {limit}")


def outcome(h: bytes, status: int, code: int = 0, message: str = "") -> cpb.PushOutcome:
    return cpb.PushOutcome(message_hash=h, status=status, code=code, message=message)


@dataclass
class Limits:
    lease_seconds: float = 20
    heartbeat_seconds: int = 5
    max_clock_skew_seconds: int = 300
    max_open_calculations: int = bounds.MAX_OPEN_CALCULATIONS_PER_PARTY
    max_objects_per_calculation: int = bounds.MAX_OBJECTS_PER_CALCULATION


@dataclass
class _Appends:
    """What a transaction adds to the ordered, shared sequences; appended at its commit."""
    leaves: list = field(default_factory=list)      # (envelope hash, calculation id)
    deliveries: list = field(default_factory=list)  # (party, envelope hash)
    work: list = field(default_factory=list)        # (key holder, kind, calculation id)


def _appends(s) -> _Appends:
    return s.info.setdefault("tanji_appends", _Appends())


def _lock_head(s) -> db.LogHead:
    head = s.get(db.LogHead, 1, with_for_update=True, populate_existing=True)
    if head is None:
        raise RuntimeError("the coordinator database has no log head row: it was not migrated (tanji.coordinator.migrations)")
    return head


def _append_pending(s) -> None:
    """Append the transaction's log leaves, deliveries and work under the log head's row lock, which
    is held to the commit: every replica appends in commit order, so a party that has read its queue
    up to a sequence number never misses a row committed later with a smaller one."""
    a = s.info.get("tanji_appends")
    if a is None or not (a.leaves or a.deliveries or a.work):
        return
    head = _lock_head(s)
    for h, cid in a.leaves:
        s.add(db.LogLeaf(index=head.size, envelope_hash=h, calculation_id=cid, leaf_hash=merkle.leaf_hash(h)))
        head.size += 1
    s.flush()
    for party, h in a.deliveries:  # one by one: the sequence follows the order they were queued in
        s.add(db.Delivery(party=party, envelope_hash=h))
        s.flush()
    for party, kind, cid in a.work:
        s.add(db.KeyHolderWork(party=party, kind=kind, calculation_id=cid))
        s.flush()
    s.info["tanji_appends"] = _Appends()


class Coordinator:
    def __init__(self, sessions, objects: ObjectStore, key: SigningKey, federation: Federation,
                 limits: Limits | None = None):
        self.sessions = sessions
        self.objects = objects
        self.key = key
        self.federation = federation
        self.limits = limits or Limits()
        bind = sessions.kw.get("bind")
        #: several coordinator processes may share the database: row locks guard it, not this process
        self.shared = bind is not None and db.is_shared(bind)
        self.lock = nullcontext() if self.shared else threading.RLock()
        self._outage = False  # the database failed a sweep: grant leases again once it is back
        if not event.contains(sessions, "before_commit", _append_pending):
            event.listen(sessions, "before_commit", _append_pending)
        with self.sessions.begin() as s:
            if s.bind.dialect.name == "postgresql":  # replicas starting together take turns (not on the log
                # head: a start holding its requester's row waits for the head, this would wait for that row)
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": STARTUP_LOCK_KEY})
            for party in federation.parties.values():
                row = s.get(db.Party, party.id)
                if row is None:
                    s.add(db.Party(id=party.id, role=party.role, public_key=party.public_key))
                elif row.public_key != party.public_key:
                    row.public_key, row.role, row.registered = party.public_key, party.role, False
            # a (re)started coordinator heard nobody while it was down: every party gets a fresh
            # lease rather than being declared dead for the coordinator's own outage
            self._grant_leases(s)

    def _grant_leases(self, s) -> None:
        grace = db.now() + timedelta(seconds=self.limits.lease_seconds)
        for row in s.scalars(select(db.Party).where(db.Party.registered)):
            row.lease_expires_at = grace

    # ---------------------------------------------------------------- helpers
    def key_of(self, party: str) -> bytes | None:
        if party == COORDINATOR_ID:
            return self.key.public_raw
        p = self.federation.parties.get(party)
        return p.public_key if p else None

    def _store(self, s, opened: env.Opened) -> None:
        b = opened.body
        s.add(db.StoredEnvelope(hash=opened.hash, calculation_id=b.calculation_id, message_type=opened.type_name,
                                sender=b.sender, receiver=b.receiver, message_id=b.message_id,
                                body=opened.envelope.body, signature=opened.envelope.signature))
        s.flush()  # deliveries reference the envelope
        _appends(s).leaves.append((opened.hash, b.calculation_id))  # logged at commit (_append_pending)

    def _deliver(self, s, party: str, h: bytes) -> None:
        _appends(s).deliveries.append((party, h))

    def _work(self, s, party: str, kind: str, cid: str) -> None:
        _appends(s).work.append((party, kind, cid))

    def _seal(self, s, body: epb.EnvelopeBody) -> env.Opened:
        opened = env.parse_unverified(env.seal(body, self.key))
        self._store(s, opened)
        return opened

    def _body(self, calc: db.Calculation, mt: int, receiver: str) -> epb.EnvelopeBody:
        body = env.new_body(mt, calculation_id=calc.id, sender=COORDINATOR_ID, receiver=receiver)
        req = self._calc_request(calc)
        body.factor_set_hash = req.body.factor_set_hash
        body.method_profile.CopyFrom(req.body.method_profile)
        if calc.key_fingerprint:
            body.key_fingerprint = calc.key_fingerprint
            body.ckks_params_hash = calc.params_hash
        return body

    def _envelope(self, s, h: bytes) -> epb.Envelope:
        row = s.get(db.StoredEnvelope, h)
        return epb.Envelope(body=row.body, signature=row.signature)

    def envelope(self, s, h: bytes) -> epb.Envelope:
        """A stored envelope's exact signed bytes, inside the caller's session (bundle export)."""
        return self._envelope(s, h)

    def _calc_request(self, calc: db.Calculation) -> env.Opened:
        with self.sessions() as s:
            return env.parse_unverified(self._envelope(s, calc.request_hash))

    def _fail(self, s, calc: db.Calculation, code: int, message: str) -> None:
        if calc.state in (S.Name(S.CALCULATION_STATE_DONE), S.Name(S.CALCULATION_STATE_FAILED)):
            return
        calc.state = S.Name(S.CALCULATION_STATE_FAILED)
        calc.failure_code, calc.failure_message = code, message
        log.warning("calculation %s failed: %s", calc.id, message)

    def _verify(self, envelope: epb.Envelope) -> env.Opened:
        opened = env.open_envelope(envelope, self.key_of)
        created = opened.body.created_at.ToDatetime(tzinfo=timezone.utc)
        skew = abs((datetime.now(timezone.utc) - created).total_seconds())
        if skew > self.limits.max_clock_skew_seconds:
            raise env.EnvelopeRefused(cpb.REFUSAL_CODE_REPLAY, f"created_at is {skew:.0f} s away from now")
        return opened

    def log_leaf_hashes(self, s) -> list[bytes]:
        return list(s.scalars(select(db.LogLeaf.leaf_hash).order_by(db.LogLeaf.index)))

    def issue_tree_head(self, s) -> db.TreeHeadRow:
        """Sign the log's current head; every head must stay consistent with the later ones."""
        _append_pending(s)
        _lock_head(s)  # held to the commit: no replica appends meanwhile
        leaves = self.log_leaf_hashes(s)
        row = s.get(db.TreeHeadRow, len(leaves))
        if row is not None:
            return row
        head = merkle.TreeHead(log_id=COORDINATOR_ID, tree_size=len(leaves), root=merkle.root(leaves),
                               timestamp_ms=int(db.now().timestamp() * 1000))
        row = db.TreeHeadRow(tree_size=head.tree_size, root=head.root, timestamp_ms=head.timestamp_ms,
                             signature=merkle.sign_tree_head(head, self.key))
        s.add(row)
        s.flush()
        return row

    def prove_inclusion(self, hashes: list[bytes]) -> tuple[db.TreeHeadRow, list[tuple[bytes, int | None, list[bytes]]]]:
        """A fresh signed head and, per envelope hash, its index and audit path (None: not logged)."""
        with self.lock, self.sessions.begin() as s:
            head = self.issue_tree_head(s)
            leaves = self.log_leaf_hashes(s)[:head.tree_size]
            out = []
            for h in hashes:
                row = s.scalar(select(db.LogLeaf).where(db.LogLeaf.envelope_hash == h))
                if row is None or row.index >= head.tree_size:
                    out.append((h, None, []))
                else:
                    out.append((h, row.index, merkle.inclusion_proof(leaves, row.index)))
            return head, out

    # ---------------------------------------------------------------- registry
    def register(self, envelope: epb.Envelope) -> cpb.PushOutcome:
        try:
            opened = env.parse_unverified(envelope)
            reg = opened.payload
            listed = self.federation.parties.get(opened.body.sender)
            if listed is None or reg.organisation_id != opened.body.sender:
                raise env.EnvelopeRefused(cpb.REFUSAL_CODE_UNKNOWN_PARTY,
                                          f"{opened.body.sender!r} is not on the federation list")
            if reg.envelope_public_key != listed.public_key:
                raise env.EnvelopeRefused(cpb.REFUSAL_CODE_UNKNOWN_PARTY,
                                          f"{opened.body.sender!r} registers a key that is not its listed key")
            env.check_signature(opened, listed.public_key)
            for pid in reg.product_ids:
                check_length("product id", pid, 128)
            for e in reg.supply_edges:
                check_length("supply edge product id", e.buyer_product, 128)
                check_length("supply edge supplier", e.supplier, 63)
                check_length("supply edge supplier product id", e.supplier_product, 128)
        except (env.EnvelopeRefused, Refused) as exc:
            return outcome(env.message_hash(envelope), cpb.PUSH_STATUS_REFUSED, exc.code, exc.message)
        with self.lock, self.sessions.begin() as s:
            party = s.get(db.Party, reg.organisation_id, with_for_update=True, populate_existing=True)
            party.registered = True
            party.lease_expires_at = db.now() + timedelta(seconds=self.limits.lease_seconds)
            for row in s.scalars(select(db.ServedProduct).where(db.ServedProduct.org == party.id)):
                s.delete(row)
            for row in s.scalars(select(db.SupplyEdge).where(db.SupplyEdge.buyer == party.id)):
                s.delete(row)
            s.flush()
            for pid in sorted(set(reg.product_ids)):
                s.add(db.ServedProduct(org=party.id, product=pid))
            for e in {(e.buyer_product, e.supplier, e.supplier_product) for e in reg.supply_edges}:
                s.add(db.SupplyEdge(buyer=party.id, buyer_product=e[0], supplier=e[1], supplier_product=e[2]))
        log.info("registered %s (%d products, %d edges)", reg.organisation_id, len(reg.product_ids), len(reg.supply_edges))
        return outcome(opened.hash, cpb.PUSH_STATUS_ACCEPTED)

    def heartbeat(self, party_id: str) -> tuple[datetime, bool]:
        with self.sessions.begin() as s:
            party = s.get(db.Party, party_id)
            if party is None or not party.registered:
                raise Refused(cpb.REFUSAL_CODE_UNKNOWN_PARTY, f"{party_id!r} is not registered")
            party.lease_expires_at = db.now() + timedelta(seconds=self.limits.lease_seconds)
            waiting = s.scalar(select(db.Delivery.sequence).where(db.Delivery.party == party_id).limit(1)) is not None
            return party.lease_expires_at, waiting

    def pull_messages(self, party_id: str, after: int, limit: int = 64) -> list[tuple[int, epb.Envelope]]:
        with self.sessions() as s:
            rows = s.execute(select(db.Delivery.sequence, db.StoredEnvelope.body, db.StoredEnvelope.signature)
                             .join(db.StoredEnvelope, db.Delivery.envelope_hash == db.StoredEnvelope.hash)
                             .where(db.Delivery.party == party_id, db.Delivery.sequence > after)
                             .order_by(db.Delivery.sequence).limit(limit)).all()
            return [(seq, epb.Envelope(body=b, signature=sig)) for seq, b, sig in rows]

    # ---------------------------------------------------------------- calculations
    def start(self, envelope: epb.Envelope) -> tuple[cpb.PushOutcome, str]:
        try:
            opened = self._verify(envelope)
            if opened.body.message_type != MT.MESSAGE_TYPE_CALCULATION_REQUEST:
                raise env.EnvelopeRefused(cpb.REFUSAL_CODE_MALFORMED, "StartCalculation takes a CALCULATION_REQUEST")
            with self.lock, self.sessions.begin() as s:
                # one start at a time per requester (its open-calculation count), whichever replica
                s.get(db.Party, opened.body.sender, with_for_update=True)
                if s.get(db.StoredEnvelope, opened.hash) is not None:  # the same signed request, retried
                    return outcome(opened.hash, cpb.PUSH_STATUS_ACCEPTED), opened.body.calculation_id
                self._start(s, opened)
        except (env.EnvelopeRefused, Refused) as exc:
            return outcome(env.message_hash(envelope), cpb.PUSH_STATUS_REFUSED, exc.code, exc.message), ""
        return outcome(opened.hash, cpb.PUSH_STATUS_ACCEPTED), opened.body.calculation_id

    def _start(self, s, opened: env.Opened) -> None:
        body, req = opened.body, opened.payload
        cid = body.calculation_id
        check_length("calculation id", cid, 64)
        if len(cid) < 16 or s.get(db.Calculation, cid) is not None:
            raise Refused(cpb.REFUSAL_CODE_REPLAY, f"calculation id {cid!r} is too short or already used")
        open_now = s.scalar(select(func.count()).select_from(db.Calculation).where(
            db.Calculation.requester == body.sender, db.Calculation.state.not_in(FINAL_STATES)))
        if open_now >= self.limits.max_open_calculations:
            raise Refused(cpb.REFUSAL_CODE_RATE_LIMITED,
                          f"{body.sender!r} already has {open_now} calculations open; the limit is "
                          f"{self.limits.max_open_calculations} (wait until one is done, failed or withheld)")
        if req.target_organisation != body.sender:
            raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, "a requester calculates its own products only")
        kh = self.federation.parties.get(req.key_holder)
        if kh is None or kh.role != "key_holder" or req.key_holder in (body.sender, COORDINATOR_ID):
            raise Refused(cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER, f"{req.key_holder!r} is not a listed key holder")
        if len(req.products) != 1:
            raise Refused(cpb.REFUSAL_CODE_MALFORMED, "this coordinator calculates one product per calculation")
        root = (req.target_organisation, req.products[0].product_id)
        pairs = self._reachable(s, root)  # raises Refused naming what no node serves
        auditors = list(req.auditors) or [body.sender]
        calc = db.Calculation(id=cid, requester=body.sender, key_holder=req.key_holder,
                              state=S.Name(S.CALCULATION_STATE_AWAITING_KEY), request_hash=opened.hash,
                              auditors=auditors, min_attestations=max(1, req.min_attestations),
                              deadline=req.deadline.ToDatetime(tzinfo=timezone.utc) if req.HasField("deadline") else None)
        self._store(s, opened)
        s.add(calc)
        s.flush()
        for org, product in pairs:
            s.add(db.CalcPair(calculation_id=cid, org=org, product=product, is_root=(org, product) == root))
        self._work(s, req.key_holder, "key", cid)
        log.info("calculation %s: %s/%s, %d products reached", cid, *root, len(pairs))

    def _reachable(self, s, root: tuple[str, str]) -> list[tuple[str, str]]:
        served = {(r.org, r.product) for r in s.scalars(select(db.ServedProduct)
                                                          .join(db.Party, db.Party.id == db.ServedProduct.org)
                                                          .where(db.Party.registered))}
        edges = defaultdict(list)
        for e in s.scalars(select(db.SupplyEdge)):
            edges[(e.buyer, e.buyer_product)].append((e.supplier, e.supplier_product))
        seen, stack = [], [(root, None)]
        while stack:
            pair, buyer = stack.pop()
            if pair in seen:
                continue
            if pair not in served:
                org_known = any(o == pair[0] for o, _ in served)
                what = (f"organisation {pair[0]!r} serves no product {pair[1]!r}" if org_known
                        else f"no node serves organisation {pair[0]!r}")
                named = f" (named by {buyer[0]}/{buyer[1]})" if buyer else ""
                raise Refused(cpb.REFUSAL_CODE_UNKNOWN_PRODUCT, what + named)
            seen.append(pair)
            stack.extend((child, pair) for child in edges[pair])
        return seen

    def _calc(self, s, cid: str, lock: bool = False) -> db.Calculation:
        """The calculation; with `lock`, its row locked to the commit (the transition's claim on it:
        another replica's transition of the same calculation waits, then sees this one's outcome)."""
        calc = s.get(db.Calculation, cid, with_for_update=lock, populate_existing=lock)
        if calc is None:
            raise Refused(cpb.REFUSAL_CODE_UNKNOWN_CALCULATION, f"unknown calculation {cid!r}")
        return calc

    def has_calculation(self, cid: str) -> bool:
        """Objects are uploaded for a calculation that exists (its per-party object count is bounded)."""
        with self.sessions() as s:
            return bool(cid) and s.get(db.Calculation, cid) is not None

    def publish_key(self, envelope: epb.Envelope) -> cpb.PushOutcome:
        try:
            opened = self._verify(envelope)
            if opened.body.message_type != MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT:
                raise Refused(cpb.REFUSAL_CODE_MALFORMED, "PublishKey takes a KEY_ANNOUNCEMENT")
            with self.lock, self.sessions.begin() as s:
                calc = self._calc(s, opened.body.calculation_id, lock=True)
                ka = opened.payload
                if opened.body.sender != calc.key_holder:
                    raise Refused(cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER, "only the calculation's key holder announces its key")
                if calc.key_announcement_hash is not None:
                    raise Refused(cpb.REFUSAL_CODE_DUPLICATE, "the calculation already has a key")
                if opened.body.answers_hash != calc.request_hash:
                    raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, "key announcement answers another request")
                req = self._calc_request(calc).payload
                if (ka.width or slots.WIDTH) != slots.calc_width(req.batch_size, req.citation_slots):
                    raise Refused(cpb.REFUSAL_CODE_SLOT_LAYOUT_MISMATCH,
                                  f"the key is for {ka.width} slots; the calculation needs "
                                  f"{slots.calc_width(req.batch_size, req.citation_slots)}")
                context = self.objects.get(ka.context_object_hash)
                he_sum.check_public_context(context, ka.key_fingerprint, ka.ckks_params_hash)
                if ka.unit_weight_object_hash:
                    if list(opened.body.object_hashes) != [ka.context_object_hash, ka.unit_weight_object_hash]:
                        raise Refused(cpb.REFUSAL_CODE_MALFORMED, "object_hashes must name the context and Enc(1)")
                    he_sum.load_unit_weight(context, self.objects.get(ka.unit_weight_object_hash),
                                            ka.width or slots.WIDTH)
                self._store(s, opened)
                calc.key_announcement_hash = opened.hash
                calc.key_fingerprint, calc.params_hash = ka.key_fingerprint, ka.ckks_params_hash
                calc.context_hash, calc.transit_level = ka.context_object_hash, ka.transit_level
                calc.state = S.Name(S.CALCULATION_STATE_RUNNING)
                orgs = sorted({p.org for p in self._pairs(s, calc.id)})
                for org in orgs:  # each party's usage ledger names the root requester and product
                    self._deliver(s, org, opened.hash)
                    self._deliver(s, org, calc.request_hash)
            crash_point("key-announced")
        except ObjectMissing as exc:
            return outcome(env.message_hash(envelope), cpb.PUSH_STATUS_REFUSED, cpb.REFUSAL_CODE_MISSING_OBJECT, str(exc))
        except (env.EnvelopeRefused, Refused) as exc:
            return outcome(env.message_hash(envelope), cpb.PUSH_STATUS_REFUSED, exc.code, exc.message)
        except he_sum.HEError as exc:
            return outcome(env.message_hash(envelope), cpb.PUSH_STATUS_REFUSED, he_sum.refusal_code(exc), str(exc))
        return outcome(opened.hash, cpb.PUSH_STATUS_ACCEPTED)

    def _pairs(self, s, cid: str) -> list[db.CalcPair]:
        return list(s.scalars(select(db.CalcPair).where(db.CalcPair.calculation_id == cid)))

    # ---------------------------------------------------------------- pushes
    def push(self, party_id: str, envelopes: list[epb.Envelope]) -> list[cpb.PushOutcome]:
        return [self._push_one(party_id, e) for e in envelopes]

    def _push_one(self, party_id: str, envelope: epb.Envelope) -> cpb.PushOutcome:
        h = env.message_hash(envelope)
        with self.lock:
            with self.sessions() as s:
                if s.get(db.StoredEnvelope, h) is not None:
                    return outcome(h, cpb.PUSH_STATUS_ALREADY_ACCEPTED)
            try:
                opened = self._verify(envelope)
                if opened.body.sender != party_id:
                    raise Refused(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "envelope sender is not the pushing party")
                if opened.body.receiver != COORDINATOR_ID and opened.body.message_type != MT.MESSAGE_TYPE_REQUEST:
                    raise Refused(cpb.REFUSAL_CODE_WRONG_RECEIVER, f"{opened.type_name} must be addressed to the coordinator")
                with self.sessions.begin() as s:
                    calc = self._calc(s, opened.body.calculation_id, lock=True)
                    if s.get(db.StoredEnvelope, h) is not None:  # accepted meanwhile (a retry through another replica)
                        return outcome(h, cpb.PUSH_STATUS_ALREADY_ACCEPTED)
                    handler = self._handlers().get(opened.body.message_type)
                    if handler is None:
                        raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, f"{opened.type_name} is not pushed by a party")
                    if calc.state in (S.Name(S.CALCULATION_STATE_FAILED), S.Name(S.CALCULATION_STATE_DONE)):
                        raise Refused(cpb.REFUSAL_CODE_UNKNOWN_CALCULATION, f"calculation {calc.id} is {calc.state}")
                    if s.scalar(select(db.StoredEnvelope.hash).where(
                            db.StoredEnvelope.sender == opened.body.sender,
                            db.StoredEnvelope.message_id == opened.body.message_id)) is not None:
                        raise Refused(cpb.REFUSAL_CODE_REPLAY, "message id already used by this sender")
                    handler(s, calc, opened)
            except (env.EnvelopeRefused, Refused) as exc:
                log.warning("refused %s from %s: %s", h.hex()[:12], party_id, exc.message)
                return outcome(h, cpb.PUSH_STATUS_REFUSED, exc.code, exc.message)
            except ObjectMissing as exc:
                return outcome(h, cpb.PUSH_STATUS_REFUSED, cpb.REFUSAL_CODE_MISSING_OBJECT, str(exc))
            except he_sum.HEError as exc:
                log.warning("refused %s from %s: %s", h.hex()[:12], party_id, exc)
                return outcome(h, cpb.PUSH_STATUS_REFUSED, he_sum.refusal_code(exc), str(exc))
            return outcome(h, cpb.PUSH_STATUS_ACCEPTED)

    def _handlers(self):
        return {MT.MESSAGE_TYPE_REQUEST: self._on_request, MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS: self._on_declaration,
                MT.MESSAGE_TYPE_CONTRIBUTION: self._on_contribution, MT.MESSAGE_TYPE_ATTESTATION: self._on_attestation,
                MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION: self._on_fallback,
                MT.MESSAGE_TYPE_REFUSAL: self._on_refusal}

    def _check_bindings(self, calc: db.Calculation, opened: env.Opened) -> None:
        b = opened.body
        if calc.state != S.Name(S.CALCULATION_STATE_RUNNING) and b.message_type != MT.MESSAGE_TYPE_ATTESTATION:
            raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, f"calculation {calc.id} is {calc.state}")
        if b.key_fingerprint != calc.key_fingerprint:
            raise Refused(cpb.REFUSAL_CODE_WRONG_KEY, f"{opened.type_name} names another public key than calculation {calc.id}'s")
        if b.ckks_params_hash != calc.params_hash:
            raise Refused(cpb.REFUSAL_CODE_WRONG_PARAMETERS, f"{opened.type_name} names other CKKS parameters")
        req = self._calc_request(calc).body
        if b.factor_set_hash != req.factor_set_hash:
            raise Refused(cpb.REFUSAL_CODE_FACTOR_SET_MISMATCH, f"{opened.type_name} names another factor set")

    def _answered_pair(self, s, calc: db.Calculation, opened: env.Opened) -> db.CalcPair:
        """The pair whose request this message answers, sent by that pair's organisation."""
        ans = opened.body.answers_hash
        for pair in self._pairs(s, calc.id):
            if pair.org != opened.body.sender:
                continue
            if (pair.is_root and ans == calc.request_hash) or (pair.merged_request_hash and ans == pair.merged_request_hash):
                if pair.state == "dead":
                    raise Refused(cpb.REFUSAL_CODE_DECLARED_DEAD,
                                  f"{pair.org}/{pair.product} was declared dead; its late answer is refused")
                return pair
        raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, f"{opened.type_name} from {opened.body.sender!r} answers no request sent to it")

    def _width(self, calc: db.Calculation) -> int:
        """Slots every ciphertext of the calculation carries, as its key holder announced."""
        with self.sessions() as s:
            return env.parse_unverified(self._envelope(s, calc.key_announcement_hash)).payload.width or slots.WIDTH

    def _ciphertext(self, calc: db.Calculation, digest: bytes, *, transit: bool):
        context = self.objects.get(calc.context_hash)
        return he_sum.load_ciphertext(context, self.objects.get(digest), calc.transit_level if transit else None,
                                      self._width(calc))

    def _on_request(self, s, calc, opened) -> None:
        self._check_bindings(calc, opened)
        r = opened.payload
        buyer_pair = self._answered_pair(s, calc, opened)
        if opened.body.receiver != r.supplier:
            raise Refused(cpb.REFUSAL_CODE_WRONG_RECEIVER, "a request is addressed to the supplier it names")
        edge = s.get(db.SupplyEdge, (buyer_pair.org, buyer_pair.product, r.supplier, r.product_id))
        if edge is None:
            raise Refused(cpb.REFUSAL_CODE_UNEXPECTED,
                          f"{buyer_pair.org}/{buyer_pair.product} has no registered input {r.supplier}/{r.product_id}")
        if list(opened.body.object_hashes) != [r.weight_object_hash]:
            raise Refused(cpb.REFUSAL_CODE_MALFORMED, "object_hashes must name the weight ciphertext")
        check_length("quantity unit", r.quantity_unit, 16)
        self._ciphertext(calc, r.weight_object_hash, transit=False)  # parses under the calculation's context
        self._store(s, opened)
        s.add(db.CalcRequest(hash=opened.hash, calculation_id=calc.id, buyer=buyer_pair.org, supplier=r.supplier,
                             product=r.product_id, unit=r.quantity_unit, weight_hash=r.weight_object_hash,
                             depth_remaining=r.depth_remaining))

    def _on_declaration(self, s, calc, opened) -> None:
        self._check_bindings(calc, opened)
        pair = self._answered_pair(s, calc, opened)
        if pair.declaration_hash is not None:
            raise Refused(cpb.REFUSAL_CODE_DUPLICATE, f"{pair.org}/{pair.product} already declared its requests")
        declared = set()
        for d in opened.payload.requests:
            req = s.get(db.CalcRequest, d.request_hash)
            if req is None or req.buyer != pair.org or req.weight_hash != d.weight_object_hash:
                raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, f"declared request to {d.supplier}/{d.product_id} was not received")
            declared.add((d.supplier, d.product_id))
        registered = {(e.supplier, e.supplier_product) for e in s.scalars(select(db.SupplyEdge).where(
            db.SupplyEdge.buyer == pair.org, db.SupplyEdge.buyer_product == pair.product))}
        if declared != registered:
            raise Refused(cpb.REFUSAL_CODE_UNEXPECTED,
                          f"{pair.org}/{pair.product} declared {sorted(declared)} but registered {sorted(registered)}")
        self._store(s, opened)
        pair.declaration_hash = opened.hash
        s.flush()
        self._dispatch_ready(s, calc)

    def _lease_alive(self, s, org: str) -> bool:
        party = s.get(db.Party, org)
        expires = db.aware(party.lease_expires_at) if party else None
        return expires is not None and expires > db.now()

    def _buyers(self, s, pairs: dict) -> dict:
        buyers = defaultdict(list)
        for e in s.scalars(select(db.SupplyEdge)):
            if (e.buyer, e.buyer_product) in pairs:
                buyers[(e.supplier, e.supplier_product)].append(pairs[(e.buyer, e.buyer_product)])
        return buyers

    def _dispatch_ready(self, s, calc) -> None:
        """Send one merged request to every pair whose buyers have all settled (DESIGN §2 step 4).

        A buyer is settled when it declared, or is dead or skipped (it will never declare). A
        pair all of whose buyers are dead or skipped is skipped; a supplier whose lease has
        expired when its request is due is declared dead instead (DESIGN §2 step 7).
        """
        changed = True
        while changed:
            changed = False
            pairs = {(p.org, p.product): p for p in self._pairs(s, calc.id)}
            buyers = self._buyers(s, pairs)
            for key, pair in sorted(pairs.items()):
                if pair.is_root or pair.state != "waiting":
                    continue
                mine = buyers[key]
                if not all(b.declaration_hash is not None or b.state in ("dead", "skipped") for b in mine):
                    continue
                changed = True
                if not any(b.declaration_hash is not None for b in mine):
                    pair.state = "skipped"
                elif not self._lease_alive(s, key[0]):
                    self._declare_dead(s, calc, pair, epb.DEATH_REASON_LEASE_EXPIRED)
                else:
                    self._dispatch(s, calc, pair)
                s.flush()

    def _requests_for(self, s, calc, key) -> list[db.CalcRequest]:
        """The requests naming `key` that count: declared, or from a buyer that may still declare.

        A buyer declared dead after pushing requests but before declaring them is answered for
        by its own buyers' fallbacks (its whole subtree); its stray requests must not also
        weight the supplier — that would count the supplier twice."""
        reqs = list(s.scalars(select(db.CalcRequest).where(
            db.CalcRequest.calculation_id == calc.id, db.CalcRequest.supplier == key[0],
            db.CalcRequest.product == key[1]).order_by(db.CalcRequest.buyer, db.CalcRequest.hash)))
        pairs = self._pairs(s, calc.id)
        pending = {p.org for p in pairs if p.declaration_hash is None and p.state not in ("dead", "skipped")}
        declared = {d.request_hash for p in pairs if p.declaration_hash is not None
                    for d in env.parse_unverified(self._envelope(s, p.declaration_hash)).payload.requests}
        return [r for r in reqs if r.hash in declared or r.buyer in pending]

    def _dispatch(self, s, calc, pair: db.CalcPair) -> None:
        key = (pair.org, pair.product)
        reqs = self._requests_for(s, calc, key)
        body = self._body(calc, MT.MESSAGE_TYPE_MERGED_REQUEST, key[0])
        mr = body.merged_request
        mr.supplier, mr.product_id = key
        mr.depth_remaining = min(r.depth_remaining for r in reqs)
        context = self.objects.get(calc.context_hash)
        for unit in sorted({r.unit for r in reqs}):
            group = [r for r in reqs if r.unit == unit]
            if len(group) == 1:
                digest = group[0].weight_hash
            else:
                digest = self.objects.put(he_sum.add_all(context, [self.objects.get(r.weight_hash) for r in group],
                                                         self._width(calc)))
                crash_point("merge-uncommitted")
            part = mr.parts.add(quantity_unit=unit, weight_object_hash=digest)
            for r in group:
                part.requests.add(buyer=r.buyer, request_hash=r.hash, weight_object_hash=r.weight_hash)
            body.object_hashes.append(digest)
        for buyer, inputs in self._fan_out(s, calc, reqs).items():  # for the minimum-contributors policy
            mr.buyer_fan_out.add(buyer=buyer, inputs=inputs)
        opened = self._seal(s, body)
        pair.merged_request_hash, pair.state = opened.hash, "dispatched"
        self._deliver(s, key[0], opened.hash)

    def _fan_out(self, s, calc, reqs: list[db.CalcRequest]) -> dict[str, int]:
        """Buyer -> the inputs its requesting product named in this calculation (the fewest, where
        several of its products request this one): what it could isolate from the total."""
        def answered(h: bytes) -> bytes:
            return env.parse_unverified(self._envelope(s, h)).body.answers_hash

        out: dict[str, int] = {}
        for r in reqs:
            siblings = s.scalars(select(db.CalcRequest).where(db.CalcRequest.calculation_id == calc.id,
                                                              db.CalcRequest.buyer == r.buyer))
            mine = answered(r.hash)
            n = len({(x.supplier, x.product) for x in siblings if answered(x.hash) == mine})
            out[r.buyer] = min(n, out.get(r.buyer, n))
        return dict(sorted(out.items()))

    def _declare_dead(self, s, calc, pair: db.CalcPair, reason: int) -> None:
        """Signed DEAD_SUPPLIER to every buyer that named the pair; each answers with its fallback."""
        pair.state = "dead"
        for r in self._requests_for(s, calc, (pair.org, pair.product)):
            body = self._body(calc, MT.MESSAGE_TYPE_DEAD_SUPPLIER, r.buyer)
            body.answers_hash = r.hash
            ds = body.dead_supplier
            ds.supplier, ds.product_id, ds.reason = pair.org, pair.product, reason
            ds.declared_at.GetCurrentTime()
            if pair.merged_request_hash:
                ds.merged_request_hash = pair.merged_request_hash
            opened = self._seal(s, body)
            self._deliver(s, r.buyer, opened.hash)
        log.warning("calculation %s: %s/%s declared dead (%s)", calc.id[:8], pair.org, pair.product,
                    epb.DeathReason.Name(reason))

    def _claim(self, s, cid: str, *where) -> db.Calculation | None:
        """Lock a calculation for a sweep, or None if another transaction (an RPC, another replica's
        sweep) holds it or it no longer matches `where`: the next sweep looks again."""
        return s.scalars(select(db.Calculation).where(db.Calculation.id == cid, *where)
                         .with_for_update(skip_locked=True).execution_options(populate_existing=True)).first()

    def sweep_leases(self) -> None:
        """Declare dead every supplier whose request is out while its lease has expired."""
        running = db.Calculation.state == S.Name(S.CALCULATION_STATE_RUNNING)
        with self.sessions() as s:
            cids = list(s.scalars(select(db.Calculation.id).where(running)))
        for cid in cids:  # one transaction per calculation: a slow one holds up no other
            with self.lock, self.sessions.begin() as s:
                calc = self._claim(s, cid, running)
                if calc is None:
                    continue
                for pair in self._pairs(s, calc.id):
                    if pair.state == "dispatched" and not self._lease_alive(s, pair.org):
                        self._declare_dead(s, calc, pair, epb.DEATH_REASON_LEASE_EXPIRED)
                        s.flush()
                        self._dispatch_ready(s, calc)
                        self._maybe_aggregate(s, calc)

    def _on_fallback(self, s, calc, opened) -> None:
        self._check_bindings(calc, opened)
        fb = opened.payload
        ds_row = s.get(db.StoredEnvelope, opened.body.answers_hash)
        if ds_row is None or ds_row.message_type != "MESSAGE_TYPE_DEAD_SUPPLIER" or ds_row.receiver != opened.body.sender:
            raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, "a fallback answers a DEAD_SUPPLIER sent to its buyer")
        ds = env.parse_unverified(self._envelope(s, ds_row.hash))
        if ds.body.answers_hash != fb.request_hash or (fb.supplier, fb.product_id) != (ds.payload.supplier, ds.payload.product_id):
            raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, "the fallback names another request than the dead-supplier notice")
        if s.scalar(select(db.CalcFallback.hash).where(db.CalcFallback.request_hash == fb.request_hash)) is not None:
            raise Refused(cpb.REFUSAL_CODE_DUPLICATE, f"{opened.body.sender} already answered for {fb.supplier}/{fb.product_id}")
        if list(opened.body.object_hashes) != [fb.ciphertext_hash]:
            raise Refused(cpb.REFUSAL_CODE_MALFORMED, "object_hashes must name the fallback ciphertext")
        self._ciphertext(calc, fb.ciphertext_hash, transit=True)
        self._store(s, opened)
        s.add(db.CalcFallback(hash=opened.hash, calculation_id=calc.id, buyer=opened.body.sender, supplier=fb.supplier,
                              product=fb.product_id, request_hash=fb.request_hash, dead_supplier_hash=ds.hash))
        s.flush()
        self._maybe_aggregate(s, calc)

    def _on_contribution(self, s, calc, opened) -> None:
        self._check_bindings(calc, opened)
        pair = self._answered_pair(s, calc, opened)
        c = opened.payload
        if c.product_id != pair.product:
            raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, "contribution names another product than its request")
        if pair.contribution_hash is not None:
            raise Refused(cpb.REFUSAL_CODE_DUPLICATE, f"{pair.org}/{pair.product} already contributed to {calc.id}")
        if list(opened.body.object_hashes) != [c.ciphertext_hash]:
            raise Refused(cpb.REFUSAL_CODE_MALFORMED, "object_hashes must name the contribution ciphertext")
        self._ciphertext(calc, c.ciphertext_hash, transit=True)
        self._store(s, opened)
        pair.contribution_hash, pair.state = opened.hash, "answered"
        s.flush()
        self._maybe_aggregate(s, calc)

    def _maybe_aggregate(self, s, calc) -> None:
        """When every reached product has answered once (or its buyers answered for it), sum."""
        if calc.state != S.Name(S.CALCULATION_STATE_RUNNING):
            return
        pairs = sorted(self._pairs(s, calc.id), key=lambda p: (p.org, p.product))
        fallbacks = sorted(s.scalars(select(db.CalcFallback).where(db.CalcFallback.calculation_id == calc.id)),
                           key=lambda f: (f.buyer, f.supplier, f.product, f.request_hash))
        answered_for = {f.request_hash for f in fallbacks}
        for p in pairs:
            if p.state == "skipped":
                continue
            if p.state == "dead":
                if any(r.hash not in answered_for for r in self._requests_for(s, calc, (p.org, p.product))):
                    return
            elif not (p.contribution_hash and p.declaration_hash):
                return
        live = [p for p in pairs if p.state == "answered"]
        hashes = [p.contribution_hash for p in live] + [f.hash for f in fallbacks]
        contributions = [env.parse_unverified(self._envelope(s, h)) for h in hashes]
        context = self.objects.get(calc.context_hash)
        total = he_sum.add_all(context, [self.objects.get(c.payload.ciphertext_hash) for c in contributions],
                               self._width(calc))
        out = self.objects.put(total)
        body = self._body(calc, MT.MESSAGE_TYPE_AGGREGATE, calc.key_holder)
        body.answers_hash = calc.request_hash
        body.object_hashes.append(out)
        agg = body.aggregate
        agg.output_ciphertext_hash = out
        agg.contribution_hashes.extend(hashes)
        agg.declaration_hashes.extend(p.declaration_hash for p in live)
        agg.dead_supplier_hashes.extend(sorted({f.dead_supplier_hash for f in fallbacks}))
        opened = self._seal(s, body)
        self.issue_tree_head(s)
        calc.aggregate_hash = opened.hash
        calc.state = S.Name(S.CALCULATION_STATE_AWAITING_ATTESTATION)
        evidence = list(s.scalars(select(db.StoredEnvelope.hash).where(
            db.StoredEnvelope.calculation_id == calc.id, db.StoredEnvelope.message_type.in_(EVIDENCE))
            .order_by(db.StoredEnvelope.received_at, db.StoredEnvelope.hash)))
        for auditor in calc.auditors:
            for h in evidence:  # the auditor checks completeness before it attests (tanji.protocol.completeness)
                self._deliver(s, auditor, h)
            for h in hashes:  # the auditor re-executes from the signed contributions
                self._deliver(s, auditor, h)
            self._deliver(s, auditor, opened.hash)
        log.info("calculation %s complete: %d contributions and %d fallbacks summed", calc.id[:8], len(live), len(fallbacks))

    def _on_attestation(self, s, calc, opened) -> None:
        a = opened.payload
        if calc.state != S.Name(S.CALCULATION_STATE_AWAITING_ATTESTATION):
            raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, f"calculation {calc.id} is {calc.state}")
        if opened.body.sender not in calc.auditors:
            raise Refused(cpb.REFUSAL_CODE_UNKNOWN_PARTY, f"{opened.body.sender!r} is not an auditor of {calc.id}")
        agg = env.parse_unverified(self._envelope(s, calc.aggregate_hash)).payload
        if opened.body.answers_hash != calc.aggregate_hash or a.output_ciphertext_hash != agg.output_ciphertext_hash:
            raise Refused(cpb.REFUSAL_CODE_HASH_MISMATCH, "attestation is of another aggregate")
        self._store(s, opened)
        s.add(db.Attestation(hash=opened.hash, calculation_id=calc.id, auditor=opened.body.sender))
        s.flush()
        n = len(list(s.scalars(select(db.Attestation).where(db.Attestation.calculation_id == calc.id))))
        if n >= calc.min_attestations:
            calc.state = S.Name(S.CALCULATION_STATE_AWAITING_DECRYPTION)
            self._work(s, calc.key_holder, "decrypt", calc.id)

    def _on_refusal(self, s, calc, opened) -> None:
        r = opened.payload
        self._store(s, opened)
        self._fail(s, calc, r.code, f"{opened.body.sender}: {cpb.RefusalCode.Name(r.code)}: {r.message}")

    # ---------------------------------------------------------------- key holder
    def pull_work(self, party_id: str, after: int, limit: int = 16):
        with self.sessions() as s:
            rows = list(s.scalars(select(db.KeyHolderWork).where(db.KeyHolderWork.party == party_id,
                                                                 db.KeyHolderWork.sequence > after)
                                  .order_by(db.KeyHolderWork.sequence).limit(limit)))
            out = []
            for w in rows:
                calc = s.get(db.Calculation, w.calculation_id)
                item = {"sequence": w.sequence, "kind": w.kind, "request": self._envelope(s, calc.request_hash)}
                if w.kind == "decrypt":
                    item["key_announcement"] = self._envelope(s, calc.key_announcement_hash)
                    item["aggregate"] = self._envelope(s, calc.aggregate_hash)
                    item["attestations"] = [self._envelope(s, a.hash) for a in s.scalars(
                        select(db.Attestation).where(db.Attestation.calculation_id == calc.id))]
                out.append(item)
            return out

    def submit_result(self, envelope: epb.Envelope, citation_report: epb.Envelope | None = None) -> cpb.PushOutcome:
        try:
            opened = self._verify(envelope)
            report = self._verify(citation_report) if citation_report is not None else None
            with self.lock, self.sessions.begin() as s:
                calc = self._calc(s, opened.body.calculation_id, lock=True)
                if opened.body.sender != calc.key_holder:
                    raise Refused(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "only the calculation's key holder submits its result")
                if calc.result_hash is not None:
                    raise Refused(cpb.REFUSAL_CODE_DUPLICATE, "the calculation already has a result")
                if report is not None:
                    self._check_citation_report(calc, opened, report)
                if opened.body.message_type == MT.MESSAGE_TYPE_RESULT:
                    calc.state = S.Name(S.CALCULATION_STATE_DONE)
                    if report is not None:
                        self._store(s, report)
                elif opened.body.message_type == MT.MESSAGE_TYPE_REFUSAL:
                    calc.state = S.Name(S.CALCULATION_STATE_WITHHELD)
                    calc.failure_code, calc.failure_message = opened.payload.code, opened.payload.message
                else:
                    raise Refused(cpb.REFUSAL_CODE_MALFORMED, "SubmitResult takes a RESULT or a REFUSAL")
                self._store(s, opened)
                self.issue_tree_head(s)
                calc.result_hash = opened.hash
                self._deliver(s, calc.requester, opened.hash)
                crash_point("result-uncommitted")
            crash_point("result-stored")
        except (env.EnvelopeRefused, Refused) as exc:
            return outcome(env.message_hash(envelope), cpb.PUSH_STATUS_REFUSED, exc.code, exc.message)
        return outcome(opened.hash, cpb.PUSH_STATUS_ACCEPTED)

    def _check_citation_report(self, calc: db.Calculation, result: env.Opened, report: env.Opened) -> None:
        """A CITATION_REPORT rides with its RESULT: same key holder, same aggregate, one count per slot."""
        req = self._calc_request(calc).payload
        r = report.payload
        if (report.body.message_type != MT.MESSAGE_TYPE_CITATION_REPORT or report.body.sender != calc.key_holder
                or report.body.calculation_id != calc.id or report.body.answers_hash != calc.aggregate_hash
                or result.body.message_type != MT.MESSAGE_TYPE_RESULT):
            raise Refused(cpb.REFUSAL_CODE_UNEXPECTED, "the citation report does not answer this calculation's aggregate")
        if report.body.receiver != req.factor_provider or len(r.counts) != req.citation_slots:
            raise Refused(cpb.REFUSAL_CODE_MALFORMED, "the citation report names another provider or slot count")

    def citations(self, provider: str, factor_set_hash: bytes = b"") -> list[epb.Envelope]:
        """Every CITATION_REPORT addressed to `provider`, oldest first (optionally for one factor set)."""
        with self.sessions() as s:
            rows = s.scalars(select(db.StoredEnvelope).where(
                db.StoredEnvelope.message_type == "MESSAGE_TYPE_CITATION_REPORT",
                db.StoredEnvelope.receiver == provider).order_by(db.StoredEnvelope.received_at))
            out = [epb.Envelope(body=r.body, signature=r.signature) for r in rows]
        if factor_set_hash:
            out = [e for e in out if env.parse_unverified(e).body.factor_set_hash == factor_set_hash]
        return out

    # ---------------------------------------------------------------- requester
    def check_deadlines(self) -> None:
        try:
            if self._outage:
                # nobody could renew a lease while the database was down: that outage is ours, not theirs
                with self.lock, self.sessions.begin() as s:
                    self._grant_leases(s)
                self._outage = False
                log.warning("the database is back: every registered party has a fresh lease")
            self.sweep_leases()
            self._sweep_deadlines()
        except Exception as exc:
            if is_outage(exc):
                self._outage = True
            raise

    def _sweep_deadlines(self) -> None:
        ended = ("CALCULATION_STATE_DONE", "CALCULATION_STATE_FAILED", "CALCULATION_STATE_WITHHELD")
        active = (db.Calculation.deadline.is_not(None), db.Calculation.state.not_in(ended))
        with self.sessions() as s:
            now = db.now()
            cids = [cid for cid, deadline in s.execute(select(db.Calculation.id, db.Calculation.deadline).where(*active))
                    if db.aware(deadline) < now]
        for cid in cids:
            with self.lock, self.sessions.begin() as s:
                calc = self._claim(s, cid, *active)
                if calc is None or db.aware(calc.deadline) >= db.now():
                    continue
                missing = [f"{p.org}/{p.product}" for p in self._pairs(s, calc.id)
                           if p.state not in ("answered", "skipped")]
                self._fail(s, calc, cpb.REFUSAL_CODE_DEADLINE_EXCEEDED,
                           f"deadline passed in state {calc.state}; not answered: {', '.join(missing) or 'none'}")

    def status(self, cid: str, party: str | None = None) -> rpb.GetStatusResponse:
        """State and counts, for the calculation's own parties (every organisation it reached: their
        usage ledgers ask whether it was decrypted). An empty `party`: an in-process caller,
        or a plain-loopback client (no authentication there at all; under mTLS the party is the
        client certificate's)."""
        self.check_deadlines()
        with self.sessions() as s:
            calc = self._calc(s, cid)
            pairs = self._pairs(s, cid)
            if party and party not in {calc.requester, calc.key_holder, *calc.auditors, *(p.org for p in pairs)}:
                raise Refused(cpb.REFUSAL_CODE_UNKNOWN_PARTY, f"{party!r} is not a party of calculation {cid}")
            resp = rpb.GetStatusResponse(
                calculation_id=cid, state=S.Value(calc.state),
                requests_declared=len(pairs), requests_answered=sum(p.state in ("answered", "dead", "skipped") for p in pairs),
                dead_suppliers=sum(p.state == "dead" for p in pairs),
                attestations=len(list(s.scalars(select(db.Attestation).where(db.Attestation.calculation_id == cid)))),
                failure_code=calc.failure_code, failure_message=calc.failure_message)
            resp.updated_at.FromDatetime(calc.updated_at)
            return resp

    def result(self, cid: str, party: str | None = None) -> rpb.GetResultResponse:
        """The key holder's signed result, for the requester, its auditors and the key holder only."""
        with self.sessions() as s:
            calc = self._calc(s, cid)
            if party and party not in {calc.requester, calc.key_holder, *calc.auditors}:
                raise Refused(cpb.REFUSAL_CODE_UNKNOWN_PARTY,
                              f"the result of {cid} is released to its requester and auditors, not to {party!r}")
            resp = rpb.GetResultResponse(state=S.Value(calc.state))
            if calc.result_hash:
                resp.result.CopyFrom(self._envelope(s, calc.result_hash))
            return resp
