"""What every coordinator handler shares: its transaction, the stored envelopes, and the
ordered sequences a transaction appends to at its commit.

Replicas (PostgreSQL): several coordinator processes may share one database. What one process
guarded with its own lock is then guarded in the database: each transition locks its
calculation's row (SELECT ... FOR UPDATE) and re-checks what it is about to do, sweeps claim
calculations with SKIP LOCKED, and the log, the delivery queues and the key holders' work are
appended at commit under the log head's row lock, so they grow in commit order. On SQLite (one
process) the row locks are no-ops and the process lock serialises as before.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import event, select

from tanji.coordinator import db
from tanji.coordinator.doorbell import BELL
from tanji.he import tasks as he_sum
from tanji.infra.objectstore import ObjectMissing, ObjectStore
from tanji.protocol import envelope as env
from tanji.protocol import limits as bounds
from tanji.protocol import merkle
from tanji.protocol.federation import Federation
from tanji.protocol.identity import COORDINATOR_ID, check_calculation_id
from tanji.protocol.refusals import Refusal
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb


@dataclass
class Limits:
    lease_seconds: float = 20
    heartbeat_seconds: int = 5
    max_clock_skew_seconds: int = 300
    max_open_calculations: int = bounds.MAX_OPEN_CALCULATIONS_PER_PARTY
    max_objects_per_calculation: int = bounds.MAX_OBJECTS_PER_CALCULATION


def check_length(what: str, value: str, limit: int) -> None:
    """A wire string bound for a VARCHAR(limit) column: refused by name on every database
    (PostgreSQL enforces the length, SQLite would keep it silently)."""
    if len(value) > limit:
        raise Refusal(cpb.REFUSAL_CODE_MALFORMED, f"{what} of {len(value)} characters; at most {limit}")


def outcome(h: bytes, status: int, code: int = 0, message: str = "") -> cpb.PushOutcome:
    return cpb.PushOutcome(message_hash=h, status=cast(cpb.PushStatus, status), code=cast(cpb.RefusalCode, code),
                           message=message)


def accepted(h: bytes) -> cpb.PushOutcome:
    return outcome(h, cpb.PUSH_STATUS_ACCEPTED)


def refused(envelope: epb.Envelope, exc: Refusal) -> cpb.PushOutcome:
    return outcome(env.message_hash(envelope), cpb.PUSH_STATUS_REFUSED, exc.code, exc.message)


#: what a handler raises to refuse an envelope (as opposed to failing the call)
REFUSALS = (Refusal, ObjectMissing, he_sum.HEError)


def as_refusal(exc: Exception) -> Refusal:
    """A missing object or a failed HE check, as the refusal its code names."""
    if isinstance(exc, ObjectMissing):
        return Refusal(cpb.REFUSAL_CODE_MISSING_OBJECT, str(exc))
    if isinstance(exc, he_sum.HEError):
        return Refusal(he_sum.refusal_code(exc), str(exc))
    assert isinstance(exc, Refusal)
    return exc


@dataclass
class _Appends:
    """What a transaction adds to the ordered, shared sequences; appended at its commit."""
    leaves: list = field(default_factory=list)      # (envelope hash, calculation id)
    deliveries: list = field(default_factory=list)  # (party, envelope hash)
    work: list = field(default_factory=list)        # (key holder, kind, calculation id)


def _appends(s) -> _Appends:
    return s.info.setdefault("tanji_appends", _Appends())


def lock_head(s) -> db.LogHead:
    head = s.get(db.LogHead, 1, with_for_update=True, populate_existing=True)
    if head is None:
        raise RuntimeError("the coordinator database has no log head row: "
                           "it was not migrated (tanji.coordinator.migrations)")
    return head


def append_pending(s) -> None:
    """Append the transaction's log leaves, deliveries and work under the log head's row lock, which
    is held to the commit: every replica appends in commit order, so a party that has read its queue
    up to a sequence number never misses a row committed later with a smaller one."""
    a = s.info.get("tanji_appends")
    if a is None or not (a.leaves or a.deliveries or a.work):
        return
    head = lock_head(s)
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
    s.info["tanji_ring"] = bool(a.deliveries or a.work)


def ring_after_commit(s) -> None:
    """Wake the long polls once what they wait for is committed (tanji.coordinator.doorbell)."""
    if s.info.pop("tanji_ring", False):
        BELL.ring()


def stored(s, h: bytes) -> epb.Envelope:
    """A stored envelope's exact signed bytes."""
    row = s.get(db.StoredEnvelope, h)
    return epb.Envelope(body=row.body, signature=row.signature)


