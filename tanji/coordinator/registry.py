"""The registry: the federation's parties, what each registered (products, supply edges), the
leases its heartbeats renew, and each party's inbox.

A party on the federation list registers with its listed key only; its registration replaces
what it registered before. Start-up (`start_up`) is the one writer that is not a party's call:
it lists the federation's parties and grants every registered party a fresh lease.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, text

from tanji.coordinator import db
from tanji.coordinator.transactions import Core, accepted, check_length, refused
from tanji.protocol import envelope as env
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import node_pb2 as npb

log = logging.getLogger("tanji.coordinator")
STARTUP_LOCK_KEY = 0x74616E6A6901  # pg_advisory_xact_lock while a replica registers the federation's parties


def lease_alive(s, org: str) -> bool:
    """The party's lease runs: it was heard from within the lease time."""
    party = s.get(db.Party, org)
    expires = db.aware(party.lease_expires_at) if party else None
    return expires is not None and expires > db.now()


class Registry:
    def __init__(self, core: Core):
        self.core = core

    def start_up(self) -> None:
        """List the federation's parties and grant every registered one a fresh lease: a (re)started
        coordinator heard nobody while it was down, and must not declare them dead for its own outage."""
        with self.core.transaction() as s:
            self._list(s)
            self.grant_leases(s)

    def sync(self) -> None:
        """A new version of the federation list took effect: list its parties; a party it no longer
        names is unregistered (its heartbeats, pulls and pushes are refused by name)."""
        with self.core.transaction() as s:
            self._list(s)
        log.warning("federation list version %d: %d parties", self.core.federation.version,
                    len(self.core.federation.parties))

    def _list(self, s) -> None:
        if s.bind.dialect.name == "postgresql":  # replicas starting together take turns (not on the log
            # head: a start holding its requester's row waits for the head, this would wait for that row)
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": STARTUP_LOCK_KEY})
        listed = self.core.federation.parties
        for party in listed.values():
            row = s.get(db.Party, party.id)
            if row is None:
                s.add(db.Party(id=party.id, role=party.role, public_key=party.public_key))
            elif row.public_key != party.public_key:
                row.public_key, row.role, row.registered = party.public_key, party.role, False
        for row in s.scalars(select(db.Party).where(db.Party.registered)):
            if row.id not in listed:
                row.registered, row.lease_expires_at = False, None
                log.warning("%s is no longer on the federation list: unregistered", row.id)

    def customers(self, supplier: str) -> list[npb.Customer]:
        """The registered edges naming `supplier`, with how many organisations each buyer product names."""
        with self.core.sessions() as s:
            edges = s.scalars(select(db.SupplyEdge)).all()
        named: dict[tuple[str, str], set[str]] = {}
        for e in edges:
            named.setdefault((e.buyer, e.buyer_product), set()).add(e.supplier)
        return [npb.Customer(buyer=e.buyer, buyer_product=e.buyer_product, supplier_product=e.supplier_product,
                             buyer_suppliers=len(named[(e.buyer, e.buyer_product)] - {e.buyer}))
                for e in edges if e.supplier == supplier and e.buyer != supplier]

    def grant_leases(self, s) -> None:
        grace = db.now() + timedelta(seconds=self.core.limits.lease_seconds)
        for row in s.scalars(select(db.Party).where(db.Party.registered)):
            row.lease_expires_at = grace

    def register(self, envelope: epb.Envelope) -> cpb.PushOutcome:
        try:
            opened = env.parse_unverified(envelope)  # the sender's listed key is checked below
            reg = opened.payload
            listed = self.core.federation.parties.get(opened.body.sender)
            if listed is None or reg.organisation_id != opened.body.sender:
                raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, f"{opened.body.sender!r} is not on the federation list")
            if reg.envelope_public_key != listed.public_key:
                raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY,
                              f"{opened.body.sender!r} registers a key that is not its listed key")
            env.check_signature(opened, listed.public_key)
            for pid in reg.product_ids:
                check_length("product id", pid, 128)
            for c in reg.approved_customers:
                check_length("approved customer", c, 63)
            for e in reg.supply_edges:
                check_length("supply edge product id", e.buyer_product, 128)
                check_length("supply edge supplier", e.supplier, 63)
                check_length("supply edge supplier product id", e.supplier_product, 128)
        except Refusal as exc:
            return refused(envelope, exc)
        with self.core.transaction() as s:
            party = s.get(db.Party, reg.organisation_id, with_for_update=True, populate_existing=True)
            party.registered = True
            party.lease_expires_at = db.now() + timedelta(seconds=self.core.limits.lease_seconds)
            for row in s.scalars(select(db.ServedProduct).where(db.ServedProduct.org == party.id)):
                s.delete(row)
            for row in s.scalars(select(db.SupplyEdge).where(db.SupplyEdge.buyer == party.id)):
                s.delete(row)
            for row in s.scalars(select(db.ApprovedCustomer).where(db.ApprovedCustomer.supplier == party.id)):
                s.delete(row)
            party.approves_everyone = reg.approves_everyone
            s.flush()
            for c in sorted(set(reg.approved_customers)):
                s.add(db.ApprovedCustomer(supplier=party.id, customer=c))
            for pid in sorted(set(reg.product_ids)):
                s.add(db.ServedProduct(org=party.id, product=pid))
            for e in {(e.buyer_product, e.supplier, e.supplier_product) for e in reg.supply_edges}:
                s.add(db.SupplyEdge(buyer=party.id, buyer_product=e[0], supplier=e[1], supplier_product=e[2]))
        log.info("registered %s (%d products, %d edges)",
                 reg.organisation_id, len(reg.product_ids), len(reg.supply_edges))
        return accepted(opened.hash)

    def heartbeat(self, party_id: str) -> tuple[datetime, bool]:
        """Renew the party's lease; also tells it whether messages wait in its inbox."""
        with self.core.sessions.begin() as s:
            party = s.get(db.Party, party_id)
            if party is None or not party.registered:
                raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, f"{party_id!r} is not registered")
            party.lease_expires_at = db.now() + timedelta(seconds=self.core.limits.lease_seconds)
            waiting = s.scalar(select(db.Delivery.sequence).where(db.Delivery.party == party_id).limit(1)) is not None
            return party.lease_expires_at, waiting

    def pull_messages(self, party_id: str, after: int, limit: int = 64) -> list[tuple[int, epb.Envelope]]:
        """The party's inbox after its cursor, in delivery order."""
        with self.core.sessions() as s:
            rows = s.execute(select(db.Delivery.sequence, db.StoredEnvelope.body, db.StoredEnvelope.signature)
                             .join(db.StoredEnvelope, db.Delivery.envelope_hash == db.StoredEnvelope.hash)
                             .where(db.Delivery.party == party_id, db.Delivery.sequence > after)
                             .order_by(db.Delivery.sequence).limit(limit)).all()
            return [(seq, epb.Envelope(body=b, signature=sig)) for seq, b, sig in rows]
