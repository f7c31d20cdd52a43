"""The federation list: which parties exist, their roles and Ed25519 envelope keys.

Every party loads the same list: the coordinator binds a registering
organisation to its listed key, nodes accept a calculation key only when a
listed key holder signed it. The registry signs the list's exact bytes
(`sign_list`); a verifier holding the registry's public key as its trust anchor
(`read_anchor`) accepts a bundle's list only with that signature (`check_list`).
Transport identity is separate: TLS certificates from the federation CA
(tanji.protocol.pki) authenticate channels, this list authenticates messages.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tanji.errors import DataError, TanjiError
from tanji.protocol.signing import BadSignature, SigningKey, verify

ROLES = ("node", "key_holder", "auditor", "coordinator")
FEDERATION_SCHEMA = "tanji.federation/1"
#: domain tag of the registry's signature over the exact bytes of a federation list
FEDERATION_TAG = "tanji/v1/federation-list"


class UntrustedFederation(TanjiError):
    """A federation list that the pinned registry key (the trust anchor) did not sign."""


def sign_list(data: bytes, registry: SigningKey) -> bytes:
    return registry.sign(FEDERATION_TAG, data)


def check_list(data: bytes, signature: bytes, anchor: bytes, where: str = "federation list") -> None:
    try:
        verify(anchor, FEDERATION_TAG, data, signature)
    except BadSignature:
        raise UntrustedFederation(f"{where} is not signed by the trust anchor's registry key") from None


def read_anchor(path: Path) -> bytes:
    """A trust anchor file: the registry's Ed25519 public key in hex."""
    try:
        raw = bytes.fromhex(Path(path).read_text(encoding="utf-8").strip())
    except (OSError, ValueError) as exc:
        raise DataError(str(path), "(document)", f"not a trust anchor (hex Ed25519 public key): {exc}") from None
    if len(raw) != 32:
        raise DataError(str(path), "(document)", "a trust anchor is a 32-byte Ed25519 public key in hex")
    return raw


@dataclass(frozen=True)
class ListedParty:
    id: str
    role: str
    public_key: bytes


@dataclass(frozen=True)
class Federation:
    parties: dict[str, ListedParty]

    def key_holders(self) -> dict[str, bytes]:
        return {p.id: p.public_key for p in self.parties.values() if p.role == "key_holder"}

    def key_of(self, party: str) -> bytes | None:
        p = self.parties.get(party)
        return p.public_key if p else None

    def to_json(self) -> str:
        return json.dumps({"schema": FEDERATION_SCHEMA, "parties": [
            {"id": p.id, "role": p.role, "public_key": p.public_key.hex()} for p in self.parties.values()]}, indent=2)

    @classmethod
    def load(cls, path: Path) -> Federation:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise DataError(str(path), "(document)", f"cannot read the federation list: {exc}") from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: bytes, path: str = "federation list") -> Federation:
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise DataError(str(path), "(document)", f"cannot read the federation list: {exc}") from None
        if doc.get("schema") != FEDERATION_SCHEMA:
            raise DataError(str(path), "schema", f"expected {FEDERATION_SCHEMA!r}")
        parties = {}
        for i, p in enumerate(doc.get("parties", [])):
            if p.get("role") not in ROLES:
                raise DataError(str(path), f"parties[{i}].role", f"unknown role {p.get('role')!r}")
            try:
                key = bytes.fromhex(p["public_key"])
            except (KeyError, ValueError):
                raise DataError(str(path), f"parties[{i}].public_key", "must be 32 bytes in hex") from None
            if len(key) != 32:
                raise DataError(str(path), f"parties[{i}].public_key", "must be 32 bytes in hex")
            parties[p["id"]] = ListedParty(p["id"], p["role"], key)
        return cls(parties)
