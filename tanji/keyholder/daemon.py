"""The key-holder daemon: dials out, keys new calculations, decrypts attested totals once.

It never sees an individual contribution: only the final ciphertext, the
calculation request, the coordinator's signed aggregate and the auditors'
attestations. It releases figures rounded to the preset's measured precision,
after checking slot 7 is 0 and every figure is within bounds. It talks to the
coordinator through the dial-out client every party shares (tanji.infra.party_client).
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC
from pathlib import Path

import grpc
import numpy as np

from tanji.he import tasks as he_work
from tanji.infra.party_client import PartyClient, Undeliverable
from tanji.infra.runtime import he_worker_context, open_channel, stop_on_signals
from tanji.infra.telemetry import TimedPool
from tanji.keyholder import lifecycle, release
from tanji.keyholder.recheck import recheck, verified_evidence
from tanji.keyholder.store import KeyedCalculation, KeyFileTaken, KeyHolderStore
from tanji.methodology import slots
from tanji.protocol import envelope as env
from tanji.protocol import limits, messages
from tanji.protocol.fallbacks import Taken, taken
from tanji.protocol.federation import ANCHOR_FILE, Federation, FederationFile
from tanji.protocol.identity import COORDINATOR_ID, is_calculation_id
from tanji.protocol.messages import Binding
from tanji.protocol.refusals import Refusal
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import key_holder_pb2 as kpb
from tanji.v1 import objects_pb2 as opb
from tanji.v1 import requester_pb2 as rpb
from tanji.v1 import requester_pb2_grpc as rgrpc

log = logging.getLogger("tanji.keyholder")
MT = epb.MessageType
#: where the audit bundle of a calculation is published, next to its result.json


class KeyHolder:
    def __init__(self, party: str, store: KeyHolderStore, key: SigningKey, federation: Federation, channel):
        self.party = party
        self.store = store
        self.key = key
        self.federation = federation
        self.listed: FederationFile | None = None  #: set by `serve`: the list, reloaded when it changes
        self.client = PartyClient(party, key, channel)
        self.pool: ProcessPoolExecutor = TimedPool(max_workers=1, mp_context=he_worker_context())
        self.cursor = 0  # the work acknowledged; the coordinator re-sends what is after it
        self.requests = rgrpc.RequesterServiceStub(channel)  # where its calculations stand
        self.lifecycle = lifecycle.KeyLifecycle(store, self.status_of)

    @property
    def stop(self) -> threading.Event:
        return self.client.stop

    def registration(self) -> epb.Registration:
        return epb.Registration(organisation_id=self.party, envelope_public_key=self.key.public_raw,
                                roles=[cpb.PARTY_ROLE_KEY_HOLDER])

    def run(self) -> None:
        self.client.serve(self.client.work, self.handle, lambda: self.cursor, self._acknowledge,
                          flush=self.lifecycle.tick, idle_step=0.3, idle_cap=0.3)
        self.pool.shutdown(cancel_futures=True)

    def _acknowledge(self, sequence: int) -> None:
        self.cursor = sequence

    def status_of(self, cid: str) -> int | None:
        """The coordinator's state of a calculation, asked as its key holder; None: it does not know it."""
        try:
            return self.requests.GetStatus(rpb.GetStatusRequest(party_id=self.party, calculation_id=cid),
                                           timeout=limits.RPC_TIMEOUT_SECONDS).state
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    def handle(self, item: kpb.WorkItem) -> None:
        if self.listed is not None:
            self.federation = self.listed.current()  # verified on every load; a refused list leaves the last
        if item.HasField("key_needed"):
            self.make_key(item.key_needed.calculation_request)
        else:
            self.decrypt(item.decryption_needed)

    def _binding(self, req: env.Opened) -> Binding:
        """The calculation's request and this key holder's own announcement of its key."""
        with self.store.sessions() as s:
            row = s.get(KeyedCalculation, req.body.calculation_id)
        if row is None or not row.announcement:
            return Binding.of(req)
        return Binding.of(req, env.reopen(epb.Envelope.FromString(row.announcement)))

    # ------------------------------------------------------------------ key
    def make_key(self, request_env: epb.Envelope) -> None:
        req = env.open_envelope(request_env, self.federation.key_of)
        cid = req.body.calculation_id
        if not is_calculation_id(cid):  # never a file name nor a row (tanji.protocol.identity)
            self._refuse_key(req, cpb.REFUSAL_CODE_MALFORMED, "the calculation id is outside the id grammar")
            return
        if req.payload.key_holder != self.party:
            log.error("calculation %s names key holder %s, not us", cid, req.payload.key_holder)
            return
        with self.store.sessions() as s:
            row = s.get(KeyedCalculation, cid)
        if row is None:
            keys = self.pool.submit(he_work.keygen, req.payload.depth_bound, max(1, req.payload.batch_size),
                                    req.payload.citation_slots).result()
            context_hash = self.client.push_object(cid, keys.public_context, opb.OBJECT_KIND_PUBLIC_CONTEXT)
            unit_hash = self.client.push_object(cid, keys.unit_weight, opb.OBJECT_KIND_CIPHERTEXT)
            ka = epb.KeyAnnouncement(key_fingerprint=keys.key_fingerprint, ckks_params_hash=keys.params_hash,
                                     preset=keys.preset, context_object_hash=context_hash,
                                     transit_level=keys.transit_level, width=keys.width,
                                     unit_weight_object_hash=unit_hash)
            sealed = env.seal(messages.key_announcement(ka, calculation_id=cid, sender=self.party,
                                                        receiver=COORDINATOR_ID, binding=Binding.of(req),
                                                        answers=req.hash, objects=[context_hash, unit_hash]),
                              self.key)
            try:  # written once the objects are out: a failed upload leaves no key behind
                self.store.write_secret(cid, keys.secret_context)
            except KeyFileTaken as exc:  # a link or a leftover at its path: never overwritten, never followed
                self._refuse_key(req, cpb.REFUSAL_CODE_INTERNAL, str(exc))
                return
            deadline = req.payload.deadline.ToDatetime(tzinfo=UTC) if req.payload.HasField("deadline") else None
            with self.store.sessions.begin() as s:
                s.add(KeyedCalculation(calculation_id=cid, preset=keys.preset, state="keyed",
                                       announcement=sealed.SerializeToString(), deadline=deadline))
            log.info("keyed %s with preset %s", cid[:8], keys.preset)
        else:
            sealed = epb.Envelope.FromString(row.announcement)
            ctx_hash = env.reopen(sealed).payload.context_object_hash
            log.info("re-announcing the key of %s (%s)", cid[:8], ctx_hash.hex()[:12])
            if row.state == "keyed" and self.store.secret_path(cid).exists():
                # the coordinator may have lost the object (restored from an older backup): push it again
                public = self.pool.submit(he_work.public_context_of, self.store.secret_path(cid).read_bytes()).result()
                if self.client.push_object(cid, public, opb.OBJECT_KIND_PUBLIC_CONTEXT) != ctx_hash:
                    log.error("the re-derived public context of %s does not match its announcement", cid[:8])
        out = self.client.publish_key(sealed)
        if out.status == cpb.PUSH_STATUS_REFUSED:
            log.error("key announcement of %s refused: %s", cid[:8], out.message)

    # ------------------------------------------------------------------ decrypt
    def decrypt(self, item: kpb.DecryptionNeeded) -> None:
        req = env.open_envelope(item.calculation_request, self.federation.key_of)
        cid = req.body.calculation_id
        if not is_calculation_id(cid):
            self._refuse(req, cpb.REFUSAL_CODE_MALFORMED, "the calculation id is outside the id grammar")
            return
        with self.store.sessions() as s:
            row = s.get(KeyedCalculation, cid)
        if row is None:
            log.error("asked to decrypt %s, which this key holder never keyed", cid)
            return
        if row.state in lifecycle.REFUSAL_AFTER or (row.state == "keyed" and not self.store.has_secret(cid)):
            # its key was destroyed unused (the calculation ended, its deadline passed) or is gone
            self._refuse(req, lifecycle.REFUSAL_AFTER.get(row.state, cpb.REFUSAL_CODE_INTERNAL),
                         f"the key of calculation {cid} no longer exists ({row.state}): nothing can be decrypted")
            return
        if row.state != "keyed":
            released = env.reopen(epb.Envelope.FromString(row.submitted)) if row.submitted is not None else None
            if (released is not None and released.body.message_type == MT.MESSAGE_TYPE_RESULT
                    and released.body.answers_hash != env.message_hash(item.aggregate)):
                # asked to decrypt another aggregate of a released calculation (one supplier's
                # contribution alone, say): the one decryption is spent, the key destroyed
                self._refuse(req, cpb.REFUSAL_CODE_ALREADY_DECRYPTED,
                             f"calculation {cid} was already decrypted (its result answers aggregate "
                             f"{released.body.answers_hash.hex()[:12]}); a second decryption is refused")
            elif row.submitted is not None:
                self._submit(epb.Envelope.FromString(row.submitted),
                             epb.Envelope.FromString(row.citation_report) if row.citation_report else None)
            else:
                self._refuse(req, cpb.REFUSAL_CODE_ALREADY_DECRYPTED,
                             f"calculation {cid} was already decrypted (state {row.state}); "
                             "a second decryption is refused")
            return
        try:
            agg, attestations = self._check_attested(req, item)
            # not on the requester's word alone: completeness and the sum re-executed here (recheck.py)
            recheck(self.federation, req, env.reopen(epb.Envelope.FromString(row.announcement)), agg, item.evidence,
                    lambda h, most: self.client.pull_object(cid, h, most),
                    lambda fn, *args: self.pool.submit(fn, *args).result())
        except Refusal as exc:
            self._refuse(req, exc.code, exc.message)
            return
        # fetched before "decrypting" is recorded: a coordinator (or its database) unavailable now
        # fails this attempt, which is retried, instead of leaving a calculation that can never decrypt
        ct = self.client.pull_object(cid, agg.payload.output_ciphertext_hash, limits.MAX_CIPHERTEXT_BYTES)
        with self.store.sessions.begin() as s:
            s.get_one(KeyedCalculation, cid).state = "decrypting"  # durable before the one decryption
        secret = self.store.secret_path(cid).read_bytes()
        announced = env.reopen(epb.Envelope.FromString(row.announcement)) if row.announcement else None
        width = (announced.payload.width if announced is not None else 0) or slots.WIDTH
        try:
            values, precision, max_value = self.pool.submit(he_work.decrypt, secret, ct, width).result()
        except he_work.HEError as exc:  # not the calculation's ciphertext: nothing was decrypted
            self.store.destroy_secret(cid)
            self._refuse(req, he_work.refusal_code(exc), f"the aggregate cannot be decrypted: {exc}", final=True)
            return
        self.store.destroy_secret(cid)
        try:
            named = self._fallbacks(req, agg, item.evidence)
            requester = [a for a in attestations if a.body.sender == req.body.sender]
            documents = release.documents(req, np.asarray(values), precision, max_value, named,
                                          list(requester[0].payload.requester_warnings) if requester else [])
            counts = self._citations(req, agg, np.asarray(values))
        except Refusal as exc:
            self._refuse(req, exc.code, exc.message, final=True)
            return
        result = epb.Result(result_json=documents[0], attestation_hashes=[a.hash for a in attestations],
                            batch_results_json=documents if len(documents) > 1 else [])
        try:
            release.check_size(result)
        except Refusal as exc:
            self._refuse(req, exc.code, exc.message, final=True)
            return
        sealed = env.seal(messages.result(result, calculation_id=cid, sender=self.party, receiver=req.body.sender,
                                          binding=self._binding(req), answers=agg.hash), self.key)
        report = self._citation_report(req, agg, counts) if counts is not None else None
        with self.store.sessions.begin() as s:
            r = s.get_one(KeyedCalculation, cid)
            r.state, r.submitted = "released", sealed.SerializeToString()
            r.citation_report = report.SerializeToString() if report is not None else None
        self._submit(sealed, report)
        log.info("released the result of %s", cid[:8])

    def _check_attested(self, req: env.Opened, item: kpb.DecryptionNeeded):
        if len(req.payload.quantity_commitment) != 32:  # DESIGN "Trust model": an after-the-fact audit hook
            raise Refusal(cpb.REFUSAL_CODE_QUANTITIES_UNCOMMITTED,
                          "the requester committed no quantities (salted SHA-256) before the calculation started")
        agg = env.open_envelope(item.aggregate, lambda p: self.federation.key_of(p))
        if agg.body.sender != COORDINATOR_ID or agg.body.answers_hash != req.hash:
            raise Refusal(cpb.REFUSAL_CODE_NOT_ATTESTED, "the aggregate is not the coordinator's for this calculation")
        auditors = set(req.payload.auditors) or {req.body.sender}
        valid = []
        for a_env in item.attestations:
            try:
                a = env.open_envelope(a_env, self.federation.key_of)
            except env.EnvelopeRefused:
                continue
            if (a.body.sender in auditors and a.body.answers_hash == agg.hash
                    and a.payload.output_ciphertext_hash == agg.payload.output_ciphertext_hash
                    and list(a.payload.contribution_hashes) == list(agg.payload.contribution_hashes)):
                valid.append(a)
        need = max(1, req.payload.min_attestations)
        if len({a.body.sender for a in valid}) < need:
            raise Refusal(cpb.REFUSAL_CODE_NOT_ATTESTED, f"{len(valid)} valid attestation(s), {need} required")
        return agg, valid

    def _fallbacks(self, req: env.Opened, agg: env.Opened, evidence) -> list[Taken]:
        """Every fallback the aggregate sums, named from the evidence it re-checked (decision 0010)."""
        summed = list(agg.payload.contribution_hashes)
        held = verified_evidence(self.federation, evidence, req.body.calculation_id, set(summed))
        return taken([*held, req], summed)

    def _citations(self, req, agg, values: np.ndarray) -> list[int] | None:
        """The citation counts after the product block: whole numbers between 0 and the number of
        contributions summed, else withheld (a count is 1 per contribution, so anything else is tampering)."""
        n_slots = req.payload.citation_slots
        if n_slots == 0:
            return None
        start = slots.WIDTH * max(1, req.payload.batch_size)
        raw = values[start:start + n_slots]
        limit = len(agg.payload.contribution_hashes)
        rounded = np.rint(raw)
        if (raw.size != n_slots or np.any(np.abs(raw - rounded) > 0.01)
                or np.any(rounded < 0) or np.any(rounded > limit)):
            raise Refusal(cpb.REFUSAL_CODE_OUT_OF_BOUNDS,
                          f"citation counts are not whole numbers between 0 and {limit} (detected, result withheld)")
        return [int(c) for c in rounded]

    def _citation_report(self, req: env.Opened, agg: env.Opened, counts: list[int]) -> epb.Envelope:
        """Counts per factor for the factor set's provider — no amounts, no citing node."""
        report = epb.CitationReport(counts=counts, contributions=len(agg.payload.contribution_hashes))
        return env.seal(messages.citation_report(report, calculation_id=req.body.calculation_id, sender=self.party,
                                                 receiver=req.payload.factor_provider or "factor-provider",
                                                 binding=self._binding(req), answers=agg.hash), self.key)

    def _refuse(self, req: env.Opened, code: int, message: str, final: bool = False) -> None:
        log.error("withholding %s: %s", req.body.calculation_id[:8], message)
        sealed = env.seal(messages.refusal(code, message, calculation_id=req.body.calculation_id,
                                           sender=self.party, receiver=req.body.sender, binding=self._binding(req),
                                           answers=req.hash), self.key)
        if final:
            with self.store.sessions.begin() as s:
                r = s.get_one(KeyedCalculation, req.body.calculation_id)
                r.state, r.submitted = "withheld", sealed.SerializeToString()
        self._submit(sealed)

    def _refuse_key(self, req: env.Opened, code: int, message: str) -> None:
        """Refuse to key a calculation: a REFUSAL of its request, pushed like any party's (it fails the
        calculation at the coordinator)."""
        log.error("refusing to key %s: %s", req.body.calculation_id[:8], message)
        sealed = env.seal(messages.refusal(code, message, calculation_id=req.body.calculation_id, sender=self.party,
                                           receiver=COORDINATOR_ID, binding=Binding.of(req), answers=req.hash),
                          self.key)
        try:
            self.client.deliver(req.body.calculation_id, sealed)
        except Undeliverable as exc:
            log.warning("the coordinator refused our refusal of %s: %s", req.body.calculation_id[:8], exc.reason)

    def _submit(self, sealed: epb.Envelope, citation_report: epb.Envelope | None = None) -> None:
        out = self.client.submit_result(sealed, citation_report)
        if out.status == cpb.PUSH_STATUS_REFUSED:
            log.warning("coordinator refused our submission: %s", out.message)


def serve(party: str, state: Path, federation_file: Path, coordinator: str, tls_dir: Path | None = None,
          insecure: bool = False, trust: Path | None = None) -> None:
    """Run until SIGTERM/SIGINT; plain gRPC to a coordinator beyond loopback only when `insecure`."""
    channel = open_channel(coordinator, tls_dir, party, insecure=insecure)
    listed = FederationFile(federation_file, trust or state / ANCHOR_FILE, state)  # signed, not older: else named
    store = KeyHolderStore(state)
    key = SigningKey.load_or_create(state / "envelope-key.pem")
    kh = KeyHolder(party, store, key, listed.federation, channel)
    kh.listed = listed
    kh.lifecycle.start_up()  # keys of no keyed calculation, keys past their deadline: destroyed before dialling
    stop_on_signals(kh.stop)
    kh.client.register_with_retry(kh.registration(), coordinator)
    kh.run()
