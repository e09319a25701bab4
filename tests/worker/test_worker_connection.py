"""The connection never leaks a credential and never hangs: the real worker process against a
plain TCP listener (which records every byte) and against an endpoint that accepts TCP and
never answers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import temporal_worker_spec.settings as spec
from tests.support.listener import Listener
from tests.support.sockets import connections_to
from tools.worker_process import REPO, WorkerProcess, clean_env, free_ports_env
from worker.connection import CONNECT_TIMEOUT_SECONDS

API_KEY = "tmprl-do-not-send-0123456789abcdef"
SIGTERM_EXIT_SECONDS = 2.0


def _toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"temporal-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(text)
    return str(path)


def _key_file(tmp_path: Path) -> str:
    path = tmp_path / "api-key"
    path.write_text(API_KEY + "\n")
    return str(path)


# case -> (env beyond the address, given the tmp dir; what the one line must name)
CLEARTEXT = {
    "TLS disabled in the config file, API key in env": (
        lambda tmp: {"TEMPORAL_CONFIG_FILE": _toml(tmp, "[profile.default.tls]\ndisabled = true\n"),
                     spec.TEMPORAL_API_KEY.env: API_KEY},
        ["TEMPORAL_CONFIG_FILE", "[profile.default.tls] disabled", "turns TLS off",
         "the API key from TEMPORAL_API_KEY"]),
    "API key in the config file, TLS off in env": (
        lambda tmp: {"TEMPORAL_CONFIG_FILE": _toml(tmp, f'[profile.default]\napi_key = "{API_KEY}"\n'),
                     spec.TLS.env: "false"},
        ["TEMPORAL_TLS: is false", "TEMPORAL_CONFIG_FILE", "[profile.default] api_key"]),
    "authorization header in env, TLS off in env": (
        lambda tmp: {"TEMPORAL_GRPC_META_AUTHORIZATION": f"Bearer {API_KEY}",
                     spec.TLS.env: "false"},
        ["TEMPORAL_TLS: is false",
         "the authorization header from TEMPORAL_GRPC_META_AUTHORIZATION"]),
    "Authorization header in a profile's grpc_meta, TLS never turned on": (
        lambda tmp: {"TEMPORAL_CONFIG_FILE": _toml(
            tmp, f'[profile.ci.grpc_meta]\nAuthorization = "Bearer {API_KEY}"\n'),
            "TEMPORAL_PROFILE": "ci"},
        ["TEMPORAL_TLS: is unset", "[profile.ci.grpc_meta] Authorization"]),
    "API key file, TLS off in env": (
        lambda tmp: {spec.TEMPORAL_API_KEY_FILE.env: _key_file(tmp), spec.TLS.env: "false"},
        ["TEMPORAL_TLS: is false while TEMPORAL_API_KEY_FILE is set"]),
}


@pytest.mark.parametrize("case", list(CLEARTEXT))
def test_a_credential_without_tls_stops_the_worker_before_any_byte_is_sent(case, tmp_path):
    make_env, named = CLEARTEXT[case]
    with Listener() as sniffer:
        env = clean_env(**{**free_ports_env(), spec.TEMPORAL_ADDRESS.env: sniffer.address,
                           **make_env(tmp_path)})
        result = subprocess.run([sys.executable, "-m", "worker"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=60)
        time.sleep(0.3)  # anything in flight reaches the sniffer's thread
        assert (sniffer.connections, sniffer.received) == (0, 0), \
            f"{case}: the worker connected and sent {sniffer.received} bytes"
    assert result.returncode == 2, (case, result.stdout[-2000:], result.stderr[-2000:])
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("configuration error: ") and "cleartext" in line, line
    for phrase in named:
        assert phrase in line, (phrase, line)
    assert API_KEY not in line


@pytest.mark.slow
def test_an_endpoint_that_never_answers_is_logged_as_a_timeout_and_retried(tmp_path):
    with Listener(silent=True) as blackhole, WorkerProcess({
            spec.TEMPORAL_ADDRESS.env: blackhole.address, spec.TLS.env: "true",
            spec.TASK_QUEUE.env: f"tq-{uuid.uuid4()}"}) as worker:
        started = time.monotonic()
        worker.wait_until(lambda: "timed out after" in worker.output(),
                          CONNECT_TIMEOUT_SECONDS + 20, "a logged connect timeout")
        elapsed = time.monotonic() - started
        assert elapsed < CONNECT_TIMEOUT_SECONDS + 10, f"the timeout took {elapsed:.0f}s"
        line = next(line for line in worker.output().splitlines() if "timed out after" in line)
        assert f"cannot connect to Temporal at {blackhole.address}" in line
        assert "likely cause: the endpoint took the TCP connection" in line
        assert "retrying in" in line
        # The next attempt is made, logged and bounded too.
        worker.wait_until(lambda: "attempt 2" in worker.output(), 30, "a second attempt")
        assert worker.live() and worker.readiness_status() == 503
        assert blackhole.connections >= 2
        # An abandoned attempt closes its socket: at most the current one is open.
        assert connections_to(worker.process.pid, blackhole.port) <= 1
        assert worker.terminate(timeout=SIGTERM_EXIT_SECONDS) == 0


@pytest.mark.parametrize("tls", ["true", "false"])
def test_sigterm_during_a_connection_attempt_exits_within_two_seconds(tls):
    with Listener(silent=True) as blackhole, WorkerProcess({
            spec.TEMPORAL_ADDRESS.env: blackhole.address, spec.TLS.env: tls,
            spec.TASK_QUEUE.env: f"tq-{uuid.uuid4()}"}) as worker:
        worker.wait_until(lambda: blackhole.connections >= 1, 30,
                          "the first attempt to reach the endpoint")
        time.sleep(1)  # well inside the attempt: nothing has answered
        assert "cannot connect" not in worker.output()
        sent = time.monotonic()
        worker.signal(signal.SIGTERM)
        try:
            code = worker.wait(SIGTERM_EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {SIGTERM_EXIT_SECONDS}s after SIGTERM:\n"
                        f"{worker.output()[-2000:]}")
        assert code == 0, worker.output()[-2000:]
        assert time.monotonic() - sent < SIGTERM_EXIT_SECONDS
    assert "stopped before connecting" in worker.output()
