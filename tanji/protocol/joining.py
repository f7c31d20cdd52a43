"""A party's side of joining a federation: its own keys, its join request, and installing what the
registry sends back.

`init_party` makes the party's Ed25519 envelope key and TLS key in its own state folder (0600,
folder 0700) and writes `join-request.json` — organisation id, role, envelope public key and a
PKCS#10 request; nothing secret — for the operator's `tanji registry add`. `install` checks what
comes back (the list signed by the registry key the party pins as its trust anchor, its own entry
and key on it, a certificate for its own TLS key from the CA) before anything is copied in.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tanji.errors import DataError, TanjiError
from tanji.methodology.formats.base import ORG_ID_RE, RESERVED_ORG_IDS
from tanji.protocol.federation import ANCHOR_FILE, Federation, FederationFile, read_anchor, version_floor
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.pki import certificate_sha256, party_request
from tanji.protocol.signing import SigningKey

JOIN_SCHEMA = "tanji.join-request/1"
JOIN_FILE = "join-request.json"
KEY_FILE = "envelope-key.pem"
#: the roles a party joins as, and the list role each becomes
JOIN_ROLES = ("node", "key_holder", "coordinator")


class JoinRefused(TanjiError):
    exit_code = 2


def check_party_id(party: str, role: str, where: str) -> None:
    """The id grammar of FORMATS (organisation ids); the coordinator is `coordinator`, no node takes a
    reserved id."""
    if role not in JOIN_ROLES:
        raise DataError(where, "role", f"unknown role {role!r}; one of {', '.join(JOIN_ROLES)}")
    if not isinstance(party, str) or not ORG_ID_RE.fullmatch(party):
        raise DataError(where, "organisation", "not an organisation id (lowercase letters, digits, '.', '_', '-'; "
                                               "at most 63)")
    if role == "coordinator" and party != COORDINATOR_ID:
        raise DataError(where, "organisation", f"the coordinator's id is {COORDINATOR_ID!r}")
    if role == "node" and party in RESERVED_ORG_IDS:
        raise DataError(where, "organisation", f"{party!r} is reserved")


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except PermissionError:  # a mounted volume this process does not own keeps its mode
        pass
    return path


def tls_dir(state: Path) -> Path:
    return state / "tls"


def init_party(state: Path, party: str, role: str, hosts: list[str] | None = None) -> Path:
    """Create the party's keys (kept if they exist) and write STATE/join-request.json."""
    check_party_id(party, role, "--org")
    _private_dir(state)
    existing = state / JOIN_FILE
    if existing.exists():
        old = read_request(existing)
        if old.party != party:
            raise JoinRefused(f"{existing}: this state folder belongs to {old.party!r}, not {party!r}")
    key = SigningKey.load_or_create(state / KEY_FILE)
    csr = party_request(_private_dir(tls_dir(state)) / f"{party}.key", party, role,
                        (hosts or ["localhost", "127.0.0.1"]))
    doc = {"schema": JOIN_SCHEMA, "organisation": party, "role": role,
           "envelope_public_key": key.public_raw.hex(), "csr": csr.decode("ascii")}
    existing.write_text(json.dumps(doc, indent=2) + "\n")
    return existing


@dataclass(frozen=True)
class JoinRequest:
    party: str
    role: str
    public_key: bytes
    csr: bytes
    where: str


