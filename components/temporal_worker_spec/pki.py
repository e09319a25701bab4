"""Checks of the mTLS material, shared by the Pulumi program (PEM from config) and the worker
(PEM from mounted files), so both refuse the same things with the same words.

Each check raises `ValueError` whose message is a reason phrase ("expired on ...") that callers
prefix with the setting's name; no message ever quotes the PEM. `cryptography` is imported on
first use only, so importing this module stays cheap for a worker without TLS files.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

EXPIRY_WARNING_DAYS = 30
"""A certificate that expires within this many days deploys, with a warning."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _certificates(pem: str, what: str) -> list[x509.Certificate]:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ValueError(f"is not a PEM-encoded X.509 {what}") from None
    except x509.InvalidVersion:
        raise ValueError("has an unknown X.509 version; only v3 certificates work") from None
    subject = "holds a certificate that" if len(certs) > 1 else "is a certificate that"
    for cert in certs:
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
    """A client certificate, optionally followed by its intermediates; returns `pem`."""
    _certificates(pem, "certificate")
    return pem


def check_ca_bundle(pem: str) -> str:
    """One or more CA certificates the worker trusts for the server; returns `pem`."""
    _certificates(pem, "certificate bundle")
    return pem


def check_private_key(pem: str) -> str:
    """An unencrypted PEM private key; returns `pem`."""
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise ValueError("is encrypted; provide an unencrypted PEM private key") from None
    except ValueError:
        raise ValueError("is not a PEM-encoded private key") from None
    except Exception:  # noqa: BLE001 - UnsupportedAlgorithm and friends; they may echo bytes
        raise ValueError("holds a private key of an unsupported type") from None
    return pem


def check_pair(cert_pem: str, key_pem: str) -> None:
    """The key belongs to the first (leaf) certificate; ValueError for the key otherwise."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    leaf = x509.load_pem_x509_certificates(cert_pem.encode())[0]
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise ValueError("does not match the public key of the client certificate")
