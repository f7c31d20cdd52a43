"""A coordinator that deviates on purpose — the malicious coordinator of the adversarial suite.

It is the real `tanji.coordinator.service.Coordinator` behind the real gRPC services, run as its own
process (`python -m tests.harness.evil_coordinator`), honest until the test writes
`attack.json` into its state folder; it re-reads that file at each step, so one process plays
every attack of a module in turn. It holds only what a coordinator holds — its own signing key,
the public contexts, the ciphertexts, the stored envelopes — so whatever it forges, it forges
with the coordinator's own means. Each mode is one attack:

* ``double-weight`` (supplier): the MERGED_REQUEST to `supplier` carries Enc(2w) (w + w, no key
  needed) instead of the sum of its buyers' requests: that supplier's share would count twice.
* ``swap-object`` (supplier): the MERGED_REQUEST is honest, but the object served under its
  weight's hash is another ciphertext (Enc(2w)).
* ``swap-sum``: the AGGREGATE names a sum in which one contribution is added twice.
* ``drop`` (supplier): the AGGREGATE leaves out the supplier's contribution and its declaration,
  summing the rest (a self-consistent aggregate of an incomplete calculation).
* ``splice`` (supplier): the AGGREGATE lists the supplier's contribution of an earlier
  calculation instead of this one's, and delivers that envelope to the auditors.
* ``forged-key``: every party gets a KEY_ANNOUNCEMENT of a key pair the coordinator made itself
  (signed by the coordinator) instead of the key holder's.
* ``replayed-key``: every party gets the key holder's genuine announcement of an earlier
  calculation instead of this one's.
* ``accept-unpinned``: PublishKey does not check the announced context against the pinned
  presets, so an unpinned context reaches the nodes.
* ``second-decryption`` (calculation, supplier): once that calculation is done, a second
  decryption is queued for its key holder, of an aggregate holding the supplier's contribution
  alone (what isolating one supplier would take).
* ``false-death`` (supplier, hold): a live supplier declared dead (tests.harness.false_death).

Every envelope the key holder submits is also written to `submissions/` in the state folder:
what the coordinator received, for the test to read.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from sqlalchemy import select

from tanji.coordinator import calculations, db
from tanji.coordinator.context import CalcContext
from tanji.coordinator.daemon import run
from tanji.coordinator.service import Coordinator
from tanji.coordinator.storage import open_storage
from tanji.coordinator.transactions import Core, Limits, reopen
from tanji.he import tasks as he_tasks
from tanji.infra import lifeline
from tanji.protocol import envelope as env
from tanji.protocol import messages
from tanji.protocol.federation import Federation
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.signing import SigningKey
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb
from tests.harness import false_death

log = logging.getLogger("tanji.evil-coordinator")
MT = epb.MessageType
ATTACK_FILE = "attack.json"


def read_attack(state: Path) -> dict:
    try:
        return json.loads((state / ATTACK_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


class SwappingObjectStore:
    """The coordinator's object store, serving other bytes under a chosen hash (it is the
    coordinator's own store, so it can)."""

    def __init__(self, inner):
        self.inner = inner
        self.swapped: dict[bytes, bytes] = {}

    def get(self, digest: bytes) -> bytes:
        if digest in self.swapped:
            return self.swapped[digest]
        return self.inner.get(digest)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class EvilCore(Core):
    """The coordinator's shared means with the forging hooks: every body it signs passes `seal`,
    every envelope it queues for a party passes `deliver`."""

    def __init__(self, *args, state: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.state = state
        self.forged_keys: dict[str, bytes] = {}

    def _ct(self, s, h: bytes) -> bytes:
        return self.objects.get(reopen(s, h).payload.ciphertext_hash)

    @staticmethod
    def _sender(s, h: bytes) -> str:
        return s.get(db.StoredEnvelope, h).sender

    # ------------------------------------------------------------------ forging
    def seal(self, s, body: epb.EnvelopeBody) -> env.Opened:
        a = read_attack(self.state)
        mode, mt = a.get("mode"), body.message_type
        swap = None
        if (mt == MT.MESSAGE_TYPE_MERGED_REQUEST and mode in ("double-weight", "swap-object")
                and body.merged_request.supplier == a.get("supplier")):
            ctx = CalcContext.of(s, s.get(db.Calculation, body.calculation_id))
            part = body.merged_request.parts[0]
            doubled = he_tasks.add_all(ctx.public_context(self.objects),
                                       [self.objects.get(part.weight_object_hash)] * 2, ctx.width)
            if mode == "double-weight":
                part.weight_object_hash = self.objects.put(doubled)
                del body.object_hashes[:]
                body.object_hashes.extend(p.weight_object_hash for p in body.merged_request.parts)
                log.warning("ATTACK double-weight: %s gets Enc(2w)", a["supplier"])
            elif mode == "swap-object":
                swap = (part.weight_object_hash, doubled)
        if mt == MT.MESSAGE_TYPE_AGGREGATE and mode in ("swap-sum", "drop", "splice"):
            self._forge_aggregate(s, body, a)
        opened = super().seal(s, body)
        if swap is not None:
            assert isinstance(self.objects, SwappingObjectStore)
            self.objects.swapped[swap[0]] = swap[1]
            log.warning("ATTACK swap-object: other bytes served under %s", swap[0].hex()[:12])
        return opened

    def _forge_aggregate(self, s, body: epb.EnvelopeBody, a: dict) -> None:
        ctx = CalcContext.of(s, s.get(db.Calculation, body.calculation_id))
        calc = ctx.calc
        agg = body.aggregate
        hashes = list(agg.contribution_hashes)
        mode = a["mode"]
        if mode == "swap-sum":
            cts = [self._ct(s, h) for h in hashes + hashes[:1]]
        elif mode == "drop":
            dropped = [h for h in hashes if self._sender(s, h) == a["supplier"]]
            hashes = [h for h in hashes if h not in dropped]
            declarations = [h for h in agg.declaration_hashes if self._sender(s, h) != a["supplier"]]
            del agg.declaration_hashes[:]
            agg.declaration_hashes.extend(declarations)
            cts = [self._ct(s, h) for h in hashes]
        else:  # splice: the supplier's contribution of an earlier calculation
            old = s.scalars(select(db.StoredEnvelope).where(
                db.StoredEnvelope.sender == a["supplier"],
                db.StoredEnvelope.message_type == "MESSAGE_TYPE_CONTRIBUTION",
                db.StoredEnvelope.calculation_id != calc.id).order_by(db.StoredEnvelope.received_at.desc())).first()
            hashes = [old.hash if self._sender(s, h) == a["supplier"] else h for h in hashes]
            for auditor in calc.auditors:
                self.deliver(s, auditor, old.hash)
            cts = None  # the honest output stays: the old ciphertext is under another key
        if cts is not None:
            out = self.objects.put(he_tasks.add_all(ctx.public_context(self.objects), cts, ctx.width))
            agg.output_ciphertext_hash = out
            del body.object_hashes[:]
            body.object_hashes.append(out)
        del agg.contribution_hashes[:]
        agg.contribution_hashes.extend(hashes)
        log.warning("ATTACK %s: the aggregate of %s sums %d contributions", mode, calc.id[:8], len(hashes))

    def deliver(self, s, party: str, h: bytes) -> None:
        a = read_attack(self.state)
        row = s.get(db.StoredEnvelope, h)
        if a.get("mode") in ("forged-key", "replayed-key") and row.message_type == "MESSAGE_TYPE_KEY_ANNOUNCEMENT":
            h = self._substitute_key(s, row, a["mode"])
        super().deliver(s, party, h)

    def _substitute_key(self, s, row: db.StoredEnvelope, mode: str) -> bytes:
        cid = row.calculation_id
        if cid in self.forged_keys:
            return self.forged_keys[cid]
        genuine = env.reopen(epb.Envelope(body=row.body, signature=row.signature))
        if mode == "replayed-key":
            old = s.scalars(select(db.StoredEnvelope).where(
                db.StoredEnvelope.message_type == "MESSAGE_TYPE_KEY_ANNOUNCEMENT",
                db.StoredEnvelope.calculation_id != cid).order_by(db.StoredEnvelope.received_at.desc())).first()
            forged = old.hash
        else:  # a key pair of the coordinator's own making, announced under its own signature
            req = reopen(s, genuine.body.answers_hash).payload
            keys = he_tasks.keygen(req.depth_bound, max(1, req.batch_size), req.citation_slots)
            body = epb.EnvelopeBody()
            body.CopyFrom(genuine.body)
            body.sender, body.message_id = COORDINATOR_ID, os.urandom(16)
            body.key_fingerprint, body.ckks_params_hash = keys.key_fingerprint, keys.params_hash
            ka = body.key_announcement
            ka.key_fingerprint, ka.ckks_params_hash = keys.key_fingerprint, keys.params_hash
            ka.context_object_hash = self.objects.put(keys.public_context)
            ka.unit_weight_object_hash = self.objects.put(keys.unit_weight)
            del body.object_hashes[:]
            body.object_hashes.extend([ka.context_object_hash, ka.unit_weight_object_hash])
            forged = super().seal(s, body).hash
        self.forged_keys[cid] = forged
        log.warning("ATTACK %s: %s gets announcement %s", mode, cid[:8], forged.hex()[:12])
        return forged


class EvilCoordinator(Coordinator):
    def __init__(self, *args, state: Path, **kwargs):
        super().__init__(*args, core=lambda *a: EvilCore(*a, state=state), **kwargs)
        self.state = state
        self.second_done: set[str] = set()
        false_death.install(self, read_attack, state)

    def attack(self) -> dict:
        return read_attack(self.state)

    def start(self, envelope):
        """Mode other-key-holder: the calculation is handed to the key holder the attack names, not
        the one the requester's signed request names (a coordinator colluding with that key holder)."""
        a = self.attack()
        if a.get("mode") == "ignore-approvals":  # route every registered edge, approved or not
            approves = calculations.approves
            calculations.approves = lambda *args: True
            try:
                log.warning("ATTACK ignore-approvals: every registered edge is routed")
                return super().start(envelope)
            finally:
                calculations.approves = approves
        outcome, cid = super().start(envelope)
        if a.get("mode") == "other-key-holder" and cid:
            with self.core.transaction() as s:
                calc = s.get(db.Calculation, cid)
                calc.key_holder = a["key_holder"]
                for w in s.scalars(select(db.KeyHolderWork).where(db.KeyHolderWork.calculation_id == cid)):
                    w.party = a["key_holder"]
            log.warning("ATTACK other-key-holder: %s goes to %s", cid[:8], a["key_holder"])
        return outcome, cid

    def publish_key(self, envelope):
        if self.attack().get("mode") != "accept-unpinned":
            return super().publish_key(envelope)
        checks = he_tasks.check_public_context, he_tasks.load_unit_weight
        he_tasks.check_public_context = he_tasks.load_unit_weight = lambda *a, **k: None  # type: ignore[assignment]
        try:
            log.warning("ATTACK accept-unpinned: the announced context is not checked")
            return super().publish_key(envelope)
        finally:
            he_tasks.check_public_context, he_tasks.load_unit_weight = checks

    def check_deadlines(self) -> None:
        super().check_deadlines()
        a = self.attack()
        cid = a.get("calculation")
        if a.get("mode") != "second-decryption" or not isinstance(cid, str) or cid in self.second_done:
            return
        with self.core.transaction() as s:
            calc = s.get(db.Calculation, cid)
            if calc is None or calc.state != rpb.CalculationState.Name(rpb.CALCULATION_STATE_DONE):
                return
            ctx = CalcContext.of(s, calc)
            (one,) = [h for h in reopen(s, calc.aggregate_hash).payload.contribution_hashes
                      if EvilCore._sender(s, h) == a["supplier"]]
            out = reopen(s, one).payload.ciphertext_hash  # the sum of one is itself
            body = messages.aggregate(epb.Aggregate(output_ciphertext_hash=out, contribution_hashes=[one]),
                                      calculation_id=cid, sender=COORDINATOR_ID, receiver=calc.key_holder,
                                      binding=ctx.binding, answers=calc.request_hash, objects=[out])
            calc.aggregate_hash = Core.seal(self.core, s, body).hash
            s.add(db.KeyHolderWork(party=calc.key_holder, kind="decrypt", calculation_id=cid))
            self.second_done.add(cid)
            log.warning("ATTACK second-decryption: %s asked to decrypt %s's contribution alone", cid[:8], a["supplier"])

    def submit_result(self, envelope, citation_report=None):
        folder = self.state / "submissions"
        folder.mkdir(exist_ok=True)
        (folder / f"{len(list(folder.iterdir())):04d}.pb").write_bytes(envelope.SerializeToString())
        return super().submit_result(envelope, citation_report)


def main() -> None:
    lifeline.arm()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--federation", type=Path, required=True)
    p.add_argument("--port-file", type=Path, required=True)
    p.add_argument("--tls", type=Path)
    p.add_argument("--lease-seconds", type=float, default=20.0)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.state.mkdir(parents=True, exist_ok=True)
    storage = open_storage(args.state)
    coord = EvilCoordinator.started(storage.sessions, SwappingObjectStore(storage.objects),
                                    SigningKey.load_or_create(args.state / "envelope-key.pem"),
                                    Federation.load(args.federation), Limits(lease_seconds=args.lease_seconds),
                                    state=args.state)
    tls = None
    if args.tls is not None:
        from tanji.protocol.pki import TLSFiles

        tls = TLSFiles(args.tls / "ca.crt", args.tls / "coordinator.crt", args.tls / "coordinator.key")
    run(coord, "127.0.0.1:0", storage.staging, tls, args.port_file)


if __name__ == "__main__":
    main()
