"""Signed envelopes: seal a body once, verify exact bytes, never re-serialise.

`seal` serialises an EnvelopeBody once and signs UTF-8(domain tag) || 0x00 ||
body with the sender's Ed25519 key; `open_envelope` parses, looks the tag up
from the message type (a proto option), checks the payload matches the type,
and verifies the signature against the sender's registered key. The message
hash is SHA-256 of the body bytes.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from tanji.methodology import slots
from tanji.protocol.identity import PROTOCOL_VERSION, SOFTWARE_VERSION, software_incompatibility
from tanji.protocol.refusals import Refusal
from tanji.protocol.signing import BadSignature, SigningKey, verify
from tanji.v1 import common_pb2, envelope_pb2, options_pb2

MT = envelope_pb2.MessageType

#: an envelope refused on receipt is a Refusal like any other (one refusal model)
EnvelopeRefused = Refusal


def _option(message_type: int, ext: FieldDescriptor) -> str:
    try:
        value = MT.DESCRIPTOR.values_by_number[message_type]
    except KeyError:
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_UNKNOWN_MESSAGE_TYPE,
                              f"unknown message type {message_type}") from None
    # the generated stubs type the option as a plain FieldDescriptor; its value is a string
    return str(value.GetOptions().Extensions[ext])  # type: ignore[index]


def domain_tag(message_type: int) -> str:
    return _option(message_type, options_pb2.domain_tag)


def payload_field(message_type: int) -> str:
    return _option(message_type, options_pb2.payload_field)


def message_hash(envelope: envelope_pb2.Envelope) -> bytes:
    return hashlib.sha256(envelope.body).digest()


def key_fingerprint(public_raw: bytes) -> bytes:
    return hashlib.sha256(public_raw).digest()


def new_body(message_type: int, *, calculation_id: str, sender: str, receiver: str) -> envelope_pb2.EnvelopeBody:
    """A body with the header fields every message carries; the caller adds payload and bindings."""
    body = envelope_pb2.EnvelopeBody(
        protocol_version=PROTOCOL_VERSION, software_version=SOFTWARE_VERSION,
        message_type=cast(envelope_pb2.MessageType, message_type),
        calculation_id=calculation_id, sender=sender, receiver=receiver, message_id=os.urandom(16),
        slot_layout_version=slots.LAYOUT_VERSION)
    body.created_at.GetCurrentTime()
    return body


def seal(body: envelope_pb2.EnvelopeBody, key: SigningKey) -> envelope_pb2.Envelope:
    """Serialise once and sign the exact bytes."""
    if body.WhichOneof("payload") != payload_field(body.message_type):
        raise ValueError(f"payload {body.WhichOneof('payload')!r} does not match {MT.Name(body.message_type)}")
    body.signer_key_fingerprint = key_fingerprint(key.public_raw)
    raw = body.SerializeToString(deterministic=True)
    return envelope_pb2.Envelope(body=raw, signature=key.sign(domain_tag(body.message_type), raw))


@dataclass(frozen=True)
class Opened:
    envelope: envelope_pb2.Envelope
    body: envelope_pb2.EnvelopeBody
    hash: bytes

    @property
    def payload(self) -> Any:
        """The body's payload message (its type follows the message type)."""
        return getattr(self.body, self.body.WhichOneof("payload"))

    @property
    def type_name(self) -> str:
        return MT.Name(self.body.message_type)


def parse_unverified(envelope: envelope_pb2.Envelope) -> Opened:
    """UNSAFE: parse and check the header without verifying the signature. Only for finding the
    sender before `check_signature`, or for bytes already verified (see `reopen`)."""
    body = envelope_pb2.EnvelopeBody()
    try:
        body.ParseFromString(envelope.body)
    except DecodeError as exc:
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_MALFORMED, f"envelope body does not parse: {exc}") from None
    if body.protocol_version != PROTOCOL_VERSION:
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_VERSION_MISMATCH,
                              f"protocol version {body.protocol_version}, this party speaks {PROTOCOL_VERSION}")
    incompatible = software_incompatibility(body.software_version)
    if incompatible:
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_VERSION_MISMATCH, incompatible)
    if body.message_type not in MT.DESCRIPTOR.values_by_number or body.message_type == MT.MESSAGE_TYPE_UNSPECIFIED:
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_UNKNOWN_MESSAGE_TYPE, f"unknown message type {body.message_type}")
    if body.WhichOneof("payload") != payload_field(body.message_type):
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_MALFORMED,
                              f"{MT.Name(body.message_type)} carries payload {body.WhichOneof('payload')!r}")
    if body.slot_layout_version != slots.LAYOUT_VERSION:
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_SLOT_LAYOUT_MISMATCH,
                              f"slot layout {body.slot_layout_version!r}, expected {slots.LAYOUT_VERSION!r}")
    bad = _invalid_timestamp(body)
    if bad:
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_MALFORMED, f"{MT.Name(body.message_type)}: {bad} is not a valid "
                              "timestamp (years 1 to 9999, nanoseconds below 10^9)")
    return Opened(envelope, body, message_hash(envelope))


def _invalid_timestamp(msg: Message, path: str = "") -> str | None:
    """The path of the first Timestamp out of protobuf's valid range (ToDatetime would raise), or None."""
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        where = f"{path}{field.name}"
        items = value if field.is_repeated else [value]
        for item in items:
            if field.message_type.full_name == "google.protobuf.Timestamp":
                if not (_TS_MIN <= item.seconds <= _TS_MAX and 0 <= item.nanos < 1_000_000_000):
                    return where
            else:
                inner = _invalid_timestamp(item, where + ".")
                if inner:
                    return inner
    return None


_TS_MIN, _TS_MAX = -62135596800, 253402300799  # 0001-01-01 .. 9999-12-31 (google.protobuf.Timestamp)


def reopen(envelope: envelope_pb2.Envelope) -> Opened:
    """Re-open an envelope this party verified before it stored it (its own database, its own
    outbox, or bytes it sealed itself): parsing only, the signature was checked on the way in."""
    return parse_unverified(envelope)


def check_signature(opened: Opened, public_raw: bytes) -> None:
    if opened.body.signer_key_fingerprint != key_fingerprint(public_raw):
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_BAD_SIGNATURE,
                              f"{opened.type_name} from {opened.body.sender!r} names a key that is not its "
                              "registered key")
    try:
        verify(public_raw, domain_tag(opened.body.message_type), opened.envelope.body, opened.envelope.signature)
    except BadSignature as exc:
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_BAD_SIGNATURE,
                              f"{opened.type_name} from {opened.body.sender!r}: {exc}") from None


def open_envelope(envelope: envelope_pb2.Envelope, key_of: Callable[[str], bytes | None]) -> Opened:
    """Parse and verify against the sender's registered key (`key_of(party) -> raw key or None`)."""
    opened = parse_unverified(envelope)
    public = key_of(opened.body.sender)
    if public is None:
        raise EnvelopeRefused(common_pb2.REFUSAL_CODE_UNKNOWN_PARTY, f"sender {opened.body.sender!r} is not registered")
    check_signature(opened, public)
    return opened
