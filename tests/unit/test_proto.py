"""The wire contract (proto/tanji/v1): fresh generated code, envelope byte discipline,
domain tags, and field numbers that are never reused."""
from __future__ import annotations

import hashlib

import pytest
from google.protobuf import descriptor_pb2

from tanji import protogen
from tanji.v1 import (
    common_pb2,
    envelope_pb2,
    key_holder_pb2,
    key_holder_pb2_grpc,
    node_pb2,
    node_pb2_grpc,
    objects_pb2,
    options_pb2,
    requester_pb2,
    requester_pb2_grpc,
)


def _tags() -> dict[int, tuple[str, str]]:
    """MessageType number -> (domain tag, payload field) from the enum's options."""
    out: dict[int, tuple[str, str]] = {}
    for value in envelope_pb2.MessageType.DESCRIPTOR.values:
        opts = value.GetOptions()
        # the generated stubs type the options as plain FieldDescriptors, not extension descriptors
        out[value.number] = (opts.Extensions[options_pb2.domain_tag],  # type: ignore[index]
                             opts.Extensions[options_pb2.payload_field])  # type: ignore[index]
    return out


def _contribution_body(**header) -> envelope_pb2.EnvelopeBody:
    body = envelope_pb2.EnvelopeBody(
        protocol_version=1,
        software_version="tanji 0.1.0",
        message_type=envelope_pb2.MESSAGE_TYPE_CONTRIBUTION,
        calculation_id="0b9f3c1e-5a51-4d8e-9a0e-6f1b2c3d4e5f",
        sender="cathodeco",
        receiver="coordinator",
        message_id=bytes(range(16)),
        answers_hash=hashlib.sha256(b"merged request").digest(),
        object_hashes=[hashlib.sha256(b"ciphertext").digest()],
        key_fingerprint=hashlib.sha256(b"public key").digest(),
        ckks_params_hash=hashlib.sha256(b"preset").digest(),
        factor_set_hash=hashlib.sha256(b"factors").digest(),
        method_profile=common_pb2.MethodProfile(name="miit", version="2025"),
        slot_layout_version="1",
        signer_key_fingerprint=hashlib.sha256(b"ed25519 key").digest(),
        contribution=envelope_pb2.Contribution(
            product_id="NCM811-CATHODE",
            ciphertext_hash=hashlib.sha256(b"ciphertext").digest(),
            record_commitment=hashlib.sha256(b"salt||record").digest(),
            level=2,
        ),
        **header,
    )
    body.created_at.FromSeconds(1_767_225_600)
    return body


# ------------------------------------------------------------------ generation


def test_generated_code_is_fresh():
    problems = protogen.check()
    assert problems == [], "run `python -m tanji.protogen`:\n" + "\n".join(problems)


def test_grpc_stubs_exist_for_every_service():
    for module, name in (
        (node_pb2_grpc, "NodeService"),
        (requester_pb2_grpc, "RequesterService"),
        (key_holder_pb2_grpc, "KeyHolderService"),
    ):
        assert hasattr(module, f"{name}Stub") and hasattr(module, f"{name}Servicer")


def test_every_rpc_is_unary():
    """DESIGN §3: short unary calls only (objects move as unary chunk calls)."""
    services = [s for f in (node_pb2, requester_pb2, key_holder_pb2) for s in f.DESCRIPTOR.services_by_name.values()]
    assert {s.name for s in services} == {"NodeService", "RequesterService", "KeyHolderService"}
    for service in services:
        for method in service.methods:
            proto = descriptor_pb2.MethodDescriptorProto()
            method.CopyToProto(proto)
            assert not proto.client_streaming and not proto.server_streaming, method.full_name


# ------------------------------------------------------------------ envelope


def test_envelope_round_trips():
    body = _contribution_body().SerializeToString()
    env = envelope_pb2.Envelope(body=body, signature=b"\x07" * 64)
    parsed = envelope_pb2.Envelope.FromString(env.SerializeToString())
    assert parsed == env
    again = envelope_pb2.EnvelopeBody.FromString(parsed.body)
    assert again == _contribution_body()
    assert again.WhichOneof("payload") == "contribution"


