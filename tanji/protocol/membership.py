"""The operator's registry: the list-signing key, the federation CA, and the versioned federation list.

`RegistryDir` is the registry folder: `registry-key.pem` (Ed25519, signs the list; optionally
encrypted), `anchor.pub` (its public key: every party's trust anchor), the CA (`ca.key`, `ca.crt`),
`federation.json` + `federation.sig` (the signed list), `issued/ORG/ORG.crt` (what each party gets
back) and `crl.pem`. Every change raises the list's version and re-signs it. The registry reads
join requests only: never a party's private key or data (docs/decisions/0013).
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tanji.errors import TanjiError
from tanji.protocol.federation import Federation, ListedParty, sign_list
from tanji.protocol.joining import JoinRequest, read_request
from tanji.protocol.pki import certificate_sha256, init_ca, issue_from_request, write_crl
from tanji.protocol.signing import SigningKey

REGISTRY_KEY = "registry-key.pem"
ROLE_ON_LIST = {"node": "node", "key_holder": "key_holder", "coordinator": "coordinator"}


class RegistryRefused(TanjiError):
    exit_code = 2


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RegistryDir:
    def __init__(self, folder: Path, passphrase: bytes | None = None):
        self.folder = Path(folder)
        self.passphrase = passphrase or None

    # ------------------------------------------------------------------ files
    @property
    def list_file(self) -> Path:
        return self.folder / "federation.json"

    @property
    def signature_file(self) -> Path:
        return self.folder / "federation.sig"

    @property
    def anchor_file(self) -> Path:
        return self.folder / "anchor.pub"

    def issued(self, party: str) -> Path:
        return self.folder / "issued" / party / f"{party}.crt"

    # ------------------------------------------------------------------ keys
    @classmethod
    def init(cls, folder: Path, passphrase: bytes | None = None) -> RegistryDir:
        """A new registry: list-signing key, CA, and an empty list (version 1), signed."""
        folder = Path(folder)
        if (folder / REGISTRY_KEY).exists():
            raise RegistryRefused(f"{folder / REGISTRY_KEY} exists: a federation has one registry")
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        key = Ed25519PrivateKey.generate()
        encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                      else serialization.NoEncryption())
        _write(folder / REGISTRY_KEY, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        encryption), 0o600)
        reg = cls(folder, passphrase)
        init_ca(folder, password=passphrase)
        (folder / "issued").mkdir(exist_ok=True)
        reg.anchor_file.write_text(SigningKey(key).public_raw.hex() + "\n")
        reg._publish(Federation({}, 0), [])
        return reg

    def _key(self) -> SigningKey:
        path = self.folder / REGISTRY_KEY
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=self.passphrase)
        except OSError as exc:
            raise RegistryRefused(f"{path}: no registry here ({exc.strerror}); run `tanji registry init`") from None
        except (TypeError, ValueError):
            raise RegistryRefused(f"{path}: cannot open the registry key: wrong or missing passphrase "
                                  "(--passphrase-file or TANJI_REGISTRY_PASSPHRASE)") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise RegistryRefused(f"{path}: not an Ed25519 registry key")
        return SigningKey(private)

    def federation(self) -> Federation:
        return Federation.load(self.list_file)

    def _revoked(self) -> list[bytes]:
        folder = self.folder / "revoked"
        return [p.read_bytes() for p in sorted(folder.glob("*.crt"))] if folder.exists() else []

    def _publish(self, fed: Federation, revoked: list[bytes]) -> Federation:
        """Raise the version, write and sign the list, rewrite the CRL."""
        key = self._key()
        fed = replace(fed, version=fed.version + 1)
        data = (fed.to_json() + "\n").encode()
        _write(self.list_file, data)
        _write(self.signature_file, sign_list(data, key))
        write_crl(self.folder, revoked, self.passphrase)
        return fed

    def _retire(self, party: str) -> str | None:
        """Move the party's certificate to revoked/ (the CRL's source); its SHA-256, if it had one."""
        cert = self.issued(party)
        if not cert.exists():
            return None
        folder = self.folder / "revoked"
        folder.mkdir(exist_ok=True)
        n = len(list(folder.glob("*.crt")))
        os.replace(cert, folder / f"{n:04d}-{party}.crt")
        return certificate_sha256((folder / f"{n:04d}-{party}.crt").read_bytes())

    def _without(self, fed: Federation, party: str) -> frozenset[str]:
        retired = self._retire(party)
        return fed.revoked | {retired} if retired else fed.revoked

    # ------------------------------------------------------------------ changes
    def add(self, request_file: Path) -> tuple[JoinRequest, Federation]:
        """Check a join request, issue its certificate, list the party, re-sign. A listed party may
        send a request again with its listed key (a new certificate after a revocation or rotation)."""
        req = read_request(request_file)
        fed = self.federation()
        listed = fed.parties.get(req.party)
        if listed is not None and listed.public_key != req.public_key:
            raise RegistryRefused(f"{request_file}: organisation: {req.party!r} is already listed with another "
                                  f"envelope key; `tanji registry remove {req.party}` first")
        if listed is not None and listed.role != ROLE_ON_LIST[req.role]:
            raise RegistryRefused(f"{request_file}: role: {req.party!r} is listed as {listed.role}")
        others = [p.id for p in fed.parties.values() if p.public_key == req.public_key and p.id != req.party]
        if others:
            raise RegistryRefused(f"{request_file}: envelope_public_key: already listed for {others[0]!r}")
        try:
            pem = issue_from_request(self.folder, req.csr, req.party, req.role, str(request_file), self.passphrase)
        except RegistryRefused:
            raise
        except TanjiError as exc:
            raise RegistryRefused(str(exc)) from None
        revoked = self._without(fed, req.party)
        out = self.issued(req.party)
        out.parent.mkdir(parents=True, exist_ok=True)
        _write(out, pem)
        _write(out.parent / "ca.crt", (self.folder / "ca.crt").read_bytes())
        parties = dict(fed.parties)
        parties[req.party] = ListedParty(req.party, ROLE_ON_LIST[req.role], req.public_key, certificate_sha256(pem))
        return req, self._publish(Federation(parties, fed.version, revoked), self._revoked())

    def remove(self, party: str) -> Federation:
        """Take the party off the list; its certificate goes on the CRL."""
        fed = self.federation()
        if party not in fed.parties:
            raise RegistryRefused(f"{self.list_file}: {party!r} is not listed")
        revoked = self._without(fed, party)
        parties = {k: v for k, v in fed.parties.items() if k != party}
        return self._publish(Federation(parties, fed.version, revoked), self._revoked())

    def revoke(self, party: str) -> Federation:
        """Revoke the party's certificate: it stays listed (its envelope key still verifies what it signed),
        the certificate's SHA-256 goes on the list's revoked certificates and the CRL; the coordinator
        refuses that channel until `registry add` issues a new certificate."""
        fed = self.federation()
        listed = fed.parties.get(party)
        if listed is None:
            raise RegistryRefused(f"{self.list_file}: {party!r} is not listed")
        if not listed.certificate:
            raise RegistryRefused(f"{self.list_file}: {party!r} has no certificate in force")
        revoked = self._without(fed, party)
        parties = dict(fed.parties)
        parties[party] = replace(listed, certificate="")
        return self._publish(Federation(parties, fed.version, revoked), self._revoked())
