"""Client side of the content-addressed object transfer: push and pull in chunks, resumable.

Whatever a coordinator answers, both directions end: with the object, or with a TransferError
that names what is wrong by its refusal code (an oversized object TOO_LARGE, other bytes than
the name HASH_MISMATCH, a broken exchange MALFORMED), so no caller reads codes out of prose.
"""
from __future__ import annotations

import hashlib
from typing import cast

from tanji.protocol import limits
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import objects_pb2 as opb


class TransferError(Refusal):
    """An object exchange the coordinator broke; `code` says how (a RefusalCode)."""


def push_object(stub, party: str, calculation_id: str, data: bytes, kind: int) -> bytes:
    """Upload `data` (skipping what the coordinator already holds); returns its SHA-256."""
    digest = hashlib.sha256(data).digest()
    stat = stub.StatObject(opb.StatObjectRequest(party_id=party, calculation_id=calculation_id, object_hash=digest),
                           timeout=limits.RPC_TIMEOUT_SECONDS)
    if stat.complete:
        return digest
    offset = stat.received_bytes
    wire_kind = cast(opb.ObjectKind, kind)  # an ObjectKind value, kept as int in the stores; the stubs want the enum
    while True:
        if offset > len(data):  # a coordinator claiming more than there is would keep us sending forever
            raise TransferError(cpb.REFUSAL_CODE_MALFORMED,
                                f"object {digest.hex()[:12]}: coordinator claims {offset} bytes of {len(data)}")
        chunk = data[offset:offset + limits.CHUNK_BYTES]
        resp = stub.PushObject(opb.PushObjectRequest(party_id=party, calculation_id=calculation_id,
                                                     object_hash=digest, kind=wire_kind, total_size=len(data),
                                                     offset=offset, data=chunk), timeout=limits.RPC_TIMEOUT_SECONDS)
        if resp.complete:
            return digest
        if resp.received_bytes <= offset:
            raise TransferError(cpb.REFUSAL_CODE_MALFORMED,
                                f"object {digest.hex()[:12]}: coordinator stopped accepting at {resp.received_bytes}")
        offset = resp.received_bytes


def pull_object(stub, party: str, calculation_id: str, digest: bytes, max_bytes: int) -> bytes:
    """Download an object and check it against its name."""
    parts, offset, total = [], 0, None
    while total is None or offset < total:
        resp = stub.PullObject(opb.PullObjectRequest(party_id=party, calculation_id=calculation_id,
                                                     object_hash=digest, offset=offset),
                               timeout=limits.RPC_TIMEOUT_SECONDS)
        if total is not None and resp.total_size != total:
            raise TransferError(cpb.REFUSAL_CODE_MALFORMED,
                                f"object {digest.hex()[:12]}: its size changed from {total} to {resp.total_size}")
        total = resp.total_size
        if total > max_bytes:
            raise TransferError(cpb.REFUSAL_CODE_TOO_LARGE,
                                f"object {digest.hex()[:12]} is {total} bytes, above the limit {max_bytes}")
        if not resp.data and offset < total:
            raise TransferError(cpb.REFUSAL_CODE_MALFORMED, f"object {digest.hex()[:12]}: empty chunk at {offset}")
        end = offset + len(resp.data)
        if end > total or (end < total and len(resp.data) < limits.MIN_CHUNK_BYTES):
            # a coordinator dribbling bytes would keep a node busy for millions of calls
            raise TransferError(cpb.REFUSAL_CODE_MALFORMED,
                                f"object {digest.hex()[:12]}: a chunk of {len(resp.data)} bytes at {offset} of {total} "
                                f"(chunks other than the last carry at least {limits.MIN_CHUNK_BYTES})")
        parts.append(resp.data)
        offset += len(resp.data)
    data = b"".join(parts)
    if hashlib.sha256(data).digest() != digest:
        raise TransferError(cpb.REFUSAL_CODE_HASH_MISMATCH, f"object {digest.hex()[:12]} does not match its hash")
    return data
