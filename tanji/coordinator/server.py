"""The coordinator's gRPC services: thin adapters from RPCs to `Coordinator` (service.py).

Every call is unary and bounded (tanji.protocol.limits); objects are staged chunk by chunk
and enter the content-addressed store only once whole and matching their hash.
"""
from __future__ import annotations

import logging
from concurrent import futures
from datetime import timedelta
from pathlib import Path

import grpc

from tanji.coordinator.dbguard import DatabaseGuard
from tanji.coordinator.doorbell import BELL
from tanji.coordinator.service import Coordinator
from tanji.coordinator.storage import ChunkPastEnd, FileStaging
from tanji.infra.objectstore import HeldObjects, ObjectMissing, sha256
from tanji.infra.runtime import is_loopback, plain_transport
from tanji.infra.telemetry import ServerMetrics
from tanji.protocol import envelope as env
from tanji.protocol import limits
from tanji.protocol.federation import Federation
from tanji.protocol.identity import COORDINATOR_ID, PROTOCOL_VERSION, SOFTWARE_VERSION
from tanji.protocol.pki import certificate_sha256
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import key_holder_pb2 as kpb
from tanji.v1 import key_holder_pb2_grpc as kgrpc
from tanji.v1 import node_pb2 as npb
from tanji.v1 import node_pb2_grpc as ngrpc
from tanji.v1 import objects_pb2 as opb
from tanji.v1 import requester_pb2 as rpb
from tanji.v1 import requester_pb2_grpc as rgrpc

log = logging.getLogger("tanji.coordinator")
MAX_OBJECT = {opb.OBJECT_KIND_CIPHERTEXT: limits.MAX_CIPHERTEXT_BYTES,
              opb.OBJECT_KIND_PUBLIC_CONTEXT: limits.MAX_CONTEXT_BYTES}


def wire_limits() -> cpb.Limits:
    return cpb.Limits(max_message_bytes=limits.MAX_MESSAGE_BYTES, max_chunk_bytes=limits.CHUNK_BYTES,
                      max_envelope_bytes=limits.MAX_ENVELOPE_BYTES,
                      max_envelopes_per_call=limits.MAX_ENVELOPES_PER_CALL,
                      max_ciphertext_bytes=limits.MAX_CIPHERTEXT_BYTES, max_context_bytes=limits.MAX_CONTEXT_BYTES,
                      heartbeat_interval_seconds=limits.HEARTBEAT_SECONDS, lease_seconds=limits.LEASE_SECONDS,
                      max_clock_skew_seconds=limits.MAX_CLOCK_SKEW_SECONDS)


class _Unparsed:
    """A request whose bytes are not the method's message (raw garbage, truncated, bad UTF-8)."""

    def __init__(self, error: str):
        self.error = error


class StrictRequests(grpc.ServerInterceptor):
    """A request that does not parse is refused as INVALID_ARGUMENT naming the method and the
    parse error (gRPC's own answer is INTERNAL "Exception deserializing request!", logged as a
    server error): malformed input is the client's fault, and the server carries on."""

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or handler.unary_unary is None or handler.request_deserializer is None:
            return handler
        parse, inner, method = handler.request_deserializer, handler.unary_unary, details.method

        def lenient(raw: bytes):
            try:
                return parse(raw)
            except Exception as exc:
                return _Unparsed(f"{type(exc).__name__}: {exc}")

        def behaviour(request, context):
            if isinstance(request, _Unparsed):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"{method}: the request does not parse ({request.error})")
            return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(behaviour, request_deserializer=lenient,
                                                   response_serializer=handler.response_serializer)


def check_envelope_size(context, *envelopes) -> None:
    """Every RPC that carries an envelope refuses one above MAX_ENVELOPE_BYTES."""
    for e in envelopes:
        if len(e.body) + len(e.signature) > limits.MAX_ENVELOPE_BYTES:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"envelope of {len(e.body) + len(e.signature)} bytes is above the limit "
                          f"({limits.MAX_ENVELOPE_BYTES} bytes)")


