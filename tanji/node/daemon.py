"""The on-prem node: dials out to the coordinator, answers requests from its local data.

It never listens. It pulls its inbox in order, verifies every envelope, and for
each request computes own(p) here, in plaintext, then only ciphertexts leave:
its contribution Enc(w) ⊙ own(p) + Enc(n·e6) and, for each federated input,
q·Enc(w) + Enc(0) towards the supplier. Homomorphic work runs in a separate
process (TenSEAL holds the GIL), so heartbeats keep flowing meanwhile.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import Counter
from datetime import timedelta, timezone
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import grpc

from tanji.he import tasks as he_work
from tanji.node.importer import load_current
from tanji.node.policy import POLICY_FILE, Policy, load_policy
from tanji.node.store import CalcKey, CalcRecord, Handled, NodeStore, OutObject, Outbox, Received
from tanji.protocol import envelope as env
from tanji.protocol import commitment, completeness, limits
from tanji.methodology import profiles, slots, units
from tanji.protocol.federation import Federation
from tanji.infra.runtime import he_worker_context, open_channel, register_with_retry, stop_on_signals, utcnow
from tanji.methodology.footprint import fallback, own
from tanji.protocol.signing import SigningKey
from tanji.infra.transfer import TransferError, pull_object, push_object
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import node_pb2 as npb
from tanji.v1 import node_pb2_grpc as ngrpc
from tanji.v1 import objects_pb2 as opb

log = logging.getLogger("tanji.node")
MT = epb.MessageType
COORDINATOR = "coordinator"


#: gRPC codes for an upload the coordinator will not take however often it is sent
UPLOAD_REFUSALS = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
                             grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION,
                             grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.NOT_FOUND})


class NodeRefusal(Exception):
    """This node refuses a request; sent to the coordinator as a signed REFUSAL."""

    def __init__(self, code: int, message: str):
        self.code, self.message = code, message
        super().__init__(message)


class Node:
    def __init__(self, org: str, store: NodeStore, key: SigningKey, federation: Federation, channel: grpc.Channel,
                 policy: Policy | None = None, state: Path | None = None):
        current = load_current(store)
        if current is None:
            raise RuntimeError("no data imported: run `tanji node import` first")
        self.data, self.factors, self.version = current
        if self.data.org != org:
            raise RuntimeError(f"imported data is for {self.data.org!r}, this node is {org!r}")
        self.org = org
        self.state = state if state is not None else Path(".")  # where `tanji calc start` keeps commitments
        self.store = store
        self.key = key
        self.federation = federation
        self.stub = ngrpc.NodeServiceStub(channel)
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=he_worker_context())
        self.stop = threading.Event()
        self.policy = policy or Policy()
        if self.policy.approved_customers is None:
            log.warning("%s has no approved-customer list (%s): it answers every buyer", org, POLICY_FILE)

    # ------------------------------------------------------------------ wire
    def register(self) -> None:
        body = env.new_body(MT.MESSAGE_TYPE_REGISTRATION, calculation_id="", sender=self.org, receiver=COORDINATOR)
        reg = body.registration
        reg.organisation_id = self.org
        reg.envelope_public_key = self.key.public_raw
        reg.roles.extend([cpb.PARTY_ROLE_NODE, cpb.PARTY_ROLE_REQUESTER, cpb.PARTY_ROLE_AUDITOR])
        for p in self.data.model.products:
            reg.product_ids.append(p.id)
            for _, inp in requested_inputs(p):
                reg.supply_edges.add(buyer_product=p.id, supplier=inp.supplier, supplier_product=inp.product)
        resp = self.stub.Register(npb.RegisterRequest(registration=env.seal(body, self.key)),
                                  timeout=limits.RPC_TIMEOUT_SECONDS)
        if resp.outcome.status != cpb.PUSH_STATUS_ACCEPTED:
            raise RuntimeError(f"registration refused: {cpb.RefusalCode.Name(resp.outcome.code)}: {resp.outcome.message}")
        log.info("%s registered (%d products, data version %d)", self.org, len(reg.product_ids), self.version)

    def heartbeat_loop(self) -> None:
        while not self.stop.wait(limits.HEARTBEAT_SECONDS):
            try:
                self.stub.Heartbeat(npb.HeartbeatRequest(party_id=self.org), timeout=limits.RPC_TIMEOUT_SECONDS)
            except grpc.RpcError as exc:
                log.warning("heartbeat failed: %s", exc.code())

    def key_of(self, party: str) -> bytes | None:
        return self.federation.key_of(party)

    def _pull(self, calc: str, digest: bytes, kind_limit: int) -> bytes:
        """An object, checked against its name: other bytes (a coordinator substituting a
        ciphertext or context) or an oversized object are refused by name, never used."""
        try:
            return pull_object(self.stub, self.org, calc, digest, kind_limit)
        except TransferError as exc:
            code = (cpb.REFUSAL_CODE_TOO_LARGE if "above the limit" in str(exc) else
                    cpb.REFUSAL_CODE_HASH_MISMATCH if "does not match its hash" in str(exc) else cpb.REFUSAL_CODE_MALFORMED)
            raise NodeRefusal(code, str(exc)) from None

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True).start()
        self.push_pending()
        idle = 0.0  # back off to one pull a second while nothing arrives
        while not self.stop.is_set():
            try:
                resp = self.stub.PullMessages(npb.PullMessagesRequest(party_id=self.org, ack_cursor=self.store.cursor()),
                                              timeout=limits.RPC_TIMEOUT_SECONDS)
                for m in resp.messages:
                    self.handle(m.envelope)
                    self.store.set_cursor(m.sequence)
                self.push_pending()
                idle = 0.0 if resp.messages else min(1.0, idle + 0.1)
                if idle:
                    self.stop.wait(idle)
            except grpc.RpcError as exc:
                log.warning("coordinator unreachable (%s); retrying", exc.code())
                self.stop.wait(1.0)
        self.pool.shutdown(cancel_futures=True)

    def push_pending(self) -> None:
        """Push stored objects and envelopes not yet acknowledged: the same bytes on every retry.

        An unreachable coordinator is retried (the caller's loop); an upload it refuses for good
        (too large, malformed, not allowed) is given up, logged and noted in the ledger — retrying
        the same bytes would fail forever and hold back every envelope queued after it."""
        with self.store.sessions() as s:
            rows = [(r.sequence, r.calculation_id, r.answers, r.body, r.signature)
                    for r in s.query(Outbox).filter(Outbox.pushed.is_(False)).order_by(Outbox.sequence)]
        for sequence, cid, answers, body, signature in rows:
            parsed = epb.EnvelopeBody.FromString(body)
            try:
                with self.store.sessions() as s:
                    objects = [(o.content, o.kind) for d in parsed.object_hashes if (o := s.get(OutObject, d)) is not None]
                for content, object_kind in objects:
                    push_object(self.stub, self.org, cid, content, object_kind)
                resp = self.stub.PushMessages(npb.PushMessagesRequest(
                    party_id=self.org, envelopes=[epb.Envelope(body=body, signature=signature)]),
                    timeout=limits.RPC_TIMEOUT_SECONDS)
                out = resp.outcomes[0]
                refused = (f"{cpb.RefusalCode.Name(out.code)}: {out.message}"
                           if out.status == cpb.PUSH_STATUS_REFUSED else None)
            except grpc.RpcError as exc:
                if exc.code() not in UPLOAD_REFUSALS:
                    raise  # unreachable or overloaded: the same bytes again later
                refused = f"{exc.code().name}: {exc.details()}"
            except TransferError as exc:
                refused = str(exc)
            with self.store.sessions.begin() as s:
                s.get(Outbox, sequence).pushed = True
                if refused is not None:
                    log.error("coordinator refused our %s of %s: %s", epb.MessageType.Name(parsed.message_type), cid, refused)
                    answered = s.get(Handled, answers)
                    if answered is not None:
                        answered.outcome += f"; not delivered, the coordinator refused it: {refused}"

    # ------------------------------------------------------------------ dispatch
    def handle(self, envelope: epb.Envelope) -> None:
        try:
            opened = env.open_envelope(envelope, self.key_of)
        except env.EnvelopeRefused as exc:
            log.error("dropped an envelope: %s", exc)
            return
        mt = opened.body.message_type
        if mt in EVIDENCE and self._audits(opened.body.calculation_id):
            self.keep(opened)  # what the attestation checks completeness against (on_aggregate)
            if opened.body.receiver != self.org:
                return
        with self.store.sessions() as s:
            if s.get(Handled, opened.hash) is not None:
                return  # delivered twice: answered already
        try:
            if mt == MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT:
                self.on_key(opened)
            elif mt == MT.MESSAGE_TYPE_CALCULATION_REQUEST:
                self.on_calculation_request(opened)
            elif mt == MT.MESSAGE_TYPE_MERGED_REQUEST:
                self.on_merged_request(opened)
            elif mt == MT.MESSAGE_TYPE_CONTRIBUTION:
                self.keep(opened)
            elif mt == MT.MESSAGE_TYPE_AGGREGATE:
                self.on_aggregate(opened)
            elif mt == MT.MESSAGE_TYPE_DEAD_SUPPLIER:
                self.on_dead_supplier(opened)
            elif mt in (MT.MESSAGE_TYPE_RESULT, MT.MESSAGE_TYPE_REFUSAL, MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION):
                self.keep(opened)
            else:
                log.warning("ignoring %s", opened.type_name)
        except NodeRefusal as exc:
            log.error("%s refuses %s of %s: %s", self.org, opened.type_name, opened.body.calculation_id, exc.message)
            self.refuse(opened, exc.code, exc.message)

    def _audits(self, cid: str) -> bool:
        """This node is an auditor of the calculation (by default: its requester)."""
        with self.store.sessions() as s:
            row = s.query(Received).filter(Received.calculation_id == cid,
                                           Received.kind == "MESSAGE_TYPE_CALCULATION_REQUEST").first()
        if row is None:
            return False
        req = env.parse_unverified(epb.Envelope(body=row.body, signature=row.signature))
        return self.org in (list(req.payload.auditors) or [req.body.sender])

    def keep(self, opened: env.Opened) -> None:
        with self.store.sessions.begin() as s:
            if s.get(Received, opened.hash) is None:
                s.add(Received(hash=opened.hash, calculation_id=opened.body.calculation_id, kind=opened.type_name,
                               body=opened.envelope.body, signature=opened.envelope.signature))

    def refuse(self, opened: env.Opened, code: int, message: str) -> None:
        body = env.new_body(MT.MESSAGE_TYPE_REFUSAL, calculation_id=opened.body.calculation_id, sender=self.org,
                            receiver=COORDINATOR)
        body.answers_hash = opened.hash
        body.refusal.code, body.refusal.message = code, message
        self._bind(body, opened.body.calculation_id)
        sealed = env.seal(body, self.key)
        with self.store.sessions.begin() as s:
            s.add(Handled(hash=opened.hash, calculation_id=opened.body.calculation_id, kind=opened.type_name,
                          outcome=f"refused: {message}"))
            s.add(Outbox(hash=env.message_hash(sealed), calculation_id=opened.body.calculation_id,
                         answers=opened.hash, body=sealed.body, signature=sealed.signature))

    def _calc_key(self, cid: str) -> CalcKey | None:
        with self.store.sessions() as s:
            return s.get(CalcKey, cid)

    def _layout(self, cid: str) -> tuple[int, dict[str, int]]:
        """(slots per ciphertext, factor id -> citation slot) of a calculation; no citation slots: {}."""
        ka = env.parse_unverified(epb.Envelope.FromString(self._calc_key(cid).announcement)).payload
        width = ka.width or slots.WIDTH
        return width, (slots.citation_slots(self.factors.by_id) if width > slots.WIDTH else {})

    def _bind(self, body: epb.EnvelopeBody, cid: str) -> None:
        """Bind a body to the calculation's key, parameters, factor set and method."""
        ck = self._calc_key(cid)
        if ck is not None:
            ka = env.parse_unverified(epb.Envelope.FromString(ck.announcement))
            body.key_fingerprint = ka.payload.key_fingerprint
            body.ckks_params_hash = ka.payload.ckks_params_hash
            body.factor_set_hash = ka.body.factor_set_hash
            body.method_profile.CopyFrom(ka.body.method_profile)

    # ------------------------------------------------------------------ key
    def on_key(self, opened: env.Opened) -> None:
        ka = opened.payload
        if opened.body.sender not in self.federation.key_holders():
            raise NodeRefusal(cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER, f"{opened.body.sender!r} is not a listed key holder")
        if opened.body.key_fingerprint != ka.key_fingerprint or opened.body.ckks_params_hash != ka.ckks_params_hash:
            raise NodeRefusal(cpb.REFUSAL_CODE_WRONG_KEY, "key announcement header and payload disagree")
        context = self._pull(opened.body.calculation_id, ka.context_object_hash, limits.MAX_CONTEXT_BYTES)
        try:
            he_work.check_public_context(context, ka.key_fingerprint, ka.ckks_params_hash, ka.preset)
        except he_work.HEError as exc:
            raise NodeRefusal(cpb.REFUSAL_CODE_WRONG_PARAMETERS, str(exc)) from None
        if opened.body.factor_set_hash != bytes.fromhex(self.factors.sha256):
            raise NodeRefusal(cpb.REFUSAL_CODE_FACTOR_SET_MISMATCH,
                              f"calculation uses factor set {opened.body.factor_set_hash.hex()[:16]}…, "
                              f"this node holds {self.factors.model.id} ({self.factors.sha256[:16]}…)")
        if ka.width not in (0, slots.WIDTH, slots.calc_width(1, len(self.factors.model.factors))):
            raise NodeRefusal(cpb.REFUSAL_CODE_SLOT_LAYOUT_MISMATCH,
                              f"the key is for {ka.width} slots; this node's layout is {slots.WIDTH} slots, plus "
                              f"{len(self.factors.model.factors)} citation slots for {self.factors.model.id}")
        if ka.unit_weight_object_hash:  # the key holder's Enc(1): checked now, used for our own target
            unit = self._pull(opened.body.calculation_id, ka.unit_weight_object_hash, limits.MAX_CIPHERTEXT_BYTES)
            try:
                he_work.load_unit_weight(context, unit, ka.width or slots.WIDTH)
            except he_work.HEError as exc:
                raise NodeRefusal(he_work.refusal_code(exc), f"the key holder's Enc(1): {exc}") from None
        with self.store.sessions.begin() as s:
            s.add(CalcKey(calculation_id=opened.body.calculation_id, announcement=opened.envelope.SerializeToString(),
                          context=context))
            s.add(Handled(hash=opened.hash, calculation_id=opened.body.calculation_id, kind=opened.type_name,
                          outcome="key accepted"))

    # ------------------------------------------------------------------ requests
    def on_calculation_request(self, opened: env.Opened) -> None:
        """Our own calculation: answer the target product with w = 1."""
        if opened.body.sender != self.org:
            self.keep(opened)  # another party's calculation that reaches us: for the usage ledger
            return
        req = opened.payload
        self._check_commitment(opened)
        self.keep(opened)
        self.answer(opened, req.products[0].product_id, parts=None, depth_remaining=req.depth_bound)

    def _check_commitment(self, opened: env.Opened) -> None:
        """Our own calculation: the quantities we are about to send must be the ones committed to.

        `tanji calc start` wrote the salt and the bill of materials it committed to; a node
        whose data changed since (or a request carrying another commitment) refuses by name."""
        req = opened.payload
        try:
            product = self.data.model.product(req.products[0].product_id)
        except KeyError:
            return  # answer() refuses the unknown product by name
        kept = commitment.load(self.state, opened.body.calculation_id)
        if not req.quantity_commitment or kept is None:
            raise NodeRefusal(cpb.REFUSAL_CODE_QUANTITIES_UNCOMMITTED,
                              f"no quantity commitment for {opened.body.calculation_id} in {commitment.folder(self.state)}")
        if commitment.commit(kept.salt, commitment.bill_of_materials(product)) != req.quantity_commitment:
            raise NodeRefusal(cpb.REFUSAL_CODE_COMMITMENT_MISMATCH,
                              f"{self.org}/{product.id}: the quantities in the imported data (version {self.version}) "
                              "are not the ones the requester committed to")

    def on_merged_request(self, opened: env.Opened) -> None:
        if opened.body.sender != COORDINATOR:
            raise NodeRefusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "merged requests come from the coordinator only")
        mr = opened.payload
        if mr.supplier != self.org:
            raise NodeRefusal(cpb.REFUSAL_CODE_WRONG_RECEIVER, f"request for {mr.supplier!r}")
        refused = sorted({r.buyer for p in mr.parts for r in p.requests if not self.policy.approves(r.buyer, self.org)})
        if refused:
            raise NodeRefusal(cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED,
                              f"{self.org} has not approved {', '.join(refused)} as a customer of {mr.product_id}")
        self._check_contributors(mr)
        self._check_rate_limit(opened.body.calculation_id)
        parts = [(p.quantity_unit, p.weight_object_hash) for p in mr.parts]
        self.keep(opened)  # its Enc(w) is kept until the calculation ends: a dead supplier's fallback needs it
        self.answer(opened, mr.product_id, parts=parts, depth_remaining=mr.depth_remaining)

    def _check_contributors(self, mr) -> None:
        """The minimum-contributors policy: every buyer merged here requested at least N inputs.

        A buyer naming this product as its only input (or one of too few) would learn this
        node's footprint from the total (DESIGN.md "Trust model"); the coordinator states each
        buyer's fan-out without naming the other suppliers."""
        need = self.policy.min_contributors
        if need is None:
            return
        buyers = {r.buyer for p in mr.parts for r in p.requests}
        fan_out = {f.buyer: f.inputs for f in mr.buyer_fan_out}
        short = sorted(b for b in buyers if b != self.org and fan_out.get(b, 0) < need)
        if short:
            raise NodeRefusal(cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS,
                              f"{self.org} answers {mr.product_id} only for a buyer with at least {need} inputs; "
                              + ", ".join(f"{b} has {fan_out.get(b, 0)}" for b in short))

    def _blocks_of(self, s, cid: str) -> Counter[tuple[str, str]]:
        """(root requester, product) of every slot block of a calculation's signed request."""
        row = s.query(Received).filter(Received.calculation_id == cid,
                                       Received.kind == "MESSAGE_TYPE_CALCULATION_REQUEST").first()
        if row is None:
            return Counter()
        req = env.parse_unverified(epb.Envelope(body=row.body, signature=row.signature))
        return Counter((req.body.sender, b.product_id) for b in req.payload.products)

    def _check_rate_limit(self, cid: str) -> None:
        """At most N per (root requester, root product) in the window, every batch block counted: a
        batch naming one product k times is k figures of it, as k calculations would be."""
        if self.policy.rate_limit is None:
            return
        limit, days = self.policy.rate_limit
        since = utcnow() - timedelta(days=days)
        with self.store.sessions() as s:
            wanted = Counter({k: n for k, n in self._blocks_of(s, cid).items() if k[0] != self.org})
            if not wanted:
                return
            used: Counter[tuple[str, str]] = Counter()
            seen = set()
            for h in s.query(Handled).filter(Handled.kind == "MESSAGE_TYPE_MERGED_REQUEST"):
                at = h.handled_at if h.handled_at.tzinfo else h.handled_at.replace(tzinfo=timezone.utc)
                if at >= since and h.calculation_id not in seen and h.calculation_id != cid \
                        and not h.outcome.startswith("refused"):
                    seen.add(h.calculation_id)
                    used.update(self._blocks_of(s, h.calculation_id))
        for (requester, product), n in sorted(wanted.items()):
            if used[(requester, product)] + n > limit:
                raise NodeRefusal(cpb.REFUSAL_CODE_RATE_LIMITED,
                                  f"{self.org} answers at most {limit} calculation(s) of {requester}/{product} in "
                                  f"{days:g} day(s); {used[(requester, product)]} already"
                                  + (f", and this one asks for {n} batch blocks of it" if n > 1 else ""))

    def answer(self, opened: env.Opened, product_id: str, parts, depth_remaining: int) -> None:
        cid = opened.body.calculation_id
        ck = self._calc_key(cid)
        if ck is None:
            raise NodeRefusal(cpb.REFUSAL_CODE_WRONG_KEY, "no accepted key for this calculation")
        ka = env.parse_unverified(epb.Envelope.FromString(ck.announcement))
        for field, mine in (("key_fingerprint", ka.payload.key_fingerprint), ("ckks_params_hash", ka.payload.ckks_params_hash),
                            ("factor_set_hash", ka.body.factor_set_hash)):
            if getattr(opened.body, field) != mine and opened.body.message_type != MT.MESSAGE_TYPE_CALCULATION_REQUEST:
                raise NodeRefusal(cpb.REFUSAL_CODE_WRONG_KEY if field != "factor_set_hash" else cpb.REFUSAL_CODE_FACTOR_SET_MISMATCH,
                                  f"request names another {field} than the calculation's")
        try:
            product = self.data.model.product(product_id)
        except KeyError:
            raise NodeRefusal(cpb.REFUSAL_CODE_UNKNOWN_PRODUCT, f"{self.org} serves no product {product_id!r}") from None
        try:
            profile = profiles.get(ka.body.method_profile.name)
        except ValueError as exc:
            raise NodeRefusal(cpb.REFUSAL_CODE_METHOD_MISMATCH, str(exc)) from None
        if requested_inputs(product) and depth_remaining == 0:
            raise NodeRefusal(cpb.REFUSAL_CODE_DEPTH_EXCEEDED,
                              f"{self.org}/{product_id} has federated inputs but the declared depth bound is exhausted")
        part = own(product, self.org, self.data.model.organisation.country, self.factors.by_id, profile)
        weighted = (part.vector * slots.WEIGHTED).tolist()
        n_warnings = int(part.vector[slots.WARNINGS])
        scaled_parts = self._weights(cid, product, parts)
        qs = [inp.quantity for _, inp in requested_inputs(product)]
        width, citation = self._layout(cid)
        cited = sorted(citation[f] for f in part.cited) if citation else []
        try:
            answered = self.pool.submit(he_work.answer, ck.context, scaled_parts, weighted, n_warnings, qs,
                                        width, cited).result()
        except he_work.OutOfLevels as exc:
            raise NodeRefusal(cpb.REFUSAL_CODE_INSUFFICIENT_LEVELS, f"{self.org}/{product_id}: {exc}") from None
        except he_work.HEError as exc:
            raise NodeRefusal(cpb.REFUSAL_CODE_MALFORMED, f"{self.org}/{product_id}: {exc}") from None
        self._emit(opened, product, part, answered, depth_remaining)

    def _weights(self, cid: str, product, parts) -> list[tuple[bytes, float]] | None:
        """Enc(w) per quantity unit with the factor converting that unit to the product's own."""
        if parts is None:  # the requester's own target: w = 1, the key holder's Enc(1) where it made one
            ka = env.parse_unverified(epb.Envelope.FromString(self._calc_key(cid).announcement)).payload
            if not ka.unit_weight_object_hash:
                return None
            return [(self._pull(cid, ka.unit_weight_object_hash, limits.MAX_CIPHERTEXT_BYTES), 1.0)]
        out = []
        for unit, digest in parts:
            try:
                c = units.factor(unit, product.unit)
            except units.UnitMismatch as exc:
                raise NodeRefusal(cpb.REFUSAL_CODE_UNIT_MISMATCH,
                                  f"quantity of {self.org}/{product.id} (sold per {product.unit!r}): {exc}") from None
            out.append((self._pull(cid, digest, limits.MAX_CIPHERTEXT_BYTES), c))
        return out

    def _emit(self, opened, product, part, answered: he_work.Answer, depth_remaining: int):
        """Store every object and envelope of this answer in one transaction; pushing follows."""
        cid = opened.body.calculation_id
        sealed: list[epb.Envelope] = []
        objects: list[tuple[bytes, bytes]] = []
        declared = []
        request_index = {}
        contribution = answered.contribution
        for (index, inp), ct in zip(requested_inputs(product), answered.requests):
            digest = hashlib.sha256(ct).digest()
            objects.append((digest, ct))
            body = env.new_body(MT.MESSAGE_TYPE_REQUEST, calculation_id=cid, sender=self.org, receiver=inp.supplier)
            self._bind(body, cid)
            body.answers_hash = opened.hash
            body.object_hashes.append(digest)
            r = body.request
            r.supplier, r.product_id, r.quantity_unit = inp.supplier, inp.product, inp.unit
            r.depth_remaining = depth_remaining - 1
            r.weight_object_hash = digest
            e = env.seal(body, self.key)
            sealed.append(e)
            request_index[env.message_hash(e)] = index
            declared.append((inp, digest, env.message_hash(e)))
        body = env.new_body(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, calculation_id=cid, sender=self.org, receiver=COORDINATOR)
        self._bind(body, cid)
        body.answers_hash = opened.hash
        body.declaration.SetInParent()  # a leaf declares an empty list
        for inp, digest, h in declared:
            body.declaration.requests.add(supplier=inp.supplier, product_id=inp.product, quantity_unit=inp.unit,
                                          weight_object_hash=digest, request_hash=h)
            body.object_hashes.append(digest)
        sealed.append(env.seal(body, self.key))
        c_digest = hashlib.sha256(contribution).digest()
        objects.append((c_digest, contribution))
        salt = os.urandom(32)
        record = self._record(product.id, part.vector.tolist(), part.warnings, sorted(part.cited))
        body = env.new_body(MT.MESSAGE_TYPE_CONTRIBUTION, calculation_id=cid, sender=self.org, receiver=COORDINATOR)
        self._bind(body, cid)
        body.answers_hash = opened.hash
        body.object_hashes.append(c_digest)
        body.contribution.product_id = product.id
        body.contribution.ciphertext_hash = c_digest
        body.contribution.record_commitment = hashlib.sha256(salt + record).digest()
        contribution_env = env.seal(body, self.key)
        sealed.append(contribution_env)
        with self.store.sessions.begin() as s:
            for digest, content in objects:
                if s.get(OutObject, digest) is None:
                    s.add(OutObject(hash=digest, calculation_id=cid, kind=opb.OBJECT_KIND_CIPHERTEXT, content=content))
            for e in sealed:
                h = env.message_hash(e)
                s.add(Outbox(hash=h, calculation_id=cid, answers=opened.hash, body=e.body, signature=e.signature,
                             product=product.id if h in request_index else None, input_index=request_index.get(h)))
            s.add(CalcRecord(contribution_hash=env.message_hash(contribution_env), calculation_id=cid, product=product.id,
                             data_version=self.version, salt=salt, record=record, warnings="\n".join(part.warnings),
                             fresh=answered.fresh, weights=_pack_weights(answered.weights)))
            s.add(Handled(hash=opened.hash, calculation_id=cid, kind=opened.type_name, data_version=self.version,
                          outcome=f"answered {product.id}: {len(declared)} requests sent"))
        log.info("%s answered %s for %s: contribution + %d requests", self.org, product.id, cid[:8], len(declared))

    def _record(self, product_id: str, vector: list[float], warnings: list[str], cited: list[str], **extra) -> bytes:
        """The local calculation record a contribution commits to: which data, which factors, own(p)."""
        return json.dumps({"organisation": self.org, "product": product_id, "data_version": self.version,
                           "data_sha256": self.data.sha256, "factor_set_sha256": self.factors.sha256,
                           "vector": vector, "warnings": warnings, "cited": cited, **extra}, sort_keys=True).encode()

    # ------------------------------------------------------------------ dead suppliers
    def on_dead_supplier(self, opened: env.Opened) -> None:
        """Answer for a supplier the coordinator declared dead: q·Enc(w) ⊙ fallback(p), signed."""
        if opened.body.sender != COORDINATOR:
            raise NodeRefusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "dead-supplier notices come from the coordinator only")
        cid, ds = opened.body.calculation_id, opened.payload
        with self.store.sessions() as s:
            mine = s.query(Outbox).filter(Outbox.hash == opened.body.answers_hash).one_or_none()
            answered = s.get(Received, mine.answers) if mine is not None else None
        if mine is None or mine.product is None:
            raise NodeRefusal(cpb.REFUSAL_CODE_UNEXPECTED, "the notice names no request of this node")
        product = self.data.model.product(mine.product)
        inp = product.inputs[mine.input_index]
        label = f"{self.org}/{product.id}"
        if inp.fallback_factor is None:
            raise NodeRefusal(cpb.REFUSAL_CODE_DECLARED_DEAD,
                              f"supplier {ds.supplier}/{ds.product_id} is dead and {label} inputs[{mine.input_index}] "
                              "has no fallback_factor")
        fb = fallback(inp, mine.input_index, label, self.factors.by_id)
        if answered is None or answered.kind != "MESSAGE_TYPE_MERGED_REQUEST":  # our own target: w = 1
            parts = None
        else:
            merged = env.parse_unverified(epb.Envelope(body=answered.body, signature=answered.signature)).payload
            parts = [(p.quantity_unit, p.weight_object_hash) for p in merged.parts]
        weights = self._weights(cid, product, parts)
        ck = self._calc_key(cid)
        weighted = (fb.vector * slots.WEIGHTED).tolist()
        width, citation = self._layout(cid)
        cited = sorted(citation[f] for f in fb.cited) if citation else []
        answered = self.pool.submit(he_work.answer, ck.context, weights, weighted, 1, [], width, cited).result()
        ct = answered.contribution
        digest = hashlib.sha256(ct).digest()
        salt = os.urandom(32)
        record = self._record(product.id, fb.vector.tolist(), fb.warnings, sorted(fb.cited),
                              fallback_for=f"{ds.supplier}/{ds.product_id}", input_index=mine.input_index)
        body = env.new_body(MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION, calculation_id=cid, sender=self.org, receiver=COORDINATOR)
        self._bind(body, cid)
        body.answers_hash = opened.hash
        body.object_hashes.append(digest)
        f = body.fallback_contribution
        f.supplier, f.product_id, f.ciphertext_hash = ds.supplier, ds.product_id, digest
        f.record_commitment = hashlib.sha256(salt + record).digest()
        f.request_hash = opened.body.answers_hash
        sealed = env.seal(body, self.key)
        h = env.message_hash(sealed)
        with self.store.sessions.begin() as s:
            s.add(OutObject(hash=digest, calculation_id=cid, kind=opb.OBJECT_KIND_CIPHERTEXT, content=ct))
            s.add(Outbox(hash=h, calculation_id=cid, answers=opened.hash, body=sealed.body, signature=sealed.signature))
            s.add(CalcRecord(contribution_hash=h, calculation_id=cid, product=product.id, data_version=self.version,
                             salt=salt, record=record, warnings="\n".join(fb.warnings),
                             fallback_of=f"{ds.supplier}/{ds.product_id}", fresh=answered.fresh,
                             weights=_pack_weights(answered.weights)))
            s.add(Handled(hash=opened.hash, calculation_id=cid, kind=opened.type_name,
                          outcome=f"fallback for {ds.supplier}/{ds.product_id}"))
        log.warning("%s answered for dead supplier %s/%s with fallback factor %s", label, ds.supplier, ds.product_id,
                    inp.fallback_factor)

    # ------------------------------------------------------------------ audit
    def on_aggregate(self, opened: env.Opened) -> None:
        """Keyless attestation: re-execute the coordinator's sum from the signed contributions."""
        if opened.body.sender != COORDINATOR:
            raise NodeRefusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "aggregates come from the coordinator only")
        cid = opened.body.calculation_id
        agg = opened.payload
        ck = self._calc_key(cid)
        ciphertexts = []
        with self.store.sessions() as s:
            for h in agg.contribution_hashes:
                row = s.get(Received, h)
                if row is None:
                    raise NodeRefusal(cpb.REFUSAL_CODE_MISSING_OBJECT, f"contribution {h.hex()[:12]} was not delivered")
                c = env.open_envelope(epb.Envelope(body=row.body, signature=row.signature), self.key_of)
                if c.body.calculation_id != cid:
                    raise NodeRefusal(cpb.REFUSAL_CODE_UNEXPECTED, "a contribution of another calculation is in the sum")
                ciphertexts.append(self._pull(cid, c.payload.ciphertext_hash, limits.MAX_CIPHERTEXT_BYTES))
        self._check_complete(cid, ck, agg)
        total = self.pool.submit(he_work.add_all, ck.context, ciphertexts, self._layout(cid)[0]).result()
        if hashlib.sha256(total).digest() != agg.output_ciphertext_hash:
            raise NodeRefusal(cpb.REFUSAL_CODE_HASH_MISMATCH, "re-executed aggregation does not match the coordinator's output")
        body = env.new_body(MT.MESSAGE_TYPE_ATTESTATION, calculation_id=cid, sender=self.org, receiver=COORDINATOR)
        self._bind(body, cid)
        body.answers_hash = opened.hash
        a = body.attestation
        a.output_ciphertext_hash = agg.output_ciphertext_hash
        a.contribution_hashes.extend(agg.contribution_hashes)
        with self.store.sessions() as s:
            for rec in s.query(CalcRecord).filter(CalcRecord.calculation_id == cid):
                a.requester_warnings.extend(w for w in rec.warnings.split("\n") if w)
                if rec.fallback_of:
                    supplier, _, supplied = rec.fallback_of.partition("/")
                    a.requester_fallbacks.add(supplier=supplier, product_id=supplied)
        sealed = env.seal(body, self.key)
        with self.store.sessions.begin() as s:
            s.add(Outbox(hash=env.message_hash(sealed), calculation_id=cid, answers=opened.hash, body=sealed.body,
                         signature=sealed.signature))
            s.add(Handled(hash=opened.hash, calculation_id=cid, kind=opened.type_name, outcome="attested"))
        log.info("%s attested the aggregate of %s (%d contributions)", self.org, cid[:8], len(ciphertexts))

    def _check_complete(self, cid: str, ck: CalcKey, agg) -> None:
        """Before attesting: every declared request answered exactly once and nothing else summed,
        and every merged request's Enc(w) the sum of its buyers' signed requests (tanji.protocol.completeness)
        — from the envelopes the coordinator delivered, each checked on receipt. A coordinator
        that drops a supplier or scales its weight is refused here, before any decryption."""
        with self.store.sessions() as s:
            evidence = [env.parse_unverified(epb.Envelope(body=r.body, signature=r.signature))
                        for r in s.query(Received).filter(Received.calculation_id == cid)]
        found = completeness.problems(evidence, "delivered to the auditor", agg.contribution_hashes)
        if found:
            raise NodeRefusal(cpb.REFUSAL_CODE_UNEXPECTED, "incomplete: " + "; ".join(found))
        width = self._layout(cid)[0]
        found = completeness.merged_weight_problems(
            [o for o in evidence if o.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST],
            lambda h: self._pull(cid, h, limits.MAX_CIPHERTEXT_BYTES),
            lambda cts: self.pool.submit(he_work.add_all, ck.context, cts, width).result())
        if found:
            raise NodeRefusal(cpb.REFUSAL_CODE_HASH_MISMATCH, "; ".join(found))


