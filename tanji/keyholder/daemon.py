"""The key-holder daemon: dials out, keys new calculations, decrypts attested totals once.

It never sees an individual contribution: only the final ciphertext, the
calculation request, the coordinator's signed aggregate and the auditors'
attestations. It releases figures rounded to the preset's measured precision,
after checking slot 7 is 0 and every figure is within bounds.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import grpc
import numpy as np

from tanji.keyholder.store import KeyedCalculation, KeyHolderStore
from tanji.he import tasks as he_work
from tanji.protocol import envelope as env
from tanji.protocol import limits
from tanji.methodology import profiles, slots
from tanji.protocol.federation import Federation
from tanji.infra.runtime import he_worker_context, open_channel, register_with_retry, stop_on_signals
from tanji.methodology.formats.result import FactorSetRef, FallbackRef, build_result
from tanji.protocol.signing import SigningKey
from tanji.infra.transfer import pull_object, push_object
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import key_holder_pb2 as kpb
from tanji.v1 import key_holder_pb2_grpc as kgrpc
from tanji.v1 import node_pb2 as npb
from tanji.v1 import node_pb2_grpc as ngrpc
from tanji.v1 import objects_pb2 as opb

log = logging.getLogger("tanji.keyholder")
MT = epb.MessageType
COORDINATOR = "coordinator"
#: where the audit bundle of a calculation is published, next to its result.json
BUNDLE_NAME = "bundle.tar"


class Withheld(Exception):
    def __init__(self, code: int, message: str):
        self.code, self.message = code, message
        super().__init__(message)


class KeyHolder:
    def __init__(self, party: str, store: KeyHolderStore, key: SigningKey, federation: Federation, channel):
        self.party = party
        self.store = store
        self.key = key
        self.federation = federation
        self.work = kgrpc.KeyHolderServiceStub(channel)
        self.objects = ngrpc.NodeServiceStub(channel)
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=he_worker_context())
        self.stop = threading.Event()
        self.cursor = 0

    def register(self) -> None:
        body = env.new_body(MT.MESSAGE_TYPE_REGISTRATION, calculation_id="", sender=self.party, receiver=COORDINATOR)
        body.registration.organisation_id = self.party
        body.registration.envelope_public_key = self.key.public_raw
        body.registration.roles.append(cpb.PARTY_ROLE_KEY_HOLDER)
        resp = self.objects.Register(npb.RegisterRequest(registration=env.seal(body, self.key)),
                                     timeout=limits.RPC_TIMEOUT_SECONDS)
        if resp.outcome.status != cpb.PUSH_STATUS_ACCEPTED:
            raise RuntimeError(f"registration refused: {resp.outcome.message}")

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.objects.Heartbeat(npb.HeartbeatRequest(party_id=self.party), timeout=limits.RPC_TIMEOUT_SECONDS)
                resp = self.work.PullWork(kpb.PullWorkRequest(party_id=self.party, ack_cursor=self.cursor),
                                          timeout=limits.RPC_TIMEOUT_SECONDS)
                for item in resp.items:
                    if item.HasField("key_needed"):
                        self.make_key(item.key_needed.calculation_request)
                    else:
                        self.decrypt(item.decryption_needed)
                    self.cursor = item.sequence
                if not resp.items:
                    self.stop.wait(0.3)
            except grpc.RpcError as exc:
                log.warning("coordinator unreachable (%s); retrying", exc.code())
                self.stop.wait(1.0)
        self.pool.shutdown(cancel_futures=True)

    # ------------------------------------------------------------------ key
    def make_key(self, request_env: epb.Envelope) -> None:
        req = env.open_envelope(request_env, self.federation.key_of)
        cid = req.body.calculation_id
        if req.payload.key_holder != self.party:
            log.error("calculation %s names key holder %s, not us", cid, req.payload.key_holder)
            return
        with self.store.sessions() as s:
            row = s.get(KeyedCalculation, cid)
        if row is None:
            keys = self.pool.submit(he_work.keygen, req.payload.depth_bound, max(1, req.payload.batch_size),
                                    req.payload.citation_slots).result()
            self.store.write_secret(cid, keys.secret_context)
            context_hash = push_object(self.objects, self.party, cid, keys.public_context, opb.OBJECT_KIND_PUBLIC_CONTEXT)
            unit_hash = push_object(self.objects, self.party, cid, keys.unit_weight, opb.OBJECT_KIND_CIPHERTEXT)
            body = env.new_body(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT, calculation_id=cid, sender=self.party,
                                receiver=COORDINATOR)
            body.answers_hash = req.hash
            body.key_fingerprint, body.ckks_params_hash = keys.key_fingerprint, keys.params_hash
            body.factor_set_hash = req.body.factor_set_hash
            body.method_profile.CopyFrom(req.body.method_profile)
            body.object_hashes.extend([context_hash, unit_hash])
            ka = body.key_announcement
            ka.key_fingerprint, ka.ckks_params_hash = keys.key_fingerprint, keys.params_hash
            ka.preset, ka.context_object_hash, ka.transit_level = keys.preset, context_hash, keys.transit_level
            ka.width, ka.unit_weight_object_hash = keys.width, unit_hash
            sealed = env.seal(body, self.key)
            with self.store.sessions.begin() as s:
                s.add(KeyedCalculation(calculation_id=cid, preset=keys.preset, state="keyed",
                                       announcement=sealed.SerializeToString()))
            log.info("keyed %s with preset %s", cid[:8], keys.preset)
        else:
            sealed = epb.Envelope.FromString(row.announcement)
            ctx_hash = env.parse_unverified(sealed).payload.context_object_hash
            log.info("re-announcing the key of %s (%s)", cid[:8], ctx_hash.hex()[:12])
            if row.state == "keyed" and self.store.secret_path(cid).exists():
                # the coordinator may have lost the object (restored from an older backup): push it again
                public = self.pool.submit(he_work.public_context_of, self.store.secret_path(cid).read_bytes()).result()
                if push_object(self.objects, self.party, cid, public, opb.OBJECT_KIND_PUBLIC_CONTEXT) != ctx_hash:
                    log.error("the re-derived public context of %s does not match its announcement", cid[:8])
        out = self.work.PublishKey(kpb.PublishKeyRequest(key_announcement=sealed), timeout=limits.RPC_TIMEOUT_SECONDS)
        if out.outcome.status == cpb.PUSH_STATUS_REFUSED:
            log.error("key announcement of %s refused: %s", cid[:8], out.outcome.message)

    # ------------------------------------------------------------------ decrypt
    def decrypt(self, item: kpb.DecryptionNeeded) -> None:
        req = env.open_envelope(item.calculation_request, self.federation.key_of)
        cid = req.body.calculation_id
        with self.store.sessions() as s:
            row = s.get(KeyedCalculation, cid)
        if row is None:
            log.error("asked to decrypt %s, which this key holder never keyed", cid)
            return
        if row.state != "keyed":
            released = env.parse_unverified(epb.Envelope.FromString(row.submitted)) if row.submitted is not None else None
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
                             f"calculation {cid} was already decrypted (state {row.state}); a second decryption is refused")
            return
        try:
            agg, attestations = self._check_attested(req, item)
        except Withheld as exc:
            self._refuse(req, exc.code, exc.message)
            return
        # fetched before "decrypting" is recorded: a coordinator (or its database) unavailable now
        # fails this attempt, which is retried, instead of leaving a calculation that can never decrypt
        ct = pull_object(self.objects, self.party, cid, agg.payload.output_ciphertext_hash, limits.MAX_CIPHERTEXT_BYTES)
        with self.store.sessions.begin() as s:
            s.get(KeyedCalculation, cid).state = "decrypting"  # durable before the one decryption
        secret = self.store.secret_path(cid).read_bytes()
        width = (env.parse_unverified(epb.Envelope.FromString(row.announcement)).payload.width if row.announcement else 0) or slots.WIDTH
        try:
            values, precision, max_value = self.pool.submit(he_work.decrypt, secret, ct, width).result()
        except he_work.HEError as exc:  # not the calculation's ciphertext: nothing was decrypted
            self.store.destroy_secret(cid)
            self._refuse(req, he_work.refusal_code(exc), f"the aggregate cannot be decrypted: {exc}", final=True)
            return
        self.store.destroy_secret(cid)
        try:
            result_json = self._release(req, agg, attestations, np.asarray(values), precision, max_value)
            counts = self._citations(req, agg, np.asarray(values))
        except Withheld as exc:
            self._refuse(req, exc.code, exc.message, final=True)
            return
        body = env.new_body(MT.MESSAGE_TYPE_RESULT, calculation_id=cid, sender=self.party, receiver=req.body.sender)
        body.answers_hash = agg.hash
        body.key_fingerprint, body.ckks_params_hash = agg.body.key_fingerprint, agg.body.ckks_params_hash
        body.factor_set_hash = req.body.factor_set_hash
        body.method_profile.CopyFrom(req.body.method_profile)
        body.result.result_json = result_json
        body.result.attestation_hashes.extend(a.hash for a in attestations)
        sealed = env.seal(body, self.key)
        report = self._citation_report(req, agg, counts) if counts is not None else None
        with self.store.sessions.begin() as s:
            r = s.get(KeyedCalculation, cid)
            r.state, r.submitted = "released", sealed.SerializeToString()
            r.citation_report = report.SerializeToString() if report is not None else None
        self._submit(sealed, report)
        log.info("released the result of %s", cid[:8])

    def _check_attested(self, req: env.Opened, item: kpb.DecryptionNeeded):
        if len(req.payload.quantity_commitment) != 32:  # DESIGN "Trust model": an after-the-fact audit hook
            raise Withheld(cpb.REFUSAL_CODE_QUANTITIES_UNCOMMITTED,
                           "the requester committed no quantities (salted SHA-256) before the calculation started")
        agg = env.open_envelope(item.aggregate, lambda p: self.federation.key_of(p))
        if agg.body.sender != COORDINATOR or agg.body.answers_hash != req.hash:
            raise Withheld(cpb.REFUSAL_CODE_NOT_ATTESTED, "the aggregate is not the coordinator's for this calculation")
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
            raise Withheld(cpb.REFUSAL_CODE_NOT_ATTESTED, f"{len(valid)} valid attestation(s), {need} required")
        return agg, valid

    def _release(self, req, agg, attestations, values: np.ndarray, precision: float, max_value: float) -> bytes:
        block = values[:slots.WIDTH]
        scale = max(1.0, float(np.max(np.abs(block[:slots.CHECK]))))
        tolerance = 1e3 * precision * scale
        if abs(block[slots.CHECK]) > tolerance:
            raise Withheld(cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO,
                           f"slot 7 decrypted to {block[slots.CHECK]:.3g}: a foreign, malformed or wrapped ciphertext "
                           "entered the sum (detected, result withheld)")
        if np.any(block[:slots.CHECK] < -tolerance) or np.any(np.abs(block) > max_value):
            raise Withheld(cpb.REFUSAL_CODE_OUT_OF_BOUNDS, "decrypted figures out of bounds (detected, result withheld)")
        warnings = float(block[slots.WARNINGS])
        if abs(warnings - round(warnings)) > 0.01:
            raise Withheld(cpb.REFUSAL_CODE_OUT_OF_BOUNDS, f"warning count decrypted to {warnings:.4g}, not a count")
        block = np.where(block < 0, 0.0, block)
        requester = [a for a in attestations if a.body.sender == req.body.sender]
        warnings_list = list(requester[0].payload.requester_warnings) if requester else []
        fallbacks = ([FallbackRef(supplier=f.supplier, product=f.product_id, buyer=req.body.sender)
                      for f in requester[0].payload.requester_fallbacks] if requester else [])
        item = req.payload.products[0]
        result = build_result(
            calculation=req.body.calculation_id, product=f"{req.payload.target_organisation}/{item.product_id}",
            profile=profiles.get(req.body.method_profile.name),
            factor_set=FactorSetRef(id=req.payload.factor_set_id, sha256=req.body.factor_set_hash.hex()),
            total=block, lifetime_energy_kwh=item.lifetime_energy_kwh, precision=precision,
            fallbacks=fallbacks, warnings=warnings_list, audit_bundle=BUNDLE_NAME)
        return result.to_json().encode()

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
        if raw.size != n_slots or np.any(np.abs(raw - rounded) > 0.01) or np.any(rounded < 0) or np.any(rounded > limit):
            raise Withheld(cpb.REFUSAL_CODE_OUT_OF_BOUNDS,
                           f"citation counts are not whole numbers between 0 and {limit} (detected, result withheld)")
        return [int(c) for c in rounded]

    def _citation_report(self, req: env.Opened, agg: env.Opened, counts: list[int]) -> epb.Envelope:
        """Counts per factor for the factor set's provider — no amounts, no citing node."""
        body = env.new_body(MT.MESSAGE_TYPE_CITATION_REPORT, calculation_id=req.body.calculation_id,
                            sender=self.party, receiver=req.payload.factor_provider or "factor-provider")
        body.answers_hash = agg.hash
        body.key_fingerprint, body.ckks_params_hash = agg.body.key_fingerprint, agg.body.ckks_params_hash
        body.factor_set_hash = req.body.factor_set_hash
        body.method_profile.CopyFrom(req.body.method_profile)
        body.citation_report.counts.extend(counts)
        body.citation_report.contributions = len(agg.payload.contribution_hashes)
        return env.seal(body, self.key)

    def _refuse(self, req: env.Opened, code: int, message: str, final: bool = False) -> None:
        log.error("withholding %s: %s", req.body.calculation_id[:8], message)
        body = env.new_body(MT.MESSAGE_TYPE_REFUSAL, calculation_id=req.body.calculation_id, sender=self.party,
                            receiver=req.body.sender)
        body.answers_hash = req.hash
        body.refusal.code, body.refusal.message = code, message
        sealed = env.seal(body, self.key)
        if final:
            with self.store.sessions.begin() as s:
                r = s.get(KeyedCalculation, req.body.calculation_id)
                r.state, r.submitted = "withheld", sealed.SerializeToString()
        self._submit(sealed)

    def _submit(self, sealed: epb.Envelope, citation_report: epb.Envelope | None = None) -> None:
        request = kpb.SubmitResultRequest(result=sealed)
        if citation_report is not None:
            request.citation_report.CopyFrom(citation_report)
        out = self.work.SubmitResult(request, timeout=limits.RPC_TIMEOUT_SECONDS)
        if out.outcome.status == cpb.PUSH_STATUS_REFUSED:
            log.warning("coordinator refused our submission: %s", out.outcome.message)


def serve(party: str, state: Path, federation_file: Path, coordinator: str, tls_dir: Path | None = None) -> None:
    store = KeyHolderStore(state)
    key = SigningKey.load_or_create(state / "envelope-key.pem")
    channel = open_channel(coordinator, tls_dir, party)
    kh = KeyHolder(party, store, key, Federation.load(federation_file), channel)
    stop_on_signals(kh.stop)
    register_with_retry(kh.register, coordinator)
    kh.run()