#: a cursor is a database integer (signed 64-bit); a larger one means "after everything"
MAX_CURSOR = 2**63 - 1


def _check_hash(digest: bytes, context) -> None:
    if len(digest) != 32:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"object hash must be 32 bytes, not {len(digest)}")


def authenticate(context, party: str, federation: Federation | None = None) -> None:
    """Under mutual TLS the client certificate's common name must be the party it acts for, and (given
    the federation list) the certificate one the list admits: not revoked, the one it pins."""
    auth = context.auth_context()
    if auth.get("transport_security_type") != [b"ssl"]:
        return  # plain: loopback (demo, tests) or --insecure, announced at start-up; a TLS server never gets here
    names = [n.decode() for n in auth.get("x509_common_name", [])]
    if party not in names:
        context.abort(grpc.StatusCode.PERMISSION_DENIED,
                      f"the client certificate is {', '.join(names) or 'missing'}, not {party!r}")
    if federation is not None:
        pem = b"".join(auth.get("x509_pem_cert", []))
        why = federation.admits_certificate(party, certificate_sha256(pem)) if pem else "no client certificate"
        if why:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, why)


def _sender(envelope) -> str:
    try:
        return env.parse_unverified(envelope).body.sender
    except Exception:
        return ""


#: objects kept in hand for the chunk calls that follow the first (about 40 MB of ciphertexts)
SERVING_OBJECTS = 16


