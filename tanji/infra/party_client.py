"""The dial-out client every party daemon shares (node and key holder): it never listens.

A party registers (retrying until the coordinator is up), keeps its liveness lease with
heartbeats, pulls its inbox in order behind a cursor it acknowledges only once an item is
handled, pushes what it signed (objects first, then the envelope — the same stored bytes on
every retry), and moves ciphertexts and contexts through tanji.infra.transfer.

An upload the coordinator refuses for good (too large, malformed, not allowed) raises
Undeliverable: sending the same bytes again would fail forever and hold back everything
queued after it. An unreachable or overloaded coordinator raises grpc.RpcError: try later.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import grpc

from tanji.errors import TanjiError
from tanji.infra import health, telemetry
from tanji.infra.objectstore import HeldObjects
from tanji.infra.observability import event
from tanji.infra.transfer import TransferError, pull_object, push_object
from tanji.protocol import envelope as env
from tanji.protocol import limits, messages
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.refusals import code_name
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import key_holder_pb2 as kpb
from tanji.v1 import key_holder_pb2_grpc as kgrpc
from tanji.v1 import node_pb2 as npb
from tanji.v1 import node_pb2_grpc as ngrpc

#: how long a pull waits at the coordinator for something to arrive (tanji.coordinator.doorbell);
#: TANJI_LONG_POLL_SECONDS=0 polls with a back-off instead (what bench/long_poll.py compares)
LONG_POLL_SECONDS = float(os.environ.get("TANJI_LONG_POLL_SECONDS", "5"))

log = logging.getLogger("tanji.party")
T = TypeVar("T")

#: gRPC codes for an upload the coordinator will not take however often it is sent
UPLOAD_REFUSALS = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
                             grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION,
                             grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.NOT_FOUND})


class Undeliverable(TanjiError):
    """The coordinator refused an upload for good; `reason` says what it answered."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class PartyClient:
    def __init__(self, party: str, key: SigningKey, channel: grpc.Channel):
        self.party = party
        self.key = key
        self.node_service = ngrpc.NodeServiceStub(channel)          # register, lease, messages, objects
        self.key_holder_service = kgrpc.KeyHolderServiceStub(channel)  # a key holder's work
        self.stop = threading.Event()
        #: the leases the coordinator granted this process, merged: [(granted_at, expires_at)], its clock
        self.leases: list[tuple[datetime, datetime]] = []
        #: until when (this process's monotonic clock) the last lease granted holds: the health service's
        #: SERVING for a node or key holder is "registered, lease held" (tanji.infra.health)
        self.lease_until = 0.0
        #: objects every party of a calculation pulls (its public context, the key holder's Enc(1)),
        #: shared by the nodes one process hosts (tanji.node.hosting); None: each pull goes out
        self.public_objects: HeldObjects | None = None
        health.ready_when(self.lease_held)

    # ------------------------------------------------------------------ registration and lease
    def register(self, registration: epb.Registration) -> npb.RegisterResponse:
        body = messages.registration(registration, sender=self.party, receiver=COORDINATOR_ID)
        resp = self.node_service.Register(npb.RegisterRequest(registration=env.seal(body, self.key)),
                                          timeout=limits.RPC_TIMEOUT_SECONDS)
        if resp.outcome.status != cpb.PUSH_STATUS_ACCEPTED:
            raise RuntimeError(f"registration refused: {code_name(resp.outcome.code)}: {resp.outcome.message}")
        self.lease_until = time.monotonic() + limits.LEASE_SECONDS
        event("registered")
        return resp

    def register_with_retry(self, registration: epb.Registration, coordinator: str,
                            seconds: float = 120.0) -> npb.RegisterResponse:
        """Dial out until the coordinator answers (it may start after us)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                return self.register(registration)
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"coordinator at {coordinator} unreachable for {seconds:.0f} s") from None
                time.sleep(0.2)

    def heartbeat(self) -> None:
        try:
            resp = self.node_service.Heartbeat(npb.HeartbeatRequest(party_id=self.party),
                                               timeout=limits.RPC_TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            log.warning("heartbeat failed: %s", exc.code())
            return
        if resp.HasField("granted_at") and resp.HasField("lease_expires_at"):
            self._granted(resp.granted_at.ToDatetime(tzinfo=UTC), resp.lease_expires_at.ToDatetime(tzinfo=UTC))

    def _granted(self, start: datetime, end: datetime) -> None:
        """Note a lease; one that begins before the last one ended continues it."""
        self.lease_until = time.monotonic() + (end - start).total_seconds()
        if self.leases and start <= self.leases[-1][1]:
            self.leases[-1] = (self.leases[-1][0], max(end, self.leases[-1][1]))
        else:
            self.leases.append((start, end))
            del self.leases[:-64]

    def held_lease_at(self, moment: datetime) -> bool:
        """This process held a lease the coordinator granted at `moment` (the coordinator's clock)."""
        return any(start <= moment < end for start, end in self.leases)

    def lease_held(self) -> bool:
        """Registered, and the last lease granted has not run out (by this process's clock)."""
        return time.monotonic() < self.lease_until

    def keep_lease(self) -> threading.Thread:
        """Heartbeats on their own thread, so a long homomorphic step never lets the lease expire."""
        def beat():
            while not self.stop.wait(limits.HEARTBEAT_SECONDS):
                self.heartbeat()

        thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------------ inbox
    def messages(self, after: int, wait: float = 0.0) -> list[tuple[int, epb.Envelope]]:
        """Envelopes addressed to this party after the acknowledged cursor, in order; while there are
        none, the coordinator holds the call up to `wait` seconds (a long poll)."""
        resp = self._held(self.node_service.PullMessages,
                          npb.PullMessagesRequest(party_id=self.party, ack_cursor=after, wait_ms=int(wait * 1000)))
        return [] if resp is None else [(m.sequence, m.envelope) for m in resp.messages]

    def work(self, after: int, wait: float = 0.0) -> list[tuple[int, kpb.WorkItem]]:
        """A key holder's work items after the acknowledged cursor, in order (long poll as `messages`)."""
        resp = self._held(self.key_holder_service.PullWork,
                          kpb.PullWorkRequest(party_id=self.party, ack_cursor=after, wait_ms=int(wait * 1000)))
        return [] if resp is None else [(item.sequence, item) for item in resp.items]

    def _held(self, method, request):
        """A call that may be held by the server; None if this client was told to stop meanwhile
        (the call is cancelled at once rather than waited out)."""
        call = method.future(request, timeout=limits.RPC_TIMEOUT_SECONDS)
        while not call.done():
            if self.stop.wait(0.05):
                call.cancel()
                return None
        return call.result()

    def serve(self, pull: Callable[[int, float], Sequence[tuple[int, T]]], handle: Callable[[T], None],
              cursor: Callable[[], int], acknowledge: Callable[[int], None], flush: Callable[[], None] = lambda: None,
              idle_step: float = 0.1, idle_cap: float = 1.0, hold: float = LONG_POLL_SECONDS,
              pending: Callable[[], bool] = lambda: False) -> None:
        """Until stopped: push what is pending, pull the inbox, handle each item in order and
        acknowledge it only then (a crash re-delivers it), and retry an unreachable coordinator
        every second. An empty inbox is waited on at the coordinator (long poll, up to `hold`
        seconds, not while `pending()` says the outbox still holds something to push); a
        coordinator that answers an empty pull at once (it holds no more pulls) is polled with a
        back-off instead."""
        self.keep_lease()
        idle = 0.0
        while not self.stop.is_set():
            try:
                flush()
                wait = 0.0 if pending() else hold
                began = time.monotonic()
                items = pull(cursor(), wait)
                for sequence, item in items:
                    handle(item)
                    acknowledge(sequence)
                held = wait > 0 and time.monotonic() - began >= wait / 2
                idle = 0.0 if items or held else min(idle_cap, idle + idle_step)
                if idle:
                    self.stop.wait(idle)
            except grpc.RpcError as exc:
                if self.stop.is_set():
                    break
                log.warning("coordinator unreachable (%s); retrying", exc.code())
                self.stop.wait(1.0)

    # ------------------------------------------------------------------ outbox
    def deliver(self, calculation_id: str, envelope: epb.Envelope, objects: Iterable[tuple[bytes, int]] = ()) -> None:
        """Push the objects an envelope names, then the envelope's stored bytes.

        Raises Undeliverable when the coordinator refuses it for good, grpc.RpcError when it
        cannot be reached now (the caller sends the same bytes again later)."""
        try:
            for content, kind in objects:
                self.push_object(calculation_id, content, kind)
            resp = self.node_service.PushMessages(npb.PushMessagesRequest(party_id=self.party, envelopes=[envelope]),
                                                  timeout=limits.RPC_TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            if exc.code() not in UPLOAD_REFUSALS:
                raise  # unreachable or overloaded: the same bytes again later
            raise Undeliverable(f"{exc.code().name}: {exc.details()}") from None
        except TransferError as exc:
            raise Undeliverable(str(exc)) from None
        out = resp.outcomes[0]
        if out.status == cpb.PUSH_STATUS_REFUSED:
            raise Undeliverable(f"{code_name(out.code)}: {out.message}")
        sent(calculation_id, envelope)

    def publish_key(self, announcement: epb.Envelope) -> cpb.PushOutcome:
        out = self.key_holder_service.PublishKey(kpb.PublishKeyRequest(key_announcement=announcement),
                                                 timeout=limits.RPC_TIMEOUT_SECONDS).outcome
        if out.status == cpb.PUSH_STATUS_ACCEPTED:
            event("key.made", env.parse_unverified(announcement).body.calculation_id)
        return out

    def submit_result(self, result: epb.Envelope, citation_report: epb.Envelope | None = None) -> cpb.PushOutcome:
        request = kpb.SubmitResultRequest(result=result)
        if citation_report is not None:
            request.citation_report.CopyFrom(citation_report)
        out = self.key_holder_service.SubmitResult(request, timeout=limits.RPC_TIMEOUT_SECONDS).outcome
        if out.status == cpb.PUSH_STATUS_ACCEPTED:
            event("result.released", env.parse_unverified(result).body.calculation_id)
        return out

    # ------------------------------------------------------------------ objects
    def push_object(self, calculation_id: str, data: bytes, kind: int) -> bytes:
        return push_object(self.node_service, self.party, calculation_id, data, kind)

    def pull_object(self, calculation_id: str, digest: bytes, max_bytes: int) -> bytes:
        """An object checked against its name; TransferError (a Refusal with its code) otherwise."""
        return pull_object(self.node_service, self.party, calculation_id, digest, max_bytes)

    def pull_public(self, calculation_id: str, digest: bytes, max_bytes: int) -> bytes:
        """An object the key announcement names for every party: from the process's shared copy
        where there is one (each copy was checked against its name when pulled)."""
        if self.public_objects is None:
            return self.pull_object(calculation_id, digest, max_bytes)
        data = self.public_objects.get(digest, lambda: self.pull_object(calculation_id, digest, max_bytes))
        if len(data) > max_bytes:  # held for a reader that allowed more: refused here as a pull would
            raise TransferError(cpb.REFUSAL_CODE_TOO_LARGE,
                                f"object {digest.hex()[:12]} is {len(data)} bytes, above the limit {max_bytes}")
        return data


#: the lifecycle event a delivered envelope is, by its message type (others: "envelope.sent")
SENT_EVENTS = {epb.MESSAGE_TYPE_CONTRIBUTION: "contribution.sent", epb.MESSAGE_TYPE_REFUSAL: "refusal.sent",
               epb.MESSAGE_TYPE_ATTESTATION: "aggregate.attested",
               epb.MESSAGE_TYPE_FALLBACK_CONTRIBUTION: "fallback.sent"}


def sent(calculation_id: str, envelope: epb.Envelope) -> None:
    """Log and count what the coordinator accepted: its type and, for a refusal, the code (no figure)."""
    try:
        opened = env.parse_unverified(envelope)
    except Exception:  # our own signed bytes; a parse failure is not worth a lost delivery
        return
    mt = opened.body.message_type
    name = SENT_EVENTS.get(mt, "envelope.sent")
    if mt == epb.MESSAGE_TYPE_REFUSAL:
        code = code_name(opened.payload.code)
        telemetry.REFUSALS.labels(code=code).inc()
        telemetry.REQUESTS_ANSWERED.labels(outcome="refusal").inc()
        event(name, calculation_id, code=code)
    elif mt == epb.MESSAGE_TYPE_CONTRIBUTION:
        telemetry.REQUESTS_ANSWERED.labels(outcome="contribution").inc()
        event(name, calculation_id)
    else:
        event(name, calculation_id, type=opened.type_name)
