"""Ed25519 envelope signatures over exact bytes with a domain tag (via `cryptography`/OpenSSL).

The signed message is UTF-8(tag) || 0x00 || body: the tag names the message
type, so a signature over one type can never be replayed as another, and the
0x00 keeps tags prefix-free.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tanji.errors import TanjiError


class BadSignature(TanjiError):
    """A signature does not verify under the sender's registered key."""


def signed_bytes(tag: str, body: bytes) -> bytes:
    return tag.encode("utf-8") + b"\x00" + body


def key_id(public_raw: bytes) -> str:
    """Short, stable name of a public key: first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


class SigningKey:
    """A party's Ed25519 envelope key; the private half never leaves its state folder."""

    def __init__(self, private: Ed25519PrivateKey):
        self._private = private

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Load a PEM key, or create one readable by its owner only."""
        if path.exists():
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise TanjiError(f"{path}: not an Ed25519 private key")
            return cls(private)
        key = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return key

    @property
    def public_raw(self) -> bytes:
        return self._private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, tag: str, body: bytes) -> bytes:
        return self._private.sign(signed_bytes(tag, body))


def verify(public_raw: bytes, tag: str, body: bytes, signature: bytes) -> None:
    """Raise BadSignature unless `signature` is `public_raw`'s over (tag, body)."""
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, signed_bytes(tag, body))
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature(f"signature does not verify for message type {tag!r} "
                           f"under key {key_id(public_raw)}") from exc
