"""Envelopes as production builds them, and the malformed ones attacks need.

`body(payload, ...)` picks the `tanji.protocol.messages` constructor by the payload's type and
binds it with a `Binding` exactly as the coordinator, a node or the key holder does; `seal`
signs it with `tanji.protocol.envelope.seal`. Nothing here sets a header field by hand.

The deliberately malformed variants start from such an envelope: `edited` changes its body and
seals it again (a valid signature over wrong content), `resign` signs any body under a message
type's domain tag without the payload check (what a fuzzer's mutation needs), `forged` breaks a
signature, `flip` breaks bytes.
"""
from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import Message

from tanji.he import tasks as he_tasks
from tanji.protocol import envelope as env
from tanji.protocol import messages
from tanji.protocol.messages import Binding
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.harness.keys import COORDINATOR, KEY_HOLDER

MT = epb.MessageType
#: the factor-set hash and method of the in-process worlds' calculations
FS_HASH = hashlib.sha256(b"factor set").digest()
MIIT_PROFILE = cpb.MethodProfile(name="miit-2025", version="1")
#: nothing bound: a message made outside any calculation's binding
UNBOUND = Binding()

CONSTRUCTORS: dict[type[Message], Callable[..., epb.EnvelopeBody]] = {
    epb.Registration: messages.registration,
    epb.CalculationRequest: messages.calculation_request,
    epb.KeyAnnouncement: messages.key_announcement,
    epb.Request: messages.request,
    epb.MergedRequest: messages.merged_request,
    epb.Contribution: messages.contribution,
    epb.Declaration: messages.declaration,
    epb.DeadSupplier: messages.dead_supplier,
    epb.FallbackContribution: messages.fallback_contribution,
    epb.Aggregate: messages.aggregate,
    epb.Attestation: messages.attestation,
    epb.Result: messages.result,
    epb.Refusal: messages.refusal,
    epb.CitationReport: messages.citation_report,
}


def requested(factor_set_hash: bytes = FS_HASH, profile: cpb.MethodProfile = MIIT_PROFILE) -> Binding:
    """What a requester binds its calculation request to: the factor set and the method."""
    return Binding(factor_set_hash=factor_set_hash, method_profile=profile)


def bound(request: epb.Envelope | None = None, announcement: epb.Envelope | None = None) -> Binding:
    """A calculation's binding from its request and (once it exists) its key announcement, as
    every party computes it (`Binding.of`)."""
    return Binding.of(env.parse_unverified(request) if request is not None else None,
                      env.parse_unverified(announcement) if announcement is not None else None)


def body(payload: Message, *, sender: str, cid: str = "", receiver: str = COORDINATOR, binding: Binding = UNBOUND,
         answers: bytes = b"", objects: Iterable[bytes] = ()) -> epb.EnvelopeBody:
    """The unsigned body of `payload` from its `tanji.protocol.messages` constructor. A declaration
    lists its requests' objects on the body, as the node does after the constructor."""
    make = CONSTRUCTORS[type(payload)]
    accepts = inspect.signature(make).parameters
    header: dict[str, Any] = {"sender": sender, "receiver": receiver}
    if "calculation_id" in accepts:
        header["calculation_id"] = cid
    if "binding" in accepts:
        header["binding"] = binding
    if "answers" in accepts:
        header["answers"] = answers
    elif answers:
        raise TypeError(f"a {type(payload).__name__} answers nothing")
    if "objects" in accepts:
        header["objects"] = list(objects)
    if isinstance(payload, epb.Refusal):
        out = messages.refusal(payload.code, payload.message, **header)
    else:
        out = make(payload, **header)
    if "objects" not in accepts:
        out.object_hashes.extend(objects)
    return out


def seal(payload: Message, key: SigningKey, **header: Any) -> epb.Envelope:
    """`body(payload, **header)` signed by `key`."""
    return env.seal(body(payload, **header), key)


def opened(payload: Message, key: SigningKey, **header: Any) -> env.Opened:
    """`seal(...)` as its receiver reads it."""
    return env.parse_unverified(seal(payload, key, **header))


