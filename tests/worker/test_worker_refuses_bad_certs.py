"""Bad client certificates never produce a ready worker: a clear error, not-ready or exit."""

from __future__ import annotations

import uuid

import pytest

from tools.procs import wait_for
from tools.worker_process import WorkerProcess
import temporal_worker_spec.settings as spec

pytestmark = pytest.mark.slow


def _leaked_key(worker: WorkerProcess, *key_paths) -> None:
    output = worker.output()
    assert "PRIVATE KEY" not in output
    for path in key_paths:
        body = path.read_text().splitlines()[1]
        assert body not in output, "key material in the worker's output"


@pytest.mark.parametrize("kind", ["none", "other-ca"])
def test_server_refusal_keeps_worker_not_ready(mtls, cert_factory, kind):
    env = mtls.worker_env()
    if kind == "none":
        del env[spec.TLS_CERT.env], env[spec.TLS_KEY.env]
    else:
        other = cert_factory.issue(cert_factory.ca(f"other-ca-{uuid.uuid4().hex[:6]}"),
                                   f"other-client-{uuid.uuid4().hex[:6]}")
        env.update({spec.TLS_CERT.env: str(other.cert_path),
                    spec.TLS_KEY.env: str(other.key_path)})
    with WorkerProcess({**env, spec.TASK_QUEUE.env: f"tq-{uuid.uuid4()}"}) as worker:
        def refused_twice() -> bool:
            assert not worker.ready(), "worker reported ready with a refused client cert"
            return worker.output().count("cannot connect to Temporal") >= 2

        wait_for(refused_twice, 60, "two refused connection attempts in the log")
        # Alive (so Kubernetes does not restart it in a loop) but never ready.
        assert worker.live()
        assert worker.readiness_status() == 503
        assert f"cannot connect to Temporal at {mtls.address}" in worker.output()
        assert worker.terminate() == 0
        assert "worker is ready" not in worker.output()
    _leaked_key(worker, *([] if kind == "none" else [other.key_path]))


@pytest.mark.parametrize("kind, message", [("expired", "expired on"),
                                           ("v1", "X.509 v1 certificate; rustls in the Temporal SDK accepts only v3")])
def test_unusable_client_cert_exits_with_clear_error(mtls, cert_factory, kind, message):
    name = f"{kind}-client-{uuid.uuid4().hex[:6]}"
    bad = (cert_factory.expired(mtls.ca, name) if kind == "expired"
           else cert_factory.issue(mtls.ca, name, v1=True))
    env = {**mtls.worker_env(bad), spec.TASK_QUEUE.env: f"tq-{uuid.uuid4()}"}
    with WorkerProcess(env) as worker:
        assert worker.process.wait(timeout=60) == 2
        [line] = worker.output().strip().splitlines()
        assert line.startswith(f"configuration error: {spec.TLS_CERT.env}: ")
        assert message in line
    _leaked_key(worker, bad.key_path)
