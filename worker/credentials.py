"""The credentials a client connects with, where each comes from, and the spec's checks on them.

A credential comes from a file (a mounted Secret: reread when it changes, see
`worker.rotation`) or from a value set once (an env var, a config file's inline data). Every
set is checked with the settings spec's own rules (`temporal_worker_spec`): the PEM kinds and
the cert/key pair rule for TLS material, the token kind for an API key. A refusal names the
source (the variable, or the config file and its key) and never the content.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import temporal_worker_spec as spec
import temporal_worker_spec.settings as names
from temporal_worker_spec.resolve import read_file, read_text


class CredentialError(ValueError):
    """A credential that cannot be used: one line naming its source, safe to print."""


@dataclass(frozen=True)
class Source:
    """Where one credential comes from: a file (`path`) or a value given once (`data`)."""

    label: str
    """How messages name it: `TEMPORAL_TLS_CLIENT_CERT_PATH`, or a config file's key."""
    path: str | None = None
    data: str | None = field(default=None, repr=False)

    def text(self) -> str:
        if self.path is None:
            return self.data or ""
        try:
            return read_text(self.path)
        except ValueError as err:
            raise CredentialError(f"{self.label}: {err}") from None


@dataclass(frozen=True)
class Material:
    """One checked set of credentials (PEM text as the spec returns it: its blocks only)."""

    client_cert: str | None = field(default=None, repr=False)
    client_key: str | None = field(default=None, repr=False)
    server_ca: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)

    @property
    def tls_material(self) -> tuple[str | None, str | None, str | None]:
        """What a TLS connection is made with; a change needs a new client."""
        return self.client_cert, self.client_key, self.server_ca

    def cert_expiry(self) -> float | None:
        """When the client certificate expires, in seconds since the epoch (None: no cert)."""
        if not self.client_cert:
            return None
        from cryptography import x509

        leaf = x509.load_pem_x509_certificates(self.client_cert.encode())[0]
        return leaf.not_valid_after_utc.timestamp()

    def cert_expiry_text(self) -> str:
        expiry = self.cert_expiry()
        if expiry is None:
            return "no client certificate"
        when = datetime.datetime.fromtimestamp(expiry, datetime.timezone.utc)
        return f"client certificate valid until {when.isoformat()}"


_CHECKED_AS = {"client_cert": "tlsCert", "client_key": "tlsKey", "server_ca": "tlsServerCa",
               "api_key": "temporalApiKey"}


@dataclass(frozen=True)
class Credentials:
    """Where every credential of the connection comes from, and the TLS options around them."""

    client_cert: Source | None = None
    client_key: Source | None = None
    server_ca: Source | None = None
    api_key: Source | None = None
    tls: bool = False
    """Whether the connection uses TLS at all."""
    server_name: str | None = None

    @property
    def files(self) -> dict[str, tuple[str, ...]]:
        """The files to watch, by credential kind: `tls` (cert, key, CA) and `api_key`."""
        tls = tuple(s.path for s in (self.client_cert, self.client_key, self.server_ca)
                    if s is not None and s.path is not None)
        api_key = (self.api_key.path,) if self.api_key and self.api_key.path else ()
        return {kind: paths for kind, paths in (("tls", tls), ("api_key", api_key)) if paths}

    def load(self) -> Material:
        """Read every source and check the set as the spec does; CredentialError otherwise.

        Each value passes its setting's kind (a PEM certificate, key or bundle; an API key
        token), then the spec's rules across them: a key without its certificate, or a key
        that is not the certificate's, is refused like `pulumi preview` refuses it.
        """
        sources = {attr: getattr(self, attr) for attr in _CHECKED_AS}
        labels = {_CHECKED_AS[a]: s.label for a, s in sources.items() if s is not None}
        values: dict[str, Any] = {}
        for attr, source in sources.items():
            if source is None:
                continue
            setting = spec.BY_NAME[_CHECKED_AS[attr]]
            text = source.text()
            try:
                values[setting.name] = spec.parse(setting, text)
            except spec.Invalid as err:
                where = f"{source.path} " if source.path else ""
                raise CredentialError(f"{source.label}: {where}{err.reason}") from None
        try:
            for rule in spec.RULES:
                if set(rule.needs) <= {"tlsCert", "tlsKey"} and set(rule.needs) & set(values):
                    rule.check({name: values.get(name) for name in rule.needs})
        except spec.Invalid as err:
            source = sources["client_key" if err.setting == "tlsKey" else "client_cert"]
            head, _, reason = err.message(lambda name: labels.get(name, name)).partition(": ")
            where = f"{source.path} " if source is not None and source.path else ""
            raise CredentialError(f"{head}: {where}{reason}") from None
        return Material(**{attr: values.get(_CHECKED_AS[attr]) for attr in _CHECKED_AS})

    def connect_options(self, base: Mapping[str, Any], material: Material) -> dict[str, Any]:
        """`Client.connect` keyword arguments: `base` (address, namespace, metadata) with this
        set's TLS material and API key."""
        options = dict(base)
        options.pop("api_key", None)
        if material.api_key is not None:
            options["api_key"] = material.api_key
        if self.tls:
            from temporalio.service import TLSConfig

            options["tls"] = TLSConfig(
                domain=self.server_name,
                server_root_ca_cert=_bytes(material.server_ca),
                client_cert=_bytes(material.client_cert),
                client_private_key=_bytes(material.client_key))
        else:
            options["tls"] = False
        return options

    def fingerprint(self) -> dict[str, str]:
        """A digest of each watched file's content now (or why it cannot be read): kubelet's
        atomic `..data` swap and an in-place write both change it."""
        prints = {}
        for paths in self.files.values():
            for path in paths:
                try:
                    prints[path] = hashlib.sha256(read_file(path)).hexdigest()
                except ValueError as err:
                    prints[path] = f"unreadable: {err}"
        return prints


def _bytes(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def label_of(setting: names.Setting, environ: Mapping[str, str]) -> str:
    """The variable the user set for `setting` (an alias when only the alias is set)."""
    if setting.env in environ:
        return setting.env
    return next((alias for alias in setting.aliases if alias in environ), setting.env)

