"""The federation's PKI for transport (mutual TLS): a CA, and one certificate per party.

Built on the `cryptography` x509 API. The certificate's common name is the party id, so the
coordinator maps a TLS client to the registered party it must be; the Ed25519 envelope key
(signatures on messages) stays separate from the TLS key (the channel).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tanji.errors import TanjiError

if TYPE_CHECKING:
    import grpc

ROLES = ("coordinator", "node", "key_holder", "factor_provider")  # factor_provider: reads its citation counts


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def init_ca(folder: Path, name: str = "tanji federation CA", years: int = 10) -> Path:
    """Create the CA key and self-signed certificate in `folder` (refuses to overwrite)."""
    cert_path = folder / "ca.crt"
    if cert_path.exists():
        raise TanjiError(f"{cert_path} exists: a federation has one CA")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write_private(folder / "ca.key", _pem_key(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def issue(folder: Path, party: str, role: str, out: Path, hosts: list[str] | None = None,
          days: int = 397) -> tuple[Path, Path]:
    """Issue `party`'s TLS key and certificate (CN = party id) signed by the CA in `folder`."""
    if role not in ROLES:
        raise TanjiError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    try:
        ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    except OSError as exc:
        raise TanjiError(f"{folder}: no CA here ({exc.strerror}); run `tanji pki init` first") from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TanjiError(f"{folder / 'ca.key'} is not a federation CA key (tanji pki init makes an EC key)")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(party)]
    for h in hosts or ["localhost", "127.0.0.1"]:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, party),
                                     x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    out.mkdir(parents=True, exist_ok=True)
    _write_private(out / f"{party}.key", _pem_key(key))
    (out / f"{party}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out / f"{party}.crt", out / f"{party}.key"


class TLSFiles:
    """A party's TLS material: the federation CA, its certificate and key (PEM files)."""

    def __init__(self, ca: Path, cert: Path, key: Path):
        try:
            self.ca, self.cert, self.key = ca.read_bytes(), cert.read_bytes(), key.read_bytes()
        except OSError as exc:
            raise TanjiError(f"cannot read TLS material: {exc}") from None

    def server_credentials(self) -> grpc.ServerCredentials:
        import grpc
        return grpc.ssl_server_credentials([(self.key, self.cert)], root_certificates=self.ca,
                                           require_client_auth=True)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        import grpc
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)
