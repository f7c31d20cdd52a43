"""One constructor per message type, each taking the calculation's binding.

Every party (coordinator, node, key holder) and every test harness builds its envelope
bodies here, so that a message is bound the same way wherever it is made: the key
fingerprint and CKKS parameter hash of the calculation's key announcement, the factor-set
hash and the method profile of its calculation request (DESIGN §2, "Rules that the crypto
layer does not give for free"). A constructor returns an unsigned body; `envelope.seal`
signs its exact bytes once.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from google.protobuf.message import Message

from tanji.protocol.envelope import Opened, new_body
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType


@dataclass(frozen=True)
class Binding:
    """What binds a message to one calculation; empty fields are left unset (before the key exists)."""

    factor_set_hash: bytes = b""
    method_profile: cpb.MethodProfile | None = None
    key_fingerprint: bytes = b""
    ckks_params_hash: bytes = b""

    @classmethod
    def of(cls, request: Opened | None = None, key_announcement: Opened | None = None) -> Binding:
        """From the calculation's verified request and (once it exists) its key announcement."""
        source = request or key_announcement
        if source is None:
            return cls()
        ka = key_announcement.payload if key_announcement is not None else None
        return cls(factor_set_hash=source.body.factor_set_hash,
                   method_profile=source.body.method_profile if source.body.HasField("method_profile") else None,
                   key_fingerprint=ka.key_fingerprint if ka is not None else b"",
                   ckks_params_hash=ka.ckks_params_hash if ka is not None else b"")

    def apply(self, body: epb.EnvelopeBody) -> epb.EnvelopeBody:
        if self.factor_set_hash:
            body.factor_set_hash = self.factor_set_hash
        if self.method_profile is not None:
            body.method_profile.CopyFrom(self.method_profile)
        if self.key_fingerprint:
            body.key_fingerprint = self.key_fingerprint
            body.ckks_params_hash = self.ckks_params_hash
        return body


def _build(message_type: int, payload_field: str, payload: Message, *, calculation_id: str, sender: str,
           receiver: str, binding: Binding | None, answers: bytes = b"",
           objects: Iterable[bytes] = ()) -> epb.EnvelopeBody:
    body = new_body(message_type, calculation_id=calculation_id, sender=sender, receiver=receiver)
    (binding or Binding()).apply(body)
    if answers:
        body.answers_hash = answers
    body.object_hashes.extend(objects)
    getattr(body, payload_field).CopyFrom(payload)
    return body


def registration(payload: epb.Registration, *, sender: str, receiver: str) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_REGISTRATION, "registration", payload, calculation_id="", sender=sender,
                  receiver=receiver, binding=None)


def calculation_request(payload: epb.CalculationRequest, *, calculation_id: str, sender: str, receiver: str,
                        binding: Binding) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_CALCULATION_REQUEST, "calculation_request", payload,
                  calculation_id=calculation_id, sender=sender, receiver=receiver, binding=binding)


def key_announcement(payload: epb.KeyAnnouncement, *, calculation_id: str, sender: str, receiver: str,
                     binding: Binding, answers: bytes, objects: Iterable[bytes]) -> epb.EnvelopeBody:
    """The key holder's announcement: bound to the request's factor set and method; the key's own
    fingerprint and parameter hash go into the header as well as the payload."""
    full = Binding(binding.factor_set_hash, binding.method_profile, payload.key_fingerprint,
                   payload.ckks_params_hash)
    return _build(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT, "key_announcement", payload, calculation_id=calculation_id,
                  sender=sender, receiver=receiver, binding=full, answers=answers, objects=objects)


def request(payload: epb.Request, *, calculation_id: str, sender: str, receiver: str, binding: Binding,
            answers: bytes, objects: Iterable[bytes]) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_REQUEST, "request", payload, calculation_id=calculation_id, sender=sender,
                  receiver=receiver, binding=binding, answers=answers, objects=objects)


def merged_request(payload: epb.MergedRequest, *, calculation_id: str, sender: str, receiver: str,
                   binding: Binding, answers: bytes = b"", objects: Iterable[bytes] = ()) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_MERGED_REQUEST, "merged_request", payload, calculation_id=calculation_id,
                  sender=sender, receiver=receiver, binding=binding, answers=answers, objects=objects)


def contribution(payload: epb.Contribution, *, calculation_id: str, sender: str, receiver: str, binding: Binding,
                 answers: bytes, objects: Iterable[bytes]) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_CONTRIBUTION, "contribution", payload, calculation_id=calculation_id,
                  sender=sender, receiver=receiver, binding=binding, answers=answers, objects=objects)


def declaration(payload: epb.Declaration, *, calculation_id: str, sender: str, receiver: str, binding: Binding,
                answers: bytes) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "declaration", payload, calculation_id=calculation_id,
                  sender=sender, receiver=receiver, binding=binding, answers=answers)


def dead_supplier(payload: epb.DeadSupplier, *, calculation_id: str, sender: str, receiver: str,
                  binding: Binding, answers: bytes) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_DEAD_SUPPLIER, "dead_supplier", payload, calculation_id=calculation_id,
                  sender=sender, receiver=receiver, binding=binding, answers=answers)


def fallback_contribution(payload: epb.FallbackContribution, *, calculation_id: str, sender: str, receiver: str,
                          binding: Binding, answers: bytes, objects: Iterable[bytes]) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION, "fallback_contribution", payload,
                  calculation_id=calculation_id, sender=sender, receiver=receiver, binding=binding,
                  answers=answers, objects=objects)


def aggregate(payload: epb.Aggregate, *, calculation_id: str, sender: str, receiver: str, binding: Binding,
              answers: bytes, objects: Iterable[bytes]) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_AGGREGATE, "aggregate", payload, calculation_id=calculation_id, sender=sender,
                  receiver=receiver, binding=binding, answers=answers, objects=objects)


def attestation(payload: epb.Attestation, *, calculation_id: str, sender: str, receiver: str, binding: Binding,
                answers: bytes) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_ATTESTATION, "attestation", payload, calculation_id=calculation_id,
                  sender=sender, receiver=receiver, binding=binding, answers=answers)


def result(payload: epb.Result, *, calculation_id: str, sender: str, receiver: str, binding: Binding,
           answers: bytes) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_RESULT, "result", payload, calculation_id=calculation_id, sender=sender,
                  receiver=receiver, binding=binding, answers=answers)


def refusal(code: int, message: str, *, calculation_id: str, sender: str, receiver: str, binding: Binding,
            answers: bytes) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_REFUSAL, "refusal", epb.Refusal(code=cast(cpb.RefusalCode, code), message=message),
                  calculation_id=calculation_id, sender=sender, receiver=receiver, binding=binding, answers=answers)


def citation_report(payload: epb.CitationReport, *, calculation_id: str, sender: str, receiver: str,
                    binding: Binding, answers: bytes) -> epb.EnvelopeBody:
    return _build(MT.MESSAGE_TYPE_CITATION_REPORT, "citation_report", payload, calculation_id=calculation_id,
                  sender=sender, receiver=receiver, binding=binding, answers=answers)
