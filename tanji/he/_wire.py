"""Byte formats of the HE layer: a strict protobuf-wire reader, and the ciphertext header.

TenSEAL serialises vectors and contexts as protobuf messages (tenseal/proto/*.proto in
the wheel). We never hand untrusted protobuf to TenSEAL: a received ciphertext is our own
fixed header followed by the raw SEAL ciphertext, and we rebuild TenSEAL's message from
values we control (vector size, scale), so a hostile `sizes` or `scale` field cannot reach
TenSEAL's decoder (an oversized `sizes` would make its decrypt read past its buffer).

Ciphertext wire format, version 1 (all integers big-endian)::

    offset  size  field
    0       4     magic b"TJHE"
    4       1     format version (1)
    5       1     level (multiplicative levels left above the output level)
    6       2     reserved, 0
    8       4     width: number of slots carried (8 per product block)
    12      32    parameter hash (SHA-256, see Preset.param_hash)
    44      32    key fingerprint (SHA-256 of the serialised public key)
    76      4     length L of the SEAL ciphertext that follows
    80      L     SEAL ciphertext (Ciphertext::save, zstd-compressed by SEAL)
    80+L    ...   zero padding up to `padded_size(N, level)`

The padding makes the byte size a function of (preset, level) alone: zstd's output length
varies with the (random) ciphertext by ~0.5%, and sizes must not vary with anything.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import MalformedCiphertext

MAGIC = b"TJHE"
FORMAT_VERSION = 1
HEADER = struct.Struct(">4sBBHI32s32sI")
HEADER_SIZE = HEADER.size  # 80
SEAL_MAGIC = b"\x5e\xa1"   # SEALHeader.magic 0xA15E, little-endian


@dataclass(frozen=True)
class CiphertextHeader:
    level: int
    width: int
    param_hash: bytes
    key_fingerprint: bytes


def padded_size(poly_modulus_degree: int, primes_at_level: int) -> int:
    """Total wire size of a ciphertext with this many primes: header + a bound on SEAL's
    output (raw 2·N·k 64-bit words, plus zstd's worst-case framing and SEAL's metadata)."""
    raw = 2 * poly_modulus_degree * primes_at_level * 8
    return HEADER_SIZE + raw + raw // 1024 + 1024


def pack_ciphertext(header: CiphertextHeader, seal_bytes: bytes, total_size: int | None = None) -> bytes:
    out = HEADER.pack(MAGIC, FORMAT_VERSION, header.level, 0, header.width, header.param_hash,
                      header.key_fingerprint, len(seal_bytes)) + seal_bytes
    if total_size is not None:
        if len(out) > total_size:
            raise ValueError(f"ciphertext of {len(out)} bytes exceeds its padded size {total_size}")
        out += bytes(total_size - len(out))
    return out


def _header_fields(data: bytes) -> tuple[int, int, bytes, bytes, int]:
    """The header's fields, its magic bytes, format version and reserved bytes checked."""
    magic, version, level, reserved, width, phash, kfp, seal_len = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise MalformedCiphertext("not a tanji ciphertext (bad magic bytes)")
    if version != FORMAT_VERSION:
        raise MalformedCiphertext(f"ciphertext format version {version} is not supported "
                                  f"(this software reads version {FORMAT_VERSION})")
    if reserved != 0:
        raise MalformedCiphertext("reserved header bytes are not zero")
    return level, width, phash, kfp, seal_len


def ciphertext_level(head: bytes) -> int:
    """The level a ciphertext's header names, from its first HEADER_SIZE bytes alone (a sum picks the
    lowest level among its inputs before it loads any); the rest is checked when it is loaded."""
    if len(head) < HEADER_SIZE:
        raise MalformedCiphertext(f"{len(head)} bytes is too short to be a tanji ciphertext")
    return int(_header_fields(head)[0])