def reopen(s, h: bytes) -> env.Opened:
    """A stored envelope, parsed (it was verified before it was stored)."""
    return env.reopen(stored(s, h))


class Core:
    """The coordinator's means, shared by its handlers: database, objects, key, federation."""

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
        if not event.contains(sessions, "before_commit", append_pending):
            event.listen(sessions, "before_commit", append_pending)
        if not event.contains(sessions, "after_commit", ring_after_commit):
            event.listen(sessions, "after_commit", ring_after_commit)

    @contextmanager
    def transaction(self):
        """One writing transaction, serialised with the others of this process (SQLite)."""
        with self.lock, self.sessions.begin() as s:
            yield s

    def key_of(self, party: str) -> bytes | None:
        if party == COORDINATOR_ID:
            return self.key.public_raw
        p = self.federation.parties.get(party)
        return p.public_key if p else None

    def verify(self, envelope: epb.Envelope) -> env.Opened:
        """Open and verify an envelope from a listed party, within the allowed clock skew, naming a
        calculation by an id of the one grammar (tanji.protocol.identity)."""
        opened = env.open_envelope(envelope, self.key_of)
        if opened.body.message_type != epb.MESSAGE_TYPE_REGISTRATION:  # every calculation's envelope
            check_calculation_id(opened.body.calculation_id)
        created = opened.body.created_at.ToDatetime(tzinfo=UTC)
        skew = abs((datetime.now(UTC) - created).total_seconds())
        if skew > self.limits.max_clock_skew_seconds:
            raise Refusal(cpb.REFUSAL_CODE_REPLAY, f"created_at is {skew:.0f} s away from now")
        return opened

    # ------------------------------------------------------------ what a transaction writes
    def store(self, s, opened: env.Opened) -> None:
        """Keep an accepted envelope's exact bytes; it enters the log at commit."""
        b = opened.body
        s.add(db.StoredEnvelope(hash=opened.hash, calculation_id=b.calculation_id, message_type=opened.type_name,
                                sender=b.sender, receiver=b.receiver, message_id=b.message_id,
                                body=opened.envelope.body, signature=opened.envelope.signature))
        s.flush()  # deliveries reference the envelope
        _appends(s).leaves.append((opened.hash, b.calculation_id))

    def deliver(self, s, party: str, h: bytes) -> None:
        """Queue a stored envelope for `party` (appended at commit)."""
        _appends(s).deliveries.append((party, h))

    def work(self, s, party: str, kind: str, cid: str) -> None:
        """Queue work for a key holder: "key" or "decrypt" (appended at commit)."""
        _appends(s).work.append((party, kind, cid))

    def seal(self, s, body: epb.EnvelopeBody) -> env.Opened:
        """Sign a body of the coordinator's and store it."""
        opened = env.reopen(env.seal(body, self.key))
        self.store(s, opened)
        return opened

    # ------------------------------------------------------------ reading inside a transaction
    def pairs(self, s, cid: str, *, org: str | None = None) -> list[db.CalcPair]:
        """The calculation's pairs (only `org`'s: its primary key's prefix, not a scan)."""
        where = [db.CalcPair.calculation_id == cid] + ([db.CalcPair.org == org] if org is not None else [])
        return list(s.scalars(select(db.CalcPair).where(*where)))

    def root_pair(self, s, cid: str) -> db.CalcPair | None:
        return s.scalars(select(db.CalcPair).where(db.CalcPair.calculation_id == cid, db.CalcPair.is_root)).first()

    @staticmethod
    def claim(s, cid: str, *where) -> db.Calculation | None:
        """Lock a calculation for a sweep, or None if another transaction (an RPC, another replica's
        sweep) holds it or it no longer matches `where`: the next sweep looks again."""
        return s.scalars(select(db.Calculation).where(db.Calculation.id == cid, *where)
                         .with_for_update(skip_locked=True).execution_options(populate_existing=True)).first()