# ---------------------------------------------------------------------------- payloads
def registration(party: str, key: SigningKey, products: Iterable[str] = (),
                 edges: Iterable[tuple[str, str, str]] = (), roles: Iterable[int] = (cpb.PARTY_ROLE_NODE,),
                 public_key: bytes | None = None, approves: Iterable[str] | None = None) -> epb.Envelope:
    """`party`'s registration, signed by `key`, announcing `public_key` (default: `key`'s); it approves
    the customers `approves` names (default: everyone)."""
    reg = epb.Registration(organisation_id=party, envelope_public_key=public_key or key.public_raw,
                           product_ids=list(products), roles=list(roles))  # type: ignore[arg-type]
    if approves is None:
        reg.approves_everyone = True
    else:
        reg.approved_customers.extend(approves)
    for buyer_product, supplier, supplier_product in edges:
        reg.supply_edges.add(buyer_product=buyer_product, supplier=supplier, supplier_product=supplier_product)
    return seal(reg, key, sender=party)


def calculation(target: str, products: Iterable[str], *, depth: int = 1, batch: int = 1,
                key_holder: str = KEY_HOLDER, deadline: timedelta | None = timedelta(hours=1),
                factor_set_id: str = "fs", commitment: bytes = b"", min_attestations: int = 0,
                lifetime_energy_kwh: float | None = 1000.0) -> epb.CalculationRequest:
    """A calculation request of `target`'s `products` (no deadline: `deadline=None`)."""
    req = epb.CalculationRequest(target_organisation=target, depth_bound=depth, batch_size=batch,
                                 key_holder=key_holder, factor_set_id=factor_set_id,
                                 quantity_commitment=commitment, min_attestations=min_attestations)
    for p in products:
        item = req.products.add(product_id=p)
        if lifetime_energy_kwh is not None:
            item.lifetime_energy_kwh = lifetime_energy_kwh
    if deadline is not None:
        req.deadline.FromDatetime(datetime.now(UTC) + deadline)
    return req


def announced(keys: he_tasks.Keys, context_hash: bytes, unit_hash: bytes) -> epb.KeyAnnouncement:
    """The key holder's announcement of `keys`, naming its public context and Enc(1) objects."""
    return epb.KeyAnnouncement(key_fingerprint=keys.key_fingerprint, ckks_params_hash=keys.params_hash,
                               preset=keys.preset, context_object_hash=context_hash,
                               transit_level=keys.transit_level, width=keys.width,
                               unit_weight_object_hash=unit_hash)


def declared(*requests: epb.Envelope) -> epb.Declaration:
    """A declaration of the REQUEST envelopes a node sent (empty: a leaf declares no request)."""
    out = epb.Declaration()
    for sealed in requests:
        r = env.parse_unverified(sealed).payload
        out.requests.add(supplier=r.supplier, product_id=r.product_id, quantity_unit=r.quantity_unit,
                         weight_object_hash=r.weight_object_hash, request_hash=env.message_hash(sealed))
    return out


# ---------------------------------------------------------------------------- malformed variants
def edited(envelope: epb.Envelope, key: SigningKey, edit: Callable[[epb.EnvelopeBody], object]) -> epb.Envelope:
    """`envelope`'s body changed by `edit` and sealed again by `key` (a valid signature)."""
    changed = epb.EnvelopeBody.FromString(envelope.body)
    edit(changed)
    return env.seal(changed, key)


def resealed(envelope: epb.Envelope, key: SigningKey) -> epb.Envelope:
    """The same body sealed by another key (someone else's signature under the sender's name)."""
    return edited(envelope, key, lambda b: None)


def with_fields(envelope: epb.Envelope, key: SigningKey, **fields: Any) -> epb.Envelope:
    """`envelope` with header fields set to other values, sealed again by `key`."""
    def change(b: epb.EnvelopeBody) -> None:
        for name, value in fields.items():
            if name == "created_at":
                b.created_at.FromDatetime(value)
            else:
                setattr(b, name, value)
    return edited(envelope, key, change)


def resign(changed: epb.EnvelopeBody, key: SigningKey, message_type: int | None = None) -> epb.Envelope:
    """Any body, however mutated, signed by `key` under `message_type`'s domain tag (default: the
    body's own type) without the payload check `seal` makes: it passes the signature."""
    changed.signer_key_fingerprint = env.key_fingerprint(key.public_raw)
    raw = changed.SerializeToString()
    tag = env.domain_tag(changed.message_type if message_type is None else message_type)
    return epb.Envelope(body=raw, signature=key.sign(tag, raw))


def forged(envelope: epb.Envelope) -> epb.Envelope:
    """The same body with one bit of its signature flipped."""
    return epb.Envelope(body=envelope.body, signature=bytes([envelope.signature[0] ^ 1]) + envelope.signature[1:])


def flip(data: bytes, pos: int, bit: int = 0) -> bytes:
    """`data` with one bit flipped."""
    out = bytearray(data)
    out[pos] ^= 1 << bit
    return bytes(out)
