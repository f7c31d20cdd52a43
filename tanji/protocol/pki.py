"""The federation's PKI for transport (mutual TLS): a CA, and one certificate per party.

Built on the `cryptography` x509 API. The certificate's common name is the party id, so the
coordinator maps a TLS client to the registered party it must be; the Ed25519 envelope key
(signatures on messages) stays separate from the TLS key (the channel). A party makes its own TLS
key and a PKCS#10 request (`party_request`); the registry issues from the request
(`issue_from_request`) and never sees the key. The CA key may be kept encrypted (`password`).
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


def _pem_key(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def certificate_sha256(pem: bytes) -> str:
    """The pin the federation list records for a certificate: SHA-256 of its DER, in hex."""
    cert = x509.load_pem_x509_certificate(pem)
    return cert.fingerprint(hashes.SHA256()).hex()


def _san(party: str, hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.DNSName(party)]
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def party_request(key_path: Path, party: str, role: str, hosts: list[str] | None = None) -> bytes:
    """The party's TLS key (created 0600 at `key_path`, never leaving it) and its PKCS#10 request (PEM)."""
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TanjiError(f"{key_path}: not a TLS key made by tanji (EC P-256)")
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        _write_private(key_path, _pem_key(key))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, party),
                                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role)]))
           .add_extension(_san(party, hosts or ["localhost", "127.0.0.1"]), critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def load_ca(folder: Path, password: bytes | None = None) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=password)
        ca_cert = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    except OSError as exc:
        raise TanjiError(f"{folder}: no CA here ({exc.strerror}); run `tanji registry init` first") from None
    except (TypeError, ValueError) as exc:
        raise TanjiError(f"{folder / 'ca.key'}: cannot open the CA key ({exc}); wrong or missing passphrase?") from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TanjiError(f"{folder / 'ca.key'} is not a federation CA key (tanji makes an EC key)")
    return ca_key, ca_cert


def issue_from_request(folder: Path, csr_pem: bytes, party: str, role: str, where: str,
                       password: bytes | None = None, days: int = 397) -> bytes:
    """Check a PKCS#10 request (its signature, an EC P-256 key, CN = `party`) and issue its certificate
    (CN = party id, OU = role, the requested host names) signed by the CA in `folder`; PEM."""
    if role not in ROLES:
        raise TanjiError(f"{where}: role: unknown role {role!r}; one of {', '.join(ROLES)}")
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise TanjiError(f"{where}: csr: not a PKCS#10 request ({exc})") from None
    if not csr.is_signature_valid:
        raise TanjiError(f"{where}: csr: its signature does not verify under its own key")
    pub = csr.public_key()
    if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
        raise TanjiError(f"{where}: csr: the key must be EC P-256")
    cns = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if cns != [party]:
        raise TanjiError(f"{where}: csr: its common name is {cns!r}, not the organisation {party!r}")
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        hosts = [str(n.value) for n in san if isinstance(n, (x509.DNSName, x509.IPAddress)) and str(n.value) != party]
    except x509.ExtensionNotFound:
        hosts = []
    ca_key, ca_cert = load_ca(folder, password)
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, party),
                                     x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role)]))
            .issuer_name(ca_cert.subject).public_key(pub).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_san(party, hosts), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def write_crl(folder: Path, revoked_pems: list[bytes], password: bytes | None = None, days: int = 7) -> Path:
    """The CA's certificate revocation list (folder/crl.pem) of the given certificates, for TLS
    terminators and tools outside tanji; tanji's own daemons enforce the list's certificate pins."""
    ca_key, ca_cert = load_ca(folder, password)
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(now).next_update(now + dt.timedelta(days=days)))
    for pem in revoked_pems:
        cert = x509.load_pem_x509_certificate(pem)
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(now).build())
    path = folder / "crl.pem"
    path.write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


def init_ca(folder: Path, name: str = "tanji federation CA", years: int = 10, password: bytes | None = None) -> Path:
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
    _write_private(folder / "ca.key", _pem_key(key, password))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def issue(folder: Path, party: str, role: str, out: Path, hosts: list[str] | None = None,
          days: int = 397) -> tuple[Path, Path]:
    """Issue `party`'s TLS key and certificate (CN = party id) signed by the CA in `folder`."""
    if role not in ROLES:
        raise TanjiError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    ca_key, ca_cert = load_ca(folder)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, party),
                                     x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_san(party, hosts or ["localhost", "127.0.0.1"]), critical=False)
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