class NodeServicer(ngrpc.NodeServiceServicer):
    def __init__(self, coord: Coordinator, staging):
        """`staging`: a folder (one coordinator process) or a tanji.coordinator.storage staging (replicas)."""
        self.c = coord
        self.staging = FileStaging(Path(staging)) if isinstance(staging, (str, Path)) else staging
        #: objects being pulled: a 2.6 MB ciphertext goes out in three 1 MiB chunks, each a call, and
        #: each call read and hashed the whole object again; many parties pull the same merged requests
        self.serving = HeldObjects(keep=SERVING_OBJECTS)

    def _known(self, party: str, context) -> None:
        if self.c.key_of(party) is None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"unknown party {party!r}")
        authenticate(context, party, self.c.federation)

    def Register(self, request, context):
        check_envelope_size(context, request.registration)
        authenticate(context, _sender(request.registration), self.c.federation)
        out = self.c.register(request.registration)
        customers = (self.c.registry.customers(_sender(request.registration))
                     if out.status == cpb.PUSH_STATUS_ACCEPTED else [])
        return npb.RegisterResponse(outcome=out, coordinator_id=COORDINATOR_ID, protocol_version=PROTOCOL_VERSION,
                                    software_version=SOFTWARE_VERSION, limits=wire_limits(), customers=customers)

    def Heartbeat(self, request, context):
        authenticate(context, request.party_id, self.c.federation)
        try:
            lease, waiting = self.c.heartbeat(request.party_id)
        except Refusal as exc:
            context.abort(exc.status, exc.message)
        resp = npb.HeartbeatResponse(next_heartbeat_seconds=limits.HEARTBEAT_SECONDS, messages_waiting=waiting)
        resp.lease_expires_at.FromDatetime(lease)
        resp.granted_at.FromDatetime(lease - timedelta(seconds=self.c.limits.lease_seconds))  # a contest's evidence
        return resp

    def PullMessages(self, request, context):
        self._known(request.party_id, context)
        n = min(request.max_messages or limits.MAX_ENVELOPES_PER_CALL, limits.MAX_ENVELOPES_PER_CALL)
        rows = BELL.hold(lambda: self.c.pull_messages(request.party_id, min(request.ack_cursor, MAX_CURSOR), n + 1),
                         request.wait_ms / 1000, self.c.core.shared, context.is_active)
        resp = npb.PullMessagesResponse(more=len(rows) > n)
        for seq, e in rows[:n]:
            resp.messages.add(sequence=seq, envelope=e)
        return resp

    def PushMessages(self, request, context):
        self._known(request.party_id, context)
        if len(request.envelopes) > limits.MAX_ENVELOPES_PER_CALL:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"{len(request.envelopes)} envelopes in one call; "
                          f"the limit is {limits.MAX_ENVELOPES_PER_CALL}")
        check_envelope_size(context, *request.envelopes)
        return npb.PushMessagesResponse(outcomes=self.c.push(request.party_id, list(request.envelopes)))

    def StatObject(self, request, context):
        self._known(request.party_id, context)
        _check_hash(request.object_hash, context)
        if self.c.objects.has(request.object_hash):
            size = self.c.objects.size(request.object_hash)
            return opb.StatObjectResponse(complete=True, total_size=size, received_bytes=size)
        return opb.StatObjectResponse(received_bytes=self.staging.received(request.object_hash))

    def PushObject(self, request, context):
        self._known(request.party_id, context)
        limit = MAX_OBJECT.get(request.kind)
        if limit is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown object kind")
        if request.total_size > limit or len(request.data) > limits.CHUNK_BYTES:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"object of {request.total_size} bytes or chunk of {len(request.data)} bytes above the "
                          f"limit ({limit} bytes per {opb.ObjectKind.Name(request.kind)}, "
                          f"{limits.CHUNK_BYTES} per chunk)")
        if len(request.object_hash) != 32:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "object hash must be 32 bytes")
        if request.offset + len(request.data) < request.total_size and len(request.data) < limits.MIN_CHUNK_BYTES:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"a chunk other than the last must carry at least {limits.MIN_CHUNK_BYTES} bytes "
                          f"(at most {limits.MAX_CHUNKS_PER_OBJECT} chunks per object), not {len(request.data)}")
        first = request.offset == 0 and not self.c.objects.has(request.object_hash)
        if first and not self.staging.received(request.object_hash):
            try:
                self.c.admit_upload(request.calculation_id, request.party_id,
                                    self.c.limits.max_objects_per_calculation)
            except Refusal as exc:
                context.abort(exc.status, exc.message)
        if self.c.objects.has(request.object_hash):
            return opb.PushObjectResponse(received_bytes=request.total_size, complete=True)
        try:
            have, data = self.staging.append(request.object_hash, request.offset, request.data, request.total_size)
        except ChunkPastEnd as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if data is None:
            return opb.PushObjectResponse(received_bytes=have)
        if sha256(data) != request.object_hash:
            context.abort(grpc.StatusCode.DATA_LOSS, "object bytes do not match the object hash")
        self.c.objects.put(data)
        return opb.PushObjectResponse(received_bytes=have, complete=True)

    def PullObject(self, request, context):
        self._known(request.party_id, context)
        _check_hash(request.object_hash, context)
        try:
            data = self.serving.get(request.object_hash, lambda: self.c.objects.get(request.object_hash))
        except ObjectMissing as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        n = min(request.max_bytes or limits.CHUNK_BYTES, limits.CHUNK_BYTES)
        return opb.PullObjectResponse(object_hash=request.object_hash, total_size=len(data), offset=request.offset,
                                      data=data[request.offset:request.offset + n])


    def ProveInclusion(self, request, context):
        self._known(request.party_id, context)
        if len(request.envelope_hashes) > limits.MAX_PROOF_HASHES_PER_CALL:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"at most {limits.MAX_PROOF_HASHES_PER_CALL} hashes per call, "
                          f"not {len(request.envelope_hashes)}")
        head, proofs = self.c.prove_inclusion(list(request.envelope_hashes))
        resp = npb.ProveInclusionResponse(tree_head=npb.SignedTreeHead(
            log_id=COORDINATOR_ID, tree_size=head.tree_size, root=head.root, timestamp_ms=head.timestamp_ms,
            signature=head.signature))
        for h, index, path in proofs:
            resp.proofs.add(envelope_hash=h, found=index is not None, index=index or 0, path=path)
        return resp


