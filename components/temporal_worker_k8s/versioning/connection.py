"""How a rollout reaches Temporal: the stack's own address and credentials (`Connection`), the
errors every rollout step raises, and RPC error text that never holds a credential."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any

import temporalio.client
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

CONNECT_TIMEOUT_SECONDS = 20.0
RPC_TIMEOUT = timedelta(seconds=20)
"""Per call. Calls also let the SDK retry transient statuses: the server rate-limits reads per
Worker Deployment (RESOURCE_EXHAUSTED). A set retried after it took effect meets a conflict
token mismatch, which re-describes and finds the work done."""
READ_IDENTITY = f"pulumi-worker-rollout@{socket.gethostname()}"
"""Who reads (describes); changes carry the stack's manager identity instead."""
SECRET_CONNECTION_FIELDS = ("api_key", "client_cert", "client_key")
"""Connection fields kept secret in the state. The resources' properties hold the Connection
fields at the top level: Pulumi would mark a whole object secret for one secret inside it."""

# Connection errors whose text is cryptic, and what they usually mean (as the worker says them).
_CAUSES = (
    ("UnknownIssuer", "the server's certificate is not signed by server_ca (or a system CA)"),
    ("NotValidForName", "the server's certificate is not for this host; set server_name"),
    ("InvalidContentType", "the address does not speak TLS; is tls meant to be off?"),
    ("ConnectionRefused", "nothing listens at this address"),
)


class RolloutError(Exception):
    """A rollout step failed; the message names the deployment, the build and the step, and
    never holds a credential."""


class UnreachableError(RolloutError):
    """Temporal could not be reached or could not describe the deployment."""


class OwnershipError(RolloutError):
    """Someone else holds the Worker Deployment's manager identity."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Connection:
    """How to reach Temporal with the stack's own credentials (PEM texts, not paths).

    TLS is on when `tls` is true or any of the API key, client certificate, server CA or server
    name is set, as for the worker: an API key is never sent in cleartext.
    """

    address: str
    namespace: str
    tls: bool = False
    api_key: str | None = field(default=None, repr=False)
    client_cert: str | None = field(default=None, repr=False)
    client_key: str | None = field(default=None, repr=False)
    server_ca: str | None = None
    server_name: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Connection:
        """From plain values keyed by field name; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"connection: unknown key(s) {unknown}; expected some of "
                             f"{sorted(known)}")
        values = {k: v for k, v in data.items() if v is not None and v != ""}
        values["tls"] = bool(values.get("tls", False))
        for required in ("address", "namespace"):
            if not values.get(required):
                raise ValueError(f"connection: {required} is required")
        return cls(**values)

    @property
    def where(self) -> str:
        """`ADDRESS (namespace NS)`, for messages."""
        return f"{self.address} (namespace {self.namespace})"

    @property
    def uses_tls(self) -> bool:
        return self.tls or any((self.api_key, self.client_cert, self.client_key,
                                self.server_ca, self.server_name))

    def scrub(self, text: str) -> str:
        """`text` with every credential (and each line of key material) replaced by `***`."""
        for secret in (self.api_key, self.client_cert, self.client_key):
            if not secret:
                continue
            text = text.replace(secret, "***")
            for line in secret.splitlines():
                if len(line.strip()) >= 16:
                    text = text.replace(line.strip(), "***")
        return text

    def rpc_text(self, err: RPCError) -> str:
        """`STATUS: message` of a refused call, without credentials."""
        status = err.status.name if err.status else "error"
        return f"{status}: {self.scrub(err.message)}"

    async def client(self) -> temporalio.client.Client:
        """A connected client; UnreachableError (naming address and namespace) if not."""
        if bool(self.client_cert) != bool(self.client_key):
            raise RolloutError(f"cannot connect to Temporal at {self.where}: client_cert and "
                               "client_key must be given together")
        tls: bool | TLSConfig = False
        if self.uses_tls:
            tls = TLSConfig(
                server_root_ca_cert=self.server_ca.encode() if self.server_ca else None,
                domain=self.server_name or None,
                client_cert=self.client_cert.encode() if self.client_cert else None,
                client_private_key=self.client_key.encode() if self.client_key else None)
        try:
            return await asyncio.wait_for(temporalio.client.Client.connect(
                self.address, namespace=self.namespace, api_key=self.api_key, tls=tls,
                identity=READ_IDENTITY), CONNECT_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            raise UnreachableError(f"cannot connect to Temporal at {self.where}: no answer "
                                   f"within {CONNECT_TIMEOUT_SECONDS:.0f} s") from None
        except Exception as err:  # noqa: BLE001 - the SDK raises RuntimeError for all of them
            text = str(err) or type(err).__name__
            hint = next((f" (likely cause: {cause})" for marker, cause in _CAUSES
                         if marker in text), "")
            raise UnreachableError(f"cannot connect to Temporal at {self.where} (tls "
                                   f"{'on' if self.uses_tls else 'off'}): "
                                   f"{self.scrub(text)}{hint}") from None


CONNECTION_FIELDS = tuple(f.name for f in fields(Connection))


def is_not_found(err: RPCError) -> bool:
    return err.status == RPCStatusCode.NOT_FOUND
