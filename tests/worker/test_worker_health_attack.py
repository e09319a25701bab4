"""Bounded attacks on the real worker's health server: floods of silent connections, clients
that vanish mid-request, and probes over IPv4 and IPv6 loopback (health and metrics)."""

from __future__ import annotations

import json
import resource
import selectors
import socket
import time
from collections.abc import Callable

import httpx
import pytest

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from tests.support.ipv6 import needs_ipv6
from tests.support.sockets import reset
from tools.worker_process import WorkerProcess, queue_env

pytestmark = pytest.mark.slow

FLOOD_CONNECTIONS = 1000
FLOOD_BUDGET_SECONDS = 30.0
"""Opening the flood may take at most this long; the test stops opening when it runs out."""
EXTRA_THREADS_ALLOWED = 2
"""The flood may add at most this many threads to the worker (today: none; the server is one
event loop in one thread, started before the flood)."""
EXTRA_OPEN_FILES_ALLOWED = 64 + 4
"""The flood may add at most this many file descriptors: the server's cap of 64 connections
(health.MAX_CONNECTIONS) plus the one being let in, and slack for the SDK."""
SILENT_CLIENT_DROPPED_SECONDS = 5.0
"""The promise: a client that sends no complete request is disconnected within this."""
CLOSE_MARGIN_SECONDS = 2.0


def assert_one_json_object_per_line(output: str) -> None:
    assert "Traceback" not in output, output[-3000:]
    for line in output.splitlines():
        if line.strip():
            assert isinstance(json.loads(line), dict), line


def allow_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the flood needs {needed} open files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def open_flood(port: int, count: int, deadline: float,
               sample: Callable[[], None]) -> list[socket.socket]:
    """Connect `count` sockets in parallel (non-blocking) and send nothing; returns those that
    connected before `deadline`, calling `sample()` while it waits."""
    socks = []
    with selectors.DefaultSelector() as selector:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            selector.register(sock, selectors.EVENT_WRITE)
            socks.append(sock)
        pending = len(socks)
        while pending and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                selector.unregister(key.fileobj)
                pending -= 1
            sample()
    connected = [s for s in socks if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                 and _connected(s)]
    for sock in socks:
        if sock not in connected:
            sock.close()
    return connected


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
        return True
    except OSError:
        return False


def wait_all_closed_by_peer(socks: list[socket.socket], deadline: float,
                            sample: Callable[[], None]) -> int:
    """Wait until the server has closed every socket (EOF or RST); returns how many it did."""
    closed = 0
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        while closed < len(socks) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(4096)
                except ConnectionError:
                    data = b""
                if data == b"":
                    selector.unregister(key.fileobj)
                    closed += 1
            sample()
    return closed


def test_flood_of_silent_connections_keeps_threads_bounded_and_probes_answering(
        temporal_server):
    allow_open_files(FLOOD_CONNECTIONS + 512)
    with WorkerProcess(queue_env(temporal_server.address)) as worker:
        worker.wait_ready()
        baseline, files = worker.thread_count(), worker.open_files()
        peak, peak_files = [baseline], [files]

        def sample() -> None:
            peak.append(worker.thread_count())
            peak_files.append(worker.open_files())

        url = f"http://127.0.0.1:{worker.health_port}{contract.LIVENESS_PATH}"
        started = time.monotonic()
        socks = open_flood(worker.health_port, FLOOD_CONNECTIONS,
                           started + FLOOD_BUDGET_SECONDS, sample)
        try:
            opened_in = time.monotonic() - started
            # The whole flood is still open from this side: a probe gets through anyway.
            probe_started = time.monotonic()
            during = httpx.get(url, timeout=2).status_code
            probe_ms = (time.monotonic() - probe_started) * 1000
            last_opened = time.monotonic()
            closed = wait_all_closed_by_peer(
                socks, last_opened + SILENT_CLIENT_DROPPED_SECONDS + CLOSE_MARGIN_SECONDS, sample)
            closed_in = time.monotonic() - last_opened
        finally:
            for sock in socks:
                sock.close()
        after = httpx.get(url, timeout=2).status_code
        assert worker.terminate() == 0
    numbers = (f"opened {len(socks)} in {opened_in:.1f}s; threads {baseline} before, peak "
               f"{max(peak)}; open files {files} before, peak {max(peak_files)}; {closed} "
               f"closed by the server within {closed_in:.1f}s of the probe; probe {during} "
               f"during ({probe_ms:.0f} ms), {after} after")
    print(numbers)
    assert len(socks) == FLOOD_CONNECTIONS, numbers
    assert max(peak) <= baseline + EXTRA_THREADS_ALLOWED, numbers
    assert max(peak_files) <= files + EXTRA_OPEN_FILES_ALLOWED, numbers
    assert (during, after) == (200, 200), numbers
    assert closed == len(socks), numbers
    assert_one_json_object_per_line(worker.output())


def test_clients_vanishing_mid_request_or_mid_response_leave_no_traceback(temporal_server):
    env = queue_env(temporal_server.address, **{spec.LOG_LEVEL.env: "DEBUG"})
    with WorkerProcess(env) as worker:
        worker.wait_ready()
        address = ("127.0.0.1", worker.health_port)
        for _ in range(40):
            # Mid-request: part of the request line, then an RST or a FIN.
            sock = socket.create_connection(address, timeout=2)
            sock.sendall(b"GET /heal")
            reset(sock)
            sock = socket.create_connection(address, timeout=2)
            sock.sendall(f"GET {contract.LIVENESS_PATH} HTTP/1.1\r\nHost: x\r\n".encode())
            sock.close()
            # Mid-response: a whole request, then gone before reading the answer.
            sock = socket.create_connection(address, timeout=2)
            sock.sendall(f"GET {contract.READINESS_PATH} HTTP/1.1\r\n\r\n".encode())
            reset(sock)
            sock = socket.create_connection(address, timeout=2)
            sock.sendall(f"GET {contract.LIVENESS_PATH} HTTP/1.1\r\n\r\n".encode())
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        assert worker.live()
        assert worker.terminate() == 0
    output = worker.output()
    assert_one_json_object_per_line(output)
    events = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert any(e["logger"] == "worker.health" and e["level"] == "DEBUG" for e in events), \
        "a vanished client is worth a DEBUG line"


@needs_ipv6
def test_health_and_metrics_answer_on_ipv4_and_ipv6_loopback(temporal_server):
    with WorkerProcess(queue_env(temporal_server.address)) as worker:
        worker.wait_ready()
        for host in ("127.0.0.1", "[::1]"):
            for path in (contract.LIVENESS_PATH, contract.READINESS_PATH):
                response = httpx.get(f"http://{host}:{worker.health_port}{path}", timeout=5)
                assert (response.status_code, response.json()["status"]) == (200, "ok"), \
                    f"{host}{path}"
            metrics = httpx.get(f"http://{host}:{worker.metrics_port}{contract.METRICS_PATH}",
                                timeout=5)
            assert metrics.status_code == 200, host
            assert "temporal_" in metrics.text, host
        assert worker.terminate() == 0