class RequesterServicer(rgrpc.RequesterServiceServicer):
    def __init__(self, coord: Coordinator):
        self.c = coord

    def StartCalculation(self, request, context):
        check_envelope_size(context, request.calculation_request)
        authenticate(context, _sender(request.calculation_request), self.c.federation)
        out, cid = self.c.start(request.calculation_request)
        return rpb.StartCalculationResponse(outcome=out, calculation_id=cid)

    def GetStatus(self, request, context):
        authenticate(context, request.party_id, self.c.federation)
        try:
            return self.c.status(request.calculation_id, request.party_id)
        except Refusal as exc:
            context.abort(exc.status, exc.message)

    def GetResult(self, request, context):
        authenticate(context, request.party_id, self.c.federation)
        try:
            return self.c.result(request.calculation_id, request.party_id)
        except Refusal as exc:
            context.abort(exc.status, exc.message)

    def GetCitations(self, request, context):
        authenticate(context, request.provider_id)  # under mTLS: the provider's own certificate only
        return rpb.GetCitationsResponse(reports=self.c.citations(request.provider_id, request.factor_set_hash))


class KeyHolderServicer(kgrpc.KeyHolderServiceServicer):
    def __init__(self, coord: Coordinator):
        self.c = coord

    def PullWork(self, request, context):
        if self.c.federation.parties.get(request.party_id) is None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"unknown party {request.party_id!r}")
        authenticate(context, request.party_id, self.c.federation)
        resp = kpb.PullWorkResponse()
        n = min(request.max_items or limits.MAX_WORK_ITEMS_PER_CALL, limits.MAX_WORK_ITEMS_PER_CALL)
        items = BELL.hold(lambda: self.c.pull_work(request.party_id, min(request.ack_cursor, MAX_CURSOR), n),
                          request.wait_ms / 1000, self.c.core.shared, context.is_active)
        for item in items:
            if resp.items and resp.ByteSize() > limits.MAX_MESSAGE_BYTES // 2:
                resp.more = True  # a decryption carries its evidence: the rest in the next call
                break
            w = resp.items.add(sequence=item["sequence"])
            if item["kind"] == "key":
                w.key_needed.calculation_request.CopyFrom(item["request"])
            else:
                d = w.decryption_needed
                d.calculation_request.CopyFrom(item["request"])
                d.key_announcement.CopyFrom(item["key_announcement"])
                d.aggregate.CopyFrom(item["aggregate"])
                d.attestations.extend(item["attestations"])
                d.evidence.extend(item["evidence"])
        return resp

    def PublishKey(self, request, context):
        check_envelope_size(context, request.key_announcement)
        authenticate(context, _sender(request.key_announcement), self.c.federation)
        return kpb.PublishKeyResponse(outcome=self.c.publish_key(request.key_announcement))

    def SubmitResult(self, request, context):
        check_envelope_size(context, request.result, request.citation_report)
        authenticate(context, _sender(request.result), self.c.federation)
        report = request.citation_report if request.HasField("citation_report") else None
        return kpb.SubmitResultResponse(outcome=self.c.submit_result(request.result, report))


def start_server(coord: Coordinator, listen: str, staging, tls=None, insecure: bool = False) -> tuple[grpc.Server, int]:
    """Start the services on `listen` (host:port; port 0 picks one): the running server and its port.
    Without `tls`, only on a loopback address unless `insecure` (PlainTransportRefused).
    A database outage during a call answers UNAVAILABLE (DatabaseGuard); clients retry."""
    if tls is None:
        plain_transport(listen, insecure=insecure, listening=True)
    # long polls hold a thread each while they wait (at most BELL's slots of them): room for them and the rest
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), options=limits.GRPC_OPTIONS,
                         interceptors=[ServerMetrics(), StrictRequests(), DatabaseGuard()])
    ngrpc.add_NodeServiceServicer_to_server(NodeServicer(coord, staging), server)
    rgrpc.add_RequesterServiceServicer_to_server(RequesterServicer(coord), server)
    kgrpc.add_KeyHolderServiceServicer_to_server(KeyHolderServicer(coord), server)
    port = server.add_secure_port(listen, tls.server_credentials()) if tls else server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    server.start()
    if tls is None:
        log.warning("coordinator listening on %s WITHOUT TLS (%s)", listen.rsplit(":", 1)[0] + f":{port}",
                    "--insecure" if not is_loopback(listen) else "loopback demo/test only")
    return server, port
