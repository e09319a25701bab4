"""The health server's bounds, in-process: read deadline, connection cap, request size, quiet
disconnects, quick close, its HTTP surface, and where it and the metrics server listen."""

from __future__ import annotations

import errno
import json
import logging
import select
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

from temporal_worker_spec import contract
from tests.support.ipv6 import ipv6_loopback, needs_ipv6
from tests.support.sockets import reset
from tools.worker_process import REPO, clean_env
from worker import health


@pytest.fixture
def state() -> health.Health:
    return health.Health()


def connect(server: health.HealthServer, host: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection((host, server.port), timeout=5)


def exchange(server: health.HealthServer, raw: bytes) -> bytes:
    """Send `raw` and read until the server closes the connection."""
    with connect(server) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def seconds_until_closed(sock: socket.socket, limit: float) -> float | None:
    """How long until the server closes `sock` (EOF or RST); None if not within `limit`."""
    start = time.monotonic()
    while (left := start + limit - time.monotonic()) > 0:
        if select.select([sock], [], [], left)[0]:
            try:
                if sock.recv(4096) == b"":
                    return time.monotonic() - start
            except ConnectionError:
                return time.monotonic() - start
    return None


def wait_idle(server: health.HealthServer) -> None:
    deadline = time.monotonic() + 5
    while server.connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.connections == 0


def test_silent_client_is_dropped_at_the_read_deadline(state):
    with health.serve(state, 0, host="127.0.0.1", read_timeout=0.5) as server, \
            connect(server) as silent:
        elapsed = seconds_until_closed(silent, 5)
        assert elapsed is not None and 0.4 <= elapsed < 1.5, elapsed


def test_slow_client_is_dropped_at_the_deadline_even_while_it_trickles(state):
    """The deadline covers the whole request head, so one byte now and then does not help."""
    with health.serve(state, 0, host="127.0.0.1", read_timeout=0.5) as server, \
            connect(server) as slow:
        slow.sendall(f"GET {contract.LIVENESS_PATH} HTTP/1.1\r\n".encode())
        start = time.monotonic()
        closed = None
        while closed is None and time.monotonic() - start < 5:
            try:
                slow.sendall(b"X")
            except ConnectionError:
                closed = time.monotonic() - start
                break
            if seconds_until_closed(slow, 0.1) is not None:
                closed = time.monotonic() - start
        assert closed is not None and closed < 1.5, closed


def test_request_head_over_the_size_limit_is_refused_with_431(state):
    with health.serve(state, 0, host="127.0.0.1", max_request_bytes=1024) as server:
        many_headers = "".join(f"X-Filler-{i}: {'y' * 50}\r\n" for i in range(40))
        for raw in (f"GET {contract.LIVENESS_PATH} HTTP/1.1\r\n{many_headers}\r\n",
                    f"GET {contract.LIVENESS_PATH}?{'q' * 5000} HTTP/1.1\r\n\r\n"):
            assert exchange(server, raw.encode()).startswith(b"HTTP/1.1 431 "), raw[:40]
        ok = exchange(server, f"GET {contract.LIVENESS_PATH} HTTP/1.1\r\nHost: x\r\n\r\n"
                      .encode())
        assert ok.startswith(b"HTTP/1.1 200 ")


def test_at_the_cap_a_probe_replaces_the_oldest_silent_connection(state):
    with health.serve(state, 0, host="127.0.0.1", read_timeout=30,
                      max_connections=3) as server:
        silent = []
        try:
            for _ in range(3):
                silent.append(connect(server))
                deadline = time.monotonic() + 5
                while server.connections < len(silent) and time.monotonic() < deadline:
                    time.sleep(0.01)
            assert server.connections == 3
            response = httpx.get(f"http://127.0.0.1:{server.port}{contract.LIVENESS_PATH}",
                                 timeout=5)
            assert response.status_code == 200
            assert seconds_until_closed(silent[0], 2) is not None, "the oldest one goes"
            assert seconds_until_closed(silent[1], 0.3) is None
            assert seconds_until_closed(silent[2], 0.3) is None
            assert server.connections <= 3
        finally:
            for sock in silent:
                sock.close()


def test_vanishing_clients_cost_one_debug_line_each_and_no_traceback(state, caplog, capfd):
    caplog.set_level(logging.DEBUG, logger="worker.health")
    with health.serve(state, 0, host="127.0.0.1") as server:
        for _ in range(20):
            sock = connect(server)
            sock.sendall(b"GET /heal")
            reset(sock)
            sock = connect(server)
            sock.sendall(f"GET {contract.LIVENESS_PATH} HTTP/1.1\r\nHost: x\r\n".encode())
            sock.close()
            sock = connect(server)
            sock.sendall(f"GET {contract.READINESS_PATH} HTTP/1.1\r\n\r\n".encode())
            reset(sock)
        wait_idle(server)
        assert exchange(server, f"GET {contract.LIVENESS_PATH} HTTP/1.1\r\n\r\n".encode()) \
            .startswith(b"HTTP/1.1 200 ")
    records = [r for r in caplog.records if r.name.startswith("worker.health")]
    assert records, "a vanished client is worth a DEBUG line"
    assert all(r.levelno == logging.DEBUG and not r.exc_info for r in records), \
        [(r.levelname, r.getMessage()) for r in records if r.levelno != logging.DEBUG]
    assert all("\n" not in r.getMessage() for r in records)
    assert "Traceback" not in capfd.readouterr().err


def test_http_surface_matches_the_probes(state):
    with health.serve(state, 0, host="127.0.0.1") as server:
        base = f"http://127.0.0.1:{server.port}"
        live = httpx.get(f"{base}{contract.LIVENESS_PATH}?verbose=1", timeout=5)
        assert (live.status_code, live.headers["content-type"]) == (200, "application/json")
        assert live.json() == {"status": "ok", "reason": "event loop responsive"}
        ready = httpx.get(f"{base}{contract.READINESS_PATH}", timeout=5)
        assert (ready.status_code, ready.json()) == (
            503, {"status": "unavailable", "reason": "not connected to Temporal"})
        head = httpx.head(f"{base}{contract.LIVENESS_PATH}", timeout=5)
        assert (head.status_code, head.content) == (200, b"")
        post = httpx.post(f"{base}{contract.LIVENESS_PATH}", timeout=5)
        assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 404
        assert exchange(server, b"hello\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        old_client = exchange(server, f"GET {contract.LIVENESS_PATH} HTTP/1.0\r\n\r\n".encode())
        assert old_client.startswith(b"HTTP/1.1 200 ") and old_client.endswith(b"responsive\"}")


def test_close_is_quick_drops_clients_and_frees_the_port(state):
    server = health.serve(state, 0, host="127.0.0.1")
    idle = []
    try:
        for _ in range(5):
            idle.append(connect(server))
        wait = time.monotonic()
        while server.connections < 5 and time.monotonic() - wait < 5:
            time.sleep(0.01)
        start = time.monotonic()
        server.close()
        took = time.monotonic() - start
        assert took < 0.5, f"close took {took:.2f}s"
        assert all(seconds_until_closed(sock, 1) is not None for sock in idle)
        server.close()  # twice is fine
        with health.serve(state, server.port, host="127.0.0.1") as again:
            assert httpx.get(f"http://127.0.0.1:{again.port}{contract.LIVENESS_PATH}",
                             timeout=5).status_code == 200
    finally:
        for sock in idle:
            sock.close()
        server.close()


def test_port_in_use_raises_before_serving(state):
    with health.serve(state, 0, host="127.0.0.1") as server:
        with pytest.raises(OSError) as raised:
            health.serve(state, server.port, host="127.0.0.1")
        assert raised.value.errno == errno.EADDRINUSE


@needs_ipv6
def test_listens_on_ipv4_and_ipv6_by_default(state):
    with health.serve(state, 0) as server:
        for host in ("127.0.0.1", "[::1]"):
            response = httpx.get(f"http://{host}:{server.port}{contract.LIVENESS_PATH}",
                                 timeout=5)
            assert response.status_code == 200, host


@pytest.mark.parametrize("without_ipv6", ["no dual-stack sockets", "no IPv6 address family"])
def test_falls_back_to_ipv4_where_the_host_has_no_ipv6(state, monkeypatch, caplog,
                                                       without_ipv6):
    if without_ipv6 == "no dual-stack sockets":
        monkeypatch.setattr(socket, "has_dualstack_ipv6", lambda: False)
    else:
        create_server = socket.create_server

        def no_inet6(address, *, family=socket.AF_INET, **kwargs):
            if family == socket.AF_INET6:
                raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
            return create_server(address, family=family, **kwargs)

        monkeypatch.setattr(socket, "has_dualstack_ipv6", lambda: True)
        monkeypatch.setattr(socket, "create_server", no_inet6)
    caplog.set_level(logging.INFO, logger="worker.health")
    with health.serve(state, 0) as server:
        assert httpx.get(f"http://127.0.0.1:{server.port}{contract.LIVENESS_PATH}",
                         timeout=5).status_code == 200
        if ipv6_loopback():
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://[::1]:{server.port}{contract.LIVENESS_PATH}", timeout=5)
    assert "IPv6 is unavailable" in caplog.text


@pytest.mark.parametrize(("dual_stack", "bindv6only", "expected"), [
    (True, "0", "[::]:9464"),
    (True, None, "[::]:9464"),
    (True, "1", "0.0.0.0:9464"),
    (False, None, "0.0.0.0:9464"),
])
def test_metrics_listen_dual_stack_unless_the_kernel_would_refuse_ipv4(
        monkeypatch, tmp_path, dual_stack, bindv6only, expected):
    sysctl = tmp_path / "bindv6only"
    if bindv6only is not None:
        sysctl.write_text(f"{bindv6only}\n")
    monkeypatch.setattr(health, "BINDV6ONLY_SYSCTL", str(sysctl))
    monkeypatch.setattr(socket, "has_dualstack_ipv6", lambda: dual_stack)
    assert health.metrics_bind_address(9464) == expected


# Runs inside a fresh network namespace whose kernel default makes [::] refuse IPv4.
_BINDV6ONLY_PROBE = """
import json, httpx
from tools.procs import free_port
from worker import health
from worker.main import build_runtime
server = health.serve(health.Health(), 0)
metrics_port = free_port()
runtime = build_runtime({"metricsPort": metrics_port})
seen = {}
for host in ("127.0.0.1", "[::1]"):
    for name, port, path in (("health", server.port, "/healthz"),
                             ("metrics", metrics_port, "/metrics")):
        try:
            seen[f"{name} {host}"] = httpx.get(f"http://{host}:{port}{path}", timeout=5).status_code
        except httpx.HTTPError as err:
            seen[f"{name} {host}"] = type(err).__name__
print(json.dumps(seen))
"""


def _can_unshare_network() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip") and shutil.which("sysctl")):
        return False
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _can_unshare_network(),
                    reason="needs `unshare -n` (root) to set net.ipv6.bindv6only=1 in a "
                           "private network namespace")
def test_with_bindv6only_health_stays_dual_stack_and_metrics_keep_ipv4():
    script = ("ip link set lo up && sysctl -qw net.ipv6.bindv6only=1 && "
              f'exec "{sys.executable}" -c "$PROBE"')
    env = clean_env(PROBE=_BINDV6ONLY_PROBE, PYTHONPATH=str(REPO))
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"health 127.0.0.1": 200, "health [::1]": 200,
                    "metrics 127.0.0.1": 200, "metrics [::1]": "ConnectError"}, seen
    assert "bindv6only is 1" in done.stderr