def unpack_ciphertext(data: bytes) -> tuple[CiphertextHeader, bytes]:
    """Header and SEAL bytes; checks the framing (the padded length is checked by the caller,
    which knows the preset)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedCiphertext(f"a ciphertext must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < HEADER_SIZE + len(SEAL_MAGIC):
        raise MalformedCiphertext(f"{len(data)} bytes is too short to be a tanji ciphertext")
    level, width, phash, kfp, seal_len = _header_fields(data)
    if seal_len > len(data) - HEADER_SIZE:
        raise MalformedCiphertext(f"header announces {seal_len} ciphertext bytes but only "
                                  f"{len(data) - HEADER_SIZE} follow (truncated)")
    seal = data[HEADER_SIZE:HEADER_SIZE + seal_len]
    if any(data[HEADER_SIZE + seal_len:]):
        raise MalformedCiphertext("the padding after the ciphertext is not zero")
    if seal[:2] != SEAL_MAGIC:
        raise MalformedCiphertext("the embedded SEAL ciphertext has no SEAL header")
    return CiphertextHeader(level, width, phash, kfp), seal


# --- protobuf wire format (only what TenSEAL's messages use) -------------------------------

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def parse_fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """Decode one protobuf message level into (field number, wire type, value) triples.

    Values: int for varint, bytes for length-delimited, raw 8/4 bytes for fixed64/fixed32.
    Raises ValueError on anything malformed (groups are not supported: TenSEAL uses none).
    """
    out: list[tuple[int, int, int | bytes]] = []
    buf = bytes(buf)   # slices are bytes whatever buffer came in (no copy for bytes)
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wtype = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        value: int | bytes
        if wtype == _VARINT:
            value, pos = _read_varint(buf, pos)
        elif wtype == _LEN:
            n, pos = _read_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("length-delimited field runs past the end")
            value, pos = buf[pos:pos + n], pos + n
        elif wtype == _I64:
            if pos + 8 > len(buf):
                raise ValueError("truncated fixed64")
            value, pos = buf[pos:pos + 8], pos + 8
        elif wtype == _I32:
            if pos + 4 > len(buf):
                raise ValueError("truncated fixed32")
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wtype}")
        out.append((field, wtype, value))
    return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | _LEN) + _varint(len(payload)) + payload


def ckks_vector_proto(width: int, seal_bytes: bytes, scale: float) -> bytes:
    """TenSEAL's CKKSVectorProto {sizes=[width], ciphertexts=[seal_bytes], scale}."""
    return (_len_field(1, _varint(width))
            + _len_field(2, seal_bytes)
            + _varint(3 << 3 | _I64) + struct.pack("<d", scale))


def seal_bytes_of_ckks_vector(proto: bytes) -> bytes:
    """The single SEAL ciphertext inside a CKKSVectorProto produced by TenSEAL itself."""
    cts = [v for f, w, v in parse_fields(proto) if f == 2 and w == _LEN and isinstance(v, bytes)]
    if len(cts) != 1:
        raise ValueError(f"expected one SEAL ciphertext in the TenSEAL vector, found {len(cts)}")
    return bytes(cts[0])


@dataclass(frozen=True)
class ContextParts:
    """The parts of a serialised TenSEALContextProto that we check before trusting it."""
    public_key: bytes
    has_secret_key: bool
    has_relin_keys: bool
    has_galois_keys: bool


def context_parts(proto: bytes) -> ContextParts:
    """Split a TenSEALContextProto (tenseal/proto/tensealcontext.proto) into its key parts."""
    public = b""
    has_sk = has_rk = has_gk = False
    for field, wtype, value in parse_fields(proto):
        if not isinstance(value, bytes):            # varints: no message parts
            continue
        if field == 2 and wtype == _LEN:            # TenSEALPublicProto public_context
            for f, w, v in parse_fields(value):
                if f == 1 and w == _LEN and isinstance(v, bytes):
                    public = bytes(v)
                elif f == 4 and w == _LEN and v:
                    has_rk = True
                elif f == 5 and w == _LEN and v:
                    has_gk = True
        elif field == 3 and wtype == _LEN:          # TenSEALPrivateProto private_context
            for f, w, v in parse_fields(value):
                if f == 1 and w == _LEN and v:
                    has_sk = True
    return ContextParts(public, has_sk, has_rk, has_gk)
