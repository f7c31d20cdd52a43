"""The federation list: which parties exist, their roles, Ed25519 envelope keys and TLS certificates.

Every party loads the same list: the coordinator binds a registering organisation to its listed
key and a TLS client to its listed certificate, nodes accept a calculation key only when a listed
key holder signed it. The registry signs the list's exact bytes (`sign_list`); the list carries a
version the registry raises at every change. A daemon loads it through `FederationFile`, which
checks the signature against the party's trust anchor (the registry's public key, pinned when the
party joined) and refuses a list older than one it accepted before — on every load, so an edited,
foreign-signed or replayed list is refused by name and the last good one stays in force.
Transport identity is separate: certificates from the federation CA (tanji.protocol.pki)
authenticate channels, this list authenticates messages and pins each party's certificate.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tanji.errors import DataError, TanjiError
from tanji.protocol.signing import BadSignature, SigningKey, verify

log = logging.getLogger("tanji.federation")

ROLES = ("node", "key_holder", "auditor", "coordinator")
FEDERATION_SCHEMA = "tanji.federation/1"
#: domain tag of the registry's signature over the exact bytes of a federation list
FEDERATION_TAG = "tanji/v1/federation-list"
#: in a party's state folder: the registry key it trusts, and the highest list version it accepted
ANCHOR_FILE = "trust-anchor.pub"
VERSION_FILE = "federation-version"


class UntrustedFederation(TanjiError):
    """A federation list that the pinned registry key (the trust anchor) did not sign, or an older one."""
    exit_code = 2


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


def signature_path(federation_file: Path) -> Path:
    """Where a list's signature lies unless told: federation.json -> federation.sig."""
    return Path(federation_file).with_suffix(".sig")


@dataclass(frozen=True)
class ListedParty:
    id: str
    role: str
    public_key: bytes
    #: SHA-256 (hex) of the party's current TLS certificate (DER); "" when none is in force (revoked)
    certificate: str = ""


@dataclass(frozen=True)
class Federation:
    parties: dict[str, ListedParty]
    version: int = 0
    #: SHA-256 (hex) of every certificate the registry revoked or retired: never accepted on a channel
    revoked: frozenset[str] = frozenset()

    def key_holders(self) -> dict[str, bytes]:
        return {p.id: p.public_key for p in self.parties.values() if p.role == "key_holder"}

    def key_of(self, party: str) -> bytes | None:
        p = self.parties.get(party)
        return p.public_key if p else None

    def to_json(self) -> str:
        parties = []
        for p in self.parties.values():
            entry = {"id": p.id, "role": p.role, "public_key": p.public_key.hex()}
            if p.certificate:
                entry["certificate_sha256"] = p.certificate
            parties.append(entry)
        doc: dict[str, object] = {"schema": FEDERATION_SCHEMA, "version": self.version, "parties": parties}
        if self.revoked:
            doc["revoked_certificates"] = sorted(self.revoked)
        return json.dumps(doc, indent=2)

    def admits_certificate(self, party: str, sha256: str) -> str | None:
        """None if `party` may use the certificate with this SHA-256 on a channel, else why not."""
        listed = self.parties.get(party)
        if sha256 in self.revoked:
            if listed is None:
                return f"{party!r} is not on the federation list (version {self.version}): its certificate is revoked"
            return f"the certificate of {party!r} is revoked (federation list version {self.version})"
        if listed is None:
            return None  # never listed: each call refuses it by its own code (UNKNOWN_PARTY)
        if listed.certificate and listed.certificate != sha256:
            return f"the certificate of {party!r} is not the one the federation list pins (version {self.version})"
        return None

    @classmethod
    def load(cls, path: Path) -> Federation:
        """The list's content, unverified: for readers that check the signature elsewhere (a bundle's
        verifier) or need none (the registry's own copy). Daemons use FederationFile."""
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
        if not isinstance(doc, dict) or doc.get("schema") != FEDERATION_SCHEMA:
            raise DataError(str(path), "schema", f"expected {FEDERATION_SCHEMA!r}")
        version = doc.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise DataError(str(path), "version", "must be an integer ≥ 0")
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
            cert = p.get("certificate_sha256", "")
            if not isinstance(cert, str) or (cert and len(cert) != 64):
                raise DataError(str(path), f"parties[{i}].certificate_sha256", "must be a SHA-256 in hex")
            parties[p["id"]] = ListedParty(p["id"], p["role"], key, cert)
        revoked = doc.get("revoked_certificates", [])
        if not isinstance(revoked, list) or not all(isinstance(r, str) and len(r) == 64 for r in revoked):
            raise DataError(str(path), "revoked_certificates", "must be a list of SHA-256 in hex")
        return cls(parties, version, frozenset(revoked))


def version_floor(state: Path) -> int:
    """The highest list version the party in `state` accepted (0: none yet)."""
    path = Path(state) / VERSION_FILE
    if not path.exists():
        return 0
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        raise UntrustedFederation(f"{path}: not a federation list version") from None


class FederationFile:
    """A daemon's federation list: verified against the trust anchor and the version floor at every
    load. `current()` reloads when the file or its signature changed on disk; a list that fails is
    refused by name (UntrustedFederation at start-up, a logged error later) and the last good list
    stays in force."""

    def __init__(self, path: Path, anchor: Path, state: Path | None = None, signature: Path | None = None):
        self.path = Path(path)
        self.signature = Path(signature) if signature is not None else signature_path(self.path)
        self.anchor_file = Path(anchor)
        self.floor_file = Path(state) / VERSION_FILE if state is not None else None
        self._seen: tuple[tuple[int, int, int] | None, ...] | None = None
        self.federation = self._load()

    def _stamp(self) -> tuple[tuple[int, int, int] | None, ...]:
        stamps: list[tuple[int, int, int] | None] = []
        for p in (self.path, self.signature):
            try:
                st = p.stat()
                stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def _load(self) -> Federation:
        stamp = self._stamp()
        if not self.anchor_file.exists():
            raise UntrustedFederation(f"{self.anchor_file}: no trust anchor, so {self.path} cannot be verified; "
                                      "install the registry's anchor.pub with `join --trust` (or give --trust)")
        anchor = read_anchor(self.anchor_file)
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise UntrustedFederation(f"{self.path}: cannot read the federation list ({exc.strerror})") from None
        try:
            sig = self.signature.read_bytes()
        except OSError:
            raise UntrustedFederation(f"{self.path} is unsigned: no signature at {self.signature}") from None
        check_list(data, sig, anchor, f"{self.path} (signature {self.signature})")
        federation = Federation.parse(data, str(self.path))
        floor = version_floor(self.floor_file.parent) if self.floor_file is not None else 0
        if federation.version < floor:
            raise UntrustedFederation(f"{self.path} is version {federation.version}, older than version {floor} "
                                      f"this party accepted before ({self.floor_file}): a replayed list")
        if self.floor_file is not None and federation.version > floor:
            tmp = self.floor_file.with_name(self.floor_file.name + ".tmp")
            tmp.write_text(f"{federation.version}\n")
            os.replace(tmp, self.floor_file)
        self._seen = stamp
        return federation

    def current(self) -> Federation:
        """The list in force: reloaded (and verified) if its files changed since the last load."""
        if self._stamp() != self._seen:
            try:
                before = self.federation.version
                self.federation = self._load()
                if self.federation.version != before:
                    log.warning("federation list version %d in force (%s)", self.federation.version, self.path)
            except (TanjiError, DataError) as exc:
                self._seen = self._stamp()  # said once per change, not on every call
                log.error("refusing the federation list: %s; version %d stays in force", exc,
                          self.federation.version)
        return self.federation