def read_request(path: Path) -> JoinRequest:
    """A join request, its fields checked (the CSR itself is checked where the certificate is issued)."""
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(where, "(document)", f"cannot read the join request: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != JOIN_SCHEMA:
        raise DataError(where, "schema", f"expected {JOIN_SCHEMA!r}")
    party, role = doc.get("organisation"), doc.get("role")
    if not isinstance(party, str) or not isinstance(role, str):
        raise DataError(where, "organisation" if not isinstance(party, str) else "role", "must be a string")
    check_party_id(party, role, where)
    try:
        key = bytes.fromhex(doc["envelope_public_key"])
    except (KeyError, TypeError, ValueError):
        raise DataError(where, "envelope_public_key", "must be 32 bytes in hex") from None
    if len(key) != 32:
        raise DataError(where, "envelope_public_key", "must be 32 bytes in hex")
    if not isinstance(doc.get("csr"), str):
        raise DataError(where, "csr", "must be a PEM certificate signing request")
    return JoinRequest(party, role, key, doc["csr"].encode("ascii", "replace"), where)


def _copy(src: Path, dst: Path) -> None:
    if src.resolve() != dst.resolve():
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


def install(state: Path, federation: Path, signature: Path, trust: Path | None = None,
            certificate: Path | None = None, ca: Path | None = None) -> Federation:
    """Install a (newer) signed list, and the party's certificate and the CA's when given, after checking
    them; the trust anchor is pinned at the first join and never replaced."""
    request = read_request(state / JOIN_FILE)
    party = request.party
    pinned = state / ANCHOR_FILE
    if trust is not None:
        anchor = read_anchor(trust)
        if pinned.exists() and read_anchor(pinned) != anchor:
            raise JoinRefused(f"{trust}: not the registry key this party trusts ({pinned}); a federation keeps "
                              "one registry key")
    elif not pinned.exists():
        raise JoinRefused(f"{pinned} is missing: give the registry's public key with --trust at the first join")
    staged = _private_dir(state / "incoming")
    try:
        for src, name in ((federation, "federation.json"), (signature, "federation.sig"),
                          (trust or pinned, ANCHOR_FILE)):
            shutil.copyfile(src, staged / name)
        fed = FederationFile(staged / "federation.json", staged / ANCHOR_FILE, None,
                             staged / "federation.sig").federation  # the signature
        floor = version_floor(state)
        if fed.version < floor:
            raise JoinRefused(f"{federation} is version {fed.version}, older than version {floor} this party "
                              "accepted before")
        listed = fed.parties.get(party)
        if listed is None:
            raise JoinRefused(f"{federation} does not list {party!r}")
        if listed.public_key != request.public_key:
            raise JoinRefused(f"{federation} lists another envelope key for {party!r} than {state / KEY_FILE}")
        tls = tls_dir(state)
        if certificate is not None:
            if ca is None and not (tls / "ca.crt").exists():
                raise JoinRefused("--ca is needed with the first certificate")
            _check_certificate(certificate, ca or tls / "ca.crt", tls / f"{party}.key", party, listed.certificate)
            _copy(ca or tls / "ca.crt", tls / "ca.crt")
            _copy(certificate, tls / f"{party}.crt")
        elif (tls / f"{party}.crt").exists() and listed.certificate and \
                certificate_sha256((tls / f"{party}.crt").read_bytes()) != listed.certificate:
            raise JoinRefused(f"{federation} pins another certificate for {party!r} than {tls / (party + '.crt')}: "
                              "install the new one with --certificate")
        for name in (ANCHOR_FILE, "federation.sig", "federation.json"):
            _copy(staged / name, state / name)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return FederationFile(state / "federation.json", state / ANCHOR_FILE, state).federation  # raises the floor


def _check_certificate(certificate: Path, ca: Path, key_path: Path, party: str, pin: str) -> None:
    try:
        pem = certificate.read_bytes()
        cert = x509.load_pem_x509_certificate(pem)
        ca_cert = x509.load_pem_x509_certificate(ca.read_bytes())
        own = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise JoinRefused(f"{certificate}: cannot read the certificate, the CA or this party's TLS key: {exc}") \
            from None
    try:
        cert.verify_directly_issued_by(ca_cert)
    except Exception:
        raise JoinRefused(f"{certificate} is not issued by the CA {ca}") from None
    raw = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, raw) != \
            own.public_key().public_bytes(serialization.Encoding.DER, raw):
        raise JoinRefused(f"{certificate} is not for this party's TLS key {key_path}")
    if pin and certificate_sha256(pem) != pin:
        raise JoinRefused(f"{certificate} is not the certificate the federation list pins for {party!r}")