#: envelopes an auditor keeps though they are addressed to others: the completeness evidence
EVIDENCE = (MT.MESSAGE_TYPE_REQUEST, MT.MESSAGE_TYPE_MERGED_REQUEST, MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS,
            MT.MESSAGE_TYPE_DEAD_SUPPLIER)


def requested_inputs(product) -> list[tuple[int, object]]:
    """(index, input) of the inputs a product requests: a zero quantity names no supplier, so a
    buyer that zeroes inputs has fewer contributors — which suppliers' policies can refuse."""
    return [(j, inp) for j, inp in enumerate(product.inputs) if inp.quantity > 0]


def serve(org: str, state: Path, federation_file: Path, coordinator: str,
          data_file: Path | None = None, factors_file: Path | None = None, tls_dir: Path | None = None) -> None:
    """Import (if files are given), register, then run until SIGTERM/SIGINT.

    A refused data file raises DataError/DataErrors before anything is stored or
    any connection is made: the node does not serve and says why.
    """
    from tanji.node.importer import import_files

    policy = load_policy(state)
    store = NodeStore(state / "node.db")
    if data_file is not None:
        nd, _, version = import_files(store, data_file, factors_file, policy.ceilings)
        log.info("imported %s as data version %d", data_file, version)
    key = SigningKey.load_or_create(state / "envelope-key.pem")
    channel = open_channel(coordinator, tls_dir, org)
    node = Node(org, store, key, Federation.load(federation_file), channel, policy, state=state)
    stop_on_signals(node.stop)
    register_with_retry(node.register, coordinator)
    (state / "ready").write_text("registered\n")
    node.run()


def _pack_weights(weights: list[tuple[bytes, float]]) -> bytes:
    """The Enc(w) ciphertexts a contribution used, with their unit factors, in one blob."""
    from tanji.protocol.bundle import pack

    files = {f"{i:03d}.ct": ct for i, (ct, _) in enumerate(weights)}
    files["factors.json"] = json.dumps([c for _, c in weights]).encode()
    return pack(files)