def test_body_bytes_survive_exactly_even_when_not_canonical():
    """Sign bytes, never re-serialised objects: the envelope must carry the exact body."""
    canonical = _contribution_body().SerializeToString()
    # A legal but non-canonical encoding: a later duplicate of field 2 (last one
    # wins on parse) and an unknown field 999 from a newer sender.
    extra = envelope_pb2.EnvelopeBody(software_version="tanji 0.2.0").SerializeToString()
    unknown = bytes([0xBA, 0x3E, 0x03]) + b"new"  # field 999, wire type 2, 3 bytes
    raw = canonical + extra + unknown
    parsed_body = envelope_pb2.EnvelopeBody.FromString(raw)
    assert parsed_body.software_version == "tanji 0.2.0"
    assert parsed_body.SerializeToString() != raw  # re-serialising would change what was signed

    env = envelope_pb2.Envelope(body=raw, signature=b"\x01" * 64)
    wire = env.SerializeToString()
    assert envelope_pb2.Envelope.FromString(wire).body == raw
    assert hashlib.sha256(envelope_pb2.Envelope.FromString(wire).body).digest() == hashlib.sha256(raw).digest()
    # and nested inside an RPC message (PullMessages delivery) too
    delivered = node_pb2.PullMessagesResponse(messages=[node_pb2.DeliveredEnvelope(sequence=7, envelope=env)])
    back = node_pb2.PullMessagesResponse.FromString(delivered.SerializeToString())
    assert back.messages[0].envelope.body == raw


# ------------------------------------------------------------------ domain tags


def test_every_message_type_has_a_distinct_domain_tag():
    tags = _tags()
    assert tags.pop(envelope_pb2.MESSAGE_TYPE_UNSPECIFIED) == ("", "")
    assert tags, "no message types"
    names = {n: envelope_pb2.MessageType.Name(n) for n in tags}
    for number, (tag, _) in tags.items():
        assert tag, f"{names[number]} has no domain_tag"
        assert tag.isascii() and "\x00" not in tag, f"{names[number]}: tag must be ASCII without NUL"
        assert tag.startswith("tanji/v1/"), f"{names[number]}: {tag!r}"
    all_tags = [tag for tag, _ in tags.values()]
    assert len(set(all_tags)) == len(all_tags), f"duplicate domain tags: {sorted(all_tags)}"


def test_each_message_type_names_its_own_payload_field():
    oneof = envelope_pb2.EnvelopeBody.DESCRIPTOR.oneofs_by_name["payload"]
    payload_fields = {f.name for f in oneof.fields}
    tags = _tags()
    del tags[envelope_pb2.MESSAGE_TYPE_UNSPECIFIED]
    named = [payload for _, payload in tags.values()]
    assert all(named), "a message type lacks (tanji.v1.payload_field)"
    assert len(set(named)) == len(named), "two message types share a payload field"
    assert set(named) == payload_fields, "payload oneof and message types disagree"


def test_header_binds_what_design_requires():
    """DESIGN: calculation id, sender, receiver, answered request, ciphertext hashes,
    key fingerprint, CKKS parameter hash, factor-set hash, software/protocol version."""
    fields = set(envelope_pb2.EnvelopeBody.DESCRIPTOR.fields_by_name)
    assert {
        "protocol_version", "software_version", "message_type", "calculation_id", "sender",
        "receiver", "message_id", "created_at", "answers_hash", "object_hashes",
        "key_fingerprint", "ckks_params_hash", "factor_set_hash", "method_profile",
    } <= fields
    assert [f.name for f in envelope_pb2.Envelope.DESCRIPTOR.fields] == ["body", "signature"]


# ------------------------------------------------------------------ field numbers


def _all_messages():
    stack = [
        m
        for module in (common_pb2, envelope_pb2, node_pb2, objects_pb2, requester_pb2, key_holder_pb2)
        for m in module.DESCRIPTOR.message_types_by_name.values()
    ]
    while stack:
        m = stack.pop()
        yield m
        stack.extend(m.nested_types)


def test_field_numbers_are_unique_and_not_reserved():
    for m in _all_messages():
        proto = descriptor_pb2.DescriptorProto()
        m.CopyToProto(proto)
        numbers = [f.number for f in proto.field]
        assert len(numbers) == len(set(numbers)), m.full_name
        reserved = {n for r in proto.reserved_range for n in range(r.start, r.end)}
        assert not reserved & set(numbers), f"{m.full_name} uses a reserved number"
        assert not set(proto.reserved_name) & {f.name for f in proto.field}, m.full_name


def test_wire_lock_holds():
    """proto/tanji/v1/wire-lock.json: nothing published is renumbered, retyped or reused."""
    breaking, unrecorded = protogen.lock_problems()
    assert breaking == [], "\n".join(breaking)
    assert unrecorded == [], "run `python -m tanji.protogen --lock`:\n" + "\n".join(unrecorded)


@pytest.mark.parametrize(
    "tamper, expected",
    [
        (lambda lock: lock.__setitem__("field tanji.v1.Envelope #1", "bytes payload"), "changed"),
        (lambda lock: lock.__setitem__("field tanji.v1.Envelope #3", "bytes key_id"), "removed without reserving"),
        (lambda lock: lock.__setitem__("rpc tanji.v1.NodeService/Gone", "A -> B"), "removed"),
    ],
)
def test_wire_lock_catches_reuse(tamper, expected):
    lock = protogen.read_lock()
    tamper(lock)
    breaking, _ = protogen.lock_problems(lock)
    assert breaking and breaking[0].startswith(expected), breaking
