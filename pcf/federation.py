"""The federation list: which parties exist, their roles and Ed25519 envelope keys.

Every party loads the same list: the coordinator binds a registering
organisation to its listed key, nodes accept a calculation key only when a
listed key holder signed it. (Issue-5 PKI replaces the file with certificates
issued by the federation CA; the list stays the registry.)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pcf.errors import DataError

ROLES = ("node", "key_holder", "auditor", "coordinator")
FEDERATION_SCHEMA = "tanji.federation/1"


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
    def load(cls, path: Path) -> "Federation":
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
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
