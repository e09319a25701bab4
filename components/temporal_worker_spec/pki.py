"""Checks of the mTLS material, shared by the Pulumi program (PEM from config) and the worker
(PEM from mounted files), so both refuse the same things with the same words.

Each check raises `ValueError` whose message is a reason phrase ("expired on ...") that callers
prefix with the setting's name; no message ever quotes the PEM. `cryptography` is imported on
first use only, so importing this module stays cheap for a worker without TLS files.

What the Temporal SDK's TLS stack (rustls) accepts was measured through a real mTLS endpoint:
RSA of 2048 bits or more, ECDSA on P-256 or P-384 and Ed25519 keys work; RSA-1024, P-521,
secp256k1, Ed448 and DSA keys fail with "failed to parse private key", and a client certificate
whose extendedKeyUsage lacks clientAuth is refused by the server.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

EXPIRY_WARNING_DAYS = 30
"""A certificate that expires within this many days deploys, with a warning."""
MIN_RSA_BITS = 2048
USABLE_KEYS = "RSA of 2048 bits or more, ECDSA P-256 or P-384, or Ed25519"
PRIVATE_KEY_MARKER = "PRIVATE KEY-----"
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,64})-----.*?-----END \1-----", re.ASCII | re.DOTALL)


def pem_blocks(text: str) -> str:
    """Only the PEM blocks of `text`, one after another with newline line ends; "" if none.

    The one rule for what surrounds them, on every side (a Pulumi config value, a mounted file):
    it is ignored, as OpenSSL ignores it. That covers a UTF-8 byte order mark some editors
    write, and the `subject=CN = Jürgen` lines `openssl x509 -text` or `-showcerts` put before
    a certificate. What is inside a block is checked as it is.
    """
    blocks = [match[0].replace("\r\n", "\n") for match in _PEM_BLOCK.finditer(text)]
    return "".join(f"{block}\n" for block in blocks)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _key_problem(key: Any) -> str | None:
    """Why rustls cannot use this (public or private) key, or None when it can."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size < MIN_RSA_BITS:
            return f"is an RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are needed"
        return None
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if key.curve.name in ("secp256r1", "secp384r1"):
            return None
        return f"is an ECDSA key on curve {key.curve.name}"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return None
    kind = type(key).__name__.lstrip("_").replace("PrivateKey", "").replace("PublicKey", "")
    return f"is a {kind} key"


def _unusable(problem: str) -> ValueError:
    return ValueError(f"{problem}, which the Temporal SDK's TLS stack cannot use; use "
                      f"{USABLE_KEYS}")


def _certificates(pem: str, what: str) -> list[x509.Certificate]:
    """Every certificate in `pem`, each checked for version and validity."""
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ValueError(f"is not a PEM-encoded X.509 {what}") from None
    except x509.InvalidVersion:
        raise ValueError("has an unknown X.509 version; only v3 certificates work") from None
    for index, cert in enumerate(certs, start=1):
        subject = (f"holds a certificate ({_name(cert)}, {index} of {len(certs)}) that"
                   if len(certs) > 1 else "is a certificate that")
        if cert.version is not x509.Version.v3:
            raise ValueError(f"{'holds' if len(certs) > 1 else 'is'} an X.509 "
                             f"{cert.version.name} certificate; rustls in the Temporal SDK "
                             "accepts only v3")
        if cert.not_valid_before_utc > _now():
            raise ValueError(f"{subject} is not valid before "
                             f"{cert.not_valid_before_utc.isoformat()}")
        if cert.not_valid_after_utc <= _now():
            raise ValueError(f"{subject} expired on {cert.not_valid_after_utc.isoformat()}")
    return certs


def _name(cert: x509.Certificate) -> str:
    """The certificate's subject, as `CN=...` (certificates are public; keys never shown)."""
    return cert.subject.rfc4514_string() or "no subject"


def expiry_warnings(pem: str) -> list[str]:
    """Reasons to rotate soon: one per certificate that expires within EXPIRY_WARNING_DAYS."""
    from cryptography import x509

    warnings = []
    for cert in x509.load_pem_x509_certificates(pem.encode()):
        if cert.not_valid_after_utc - _now() <= datetime.timedelta(days=EXPIRY_WARNING_DAYS):
            warnings.append(f"expires on {cert.not_valid_after_utc.isoformat()}, within "
                            f"{EXPIRY_WARNING_DAYS} days; rotate it soon")
    return warnings


def check_client_certificate(pem: str) -> str:
    """The client certificate first, then its intermediates in order; returns `pem`."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.x509.oid import ExtendedKeyUsageOID

    certs = _certificates(pem, "certificate")
    for index, (cert, issuer) in enumerate(zip(certs, certs[1:]), start=1):
        if cert.issuer != issuer.subject:
            raise ValueError(f"is not in order: certificate {index} ({_name(cert)}) is not issued "
                             f"by certificate {index + 1} ({_name(issuer)}); put the client "
                             "certificate first, then each issuer")
    leaf = certs[0]
    try:
        problem = _key_problem(leaf.public_key())
    except UnsupportedAlgorithm:
        problem = "has a public key of an algorithm cryptography cannot read"
    if problem:
        raise _unusable(problem)
    try:
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return pem  # no extendedKeyUsage: any use is allowed
    if not {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(
            usage):
        raise ValueError("is not for client authentication: its extendedKeyUsage lacks "
                         "clientAuth, so the server will refuse it")
    return pem


def check_ca_bundle(pem: str) -> str:
    """One or more CA certificates the worker trusts for the server; returns `pem`."""
    if PRIVATE_KEY_MARKER in pem:
        raise ValueError("contains a private key; this setting is not secret and is stored in "
                         "plain text, so remove the key (and treat it as leaked)")
    _certificates(pem, "certificate bundle")
    return pem


def check_private_key(pem: str) -> str:
    """An unencrypted PEM private key of a type rustls can use; returns `pem`."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise ValueError("is encrypted; provide an unencrypted PEM private key") from None
    except UnsupportedAlgorithm as err:
        oid = re.search(r"[0-9]+(?:\.[0-9]+)+", str(err))
        algorithm = f" ({oid[0]})" if oid else ""
        raise _unusable(f"holds a key of an unknown algorithm{algorithm}") from None
    except Exception:  # noqa: BLE001 - ValueError and other parser errors may echo bytes
        raise ValueError("is not a PEM-encoded private key") from None
    problem = _key_problem(key)
    if problem:
        raise _unusable(problem)
    return pem


def check_pair(cert_pem: str, key_pem: str) -> None:
    """The key belongs to the first (client) certificate; ValueError for the key otherwise."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    certs = x509.load_pem_x509_certificates(cert_pem.encode())
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    public = key.public_key().public_bytes(*spki)
    for index, cert in enumerate(certs, start=1):
        try:
            matches = cert.public_key().public_bytes(*spki) == public
        except Exception:  # noqa: BLE001 - a certificate key cryptography cannot read
            matches = False
        if matches and index == 1:
            return
        if matches:
            raise ValueError(f"belongs to certificate {index} of the chain ({_name(cert)}), not "
                             "to the first: the client certificate must come first")
    raise ValueError("does not match the public key of the client certificate")
