"""Test PKI made at run time with `cryptography`: CAs, server and client certs, bad certs.

Nothing here is committed; files are written to a directory the caller owns (a tmp dir).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_NOW = datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, written as PEM files."""

    cert_path: Path
    key_path: Path
    cert: x509.Certificate


@dataclass(frozen=True)
class CA:
    """A self-signed CA that can issue certificates."""

    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    cert_path: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


class CertFactory:
    """Makes CAs and leaf certificates under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def ca(self, name: str = "test-ca", *, issuer: CA | None = None,
           not_after: datetime.datetime | None = None) -> CA:
        """A self-signed CA, or an intermediate CA signed by `issuer`."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(_name(name)).issuer_name(issuer.cert.subject if issuer else
                                                       _name(name))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(_NOW - datetime.timedelta(days=10))
                .not_valid_after(not_after or _NOW + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                             False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(issuer.key if issuer else key, hashes.SHA256()))
        path = _write(self.directory / f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM))
        return CA(name, key, cert, path)

    def issue(self, ca: CA, name: str, *, server: bool = False,
              not_before: datetime.datetime | None = None,
              not_after: datetime.datetime | None = None, v1: bool = False,
              key=None, usage: list | None = None,
              key_format=serialization.PrivateFormat.PKCS8) -> Issued:
        """A leaf cert for a client (default) or a server (SAN 127.0.0.1 and localhost).

        `key` (default: a new P-256 key) may be any key cryptography can sign for; `usage`
        replaces the extendedKeyUsage OIDs ([] leaves the extension out); `key_format` is how
        the key file is written (PKCS8, TraditionalOpenSSL for PKCS#1/SEC1).
        """
        key = key or ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder()
                   .subject_name(_name(name)).issuer_name(ca.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before or _NOW - datetime.timedelta(hours=1))
                   .not_valid_after(not_after or _NOW + datetime.timedelta(days=7)))
        if not v1:
            if usage is None:
                usage = [ExtendedKeyUsageOID.SERVER_AUTH if server
                         else ExtendedKeyUsageOID.CLIENT_AUTH]
            builder = (builder
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                      critical=True)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                           ca.key.public_key()), critical=False))
            if usage:
                builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            if server:
                builder = builder.add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(ca.key, hashes.SHA256())
        der = _as_v1(cert, ca.key) if v1 else cert.public_bytes(serialization.Encoding.DER)
        cert = x509.load_der_x509_certificate(der)
        cert_path = _write(self.directory / f"{name}.crt",
                           cert.public_bytes(serialization.Encoding.PEM))
        key_path = _write(self.directory / f"{name}.key", key.private_bytes(
            serialization.Encoding.PEM, key_format, serialization.NoEncryption()))
        return Issued(cert_path, key_path, cert)

    def expired(self, ca: CA, name: str = "expired-client") -> Issued:
        return self.issue(ca, name, not_before=_NOW - datetime.timedelta(days=10),
                          not_after=_NOW - datetime.timedelta(days=1))

    def not_yet_valid(self, ca: CA, name: str = "future-client") -> Issued:
        return self.issue(ca, name, not_before=_NOW + datetime.timedelta(days=1),
                          not_after=_NOW + datetime.timedelta(days=10))


# --- X.509 v1: cryptography only builds v3, so drop the version field and re-sign ------------

def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `pos`."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, pos, pos + length


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _as_v1(cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> bytes:
    tbs = cert.tbs_certificate_bytes
    _, start, end = _tlv(tbs, 0)
    tag, _, version_end = _tlv(tbs, start)
    assert tag == 0xA0, "expected an explicit version field"
    v1_tbs = _der(0x30, tbs[version_end:end])
    signature = ca_key.sign(v1_tbs, ec.ECDSA(hashes.SHA256()))
    outer = cert.public_bytes(serialization.Encoding.DER)
    _, ostart, _ = _tlv(outer, 0)
    _, _, tbs_end = _tlv(outer, ostart)
    _, _, alg_end = _tlv(outer, tbs_end)
    algorithm = outer[tbs_end:alg_end]
    return _der(0x30, v1_tbs + algorithm + _der(0x03, b"\x00" + signature))
