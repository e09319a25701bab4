"""Credentials rotate without an outage: the real worker process behind real TLS fronts (Caddy
in front of the dev server), with its Secret volumes swapped the way kubelet swaps them.

Each test has its own CA and front (the fronts restart, so every client must handshake
again) and its own task queue; the dev server is the session's.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import TLSConfig

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from tests.support.caddy import ApiKeyFront, MtlsFront
from tests.support.secret_volume import SecretVolume
from tests.support.sockets import connections_to
from tests.support.tls import CertFactory, Issued
from tools.procs import wait_for_async
from tools.worker_process import WorkerProcess
from worker import health
from worker.activities import BatchRequest
from worker.workflows import BatchWorkflow

pytestmark = pytest.mark.slow

CERT_LIFETIME_SECONDS = 30
"""How long each client certificate lives. Short so that three renewals, each followed by the
expiry of the certificate it replaced, fit in about a minute and a half."""
RENEW_AT = 2 / 3
"""The fraction of a certificate's life after which it is renewed (cert-manager's default)."""
ONE_RECONNECT_SECONDS = 2.0 + 3 * health.CHECK_INTERVAL_SECONDS
"""The longest readiness may drop around a front restart: the restart itself (1-2 s), then
three health checks at most: the one that finds the front down, the one that passes over the
new connection, and the one after it that reads the poll counters clean (measured: about 4 s
on a quiet machine). Without the renewals it never comes back at all."""
NOW = datetime.datetime.now


def _utc() -> datetime.datetime:
    return NOW(datetime.timezone.utc)


def tls_files(issued: Issued) -> dict[str, bytes]:
    return {contract.TLS_CERT_KEY: issued.cert_path.read_bytes(),
            contract.TLS_KEY_KEY: issued.key_path.read_bytes()}


def metric(worker: WorkerProcess, name: str, **labels: str) -> float | None:
    """One sample of the worker's /metrics (None when absent)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{worker.metrics_port}{contract.METRICS_PATH}",
                         timeout=2).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}\{{([^}}]*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match[1] for k, v in labels.items()):
            return float(match[2])
    return None


async def until_time(timestamp: float) -> None:
    """Sleep until the wall clock reads `timestamp` (seconds since the epoch)."""
    await asyncio.sleep(max(0.0, timestamp - time.time()))


async def until(worker: WorkerProcess, condition, what: str, timeout: float = 30) -> None:
    """`wait_for_async`, failing with the worker's readiness and the end of its log."""
    try:
        await wait_for_async(condition, timeout, what)
    except TimeoutError as err:
        try:
            reason = httpx.get(f"http://127.0.0.1:{worker.health_port}"
                               f"{contract.READINESS_PATH}", timeout=2).text
        except httpx.HTTPError as http_error:
            reason = str(http_error)
        own = [line for line in worker.output().splitlines() if "temporalio.core" not in line]
        core = [line for line in worker.output().splitlines() if "temporalio.core" in line]
        pytest.fail(f"{err}; readiness: {reason}; the worker's own log:\n"
                    + "\n".join(own[-40:]) + "\nthe SDK core's log ends with:\n"
                    + "\n".join(core[-5:]))


def messages(worker: WorkerProcess) -> list[str]:
    return [json.loads(line)["message"] for line in worker.output().splitlines()
            if line.startswith("{")]


class Readiness:
    """Samples /readyz from a thread; `longest_drop()` is the longest time it was not 200."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.samples: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Readiness:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.worker.ready()))
            self._stop.wait(0.1)

    def longest_drop(self) -> float:
        longest, since = 0.0, None
        for at, ready in self.samples:
            if not ready and since is None:
                since = at
            elif ready and since is not None:
                longest, since = max(longest, at - since), None
        if since is not None:
            longest = max(longest, self.samples[-1][0] - since)
        return longest


@dataclass
class Load:
    """A steady stream of short workflows, started directly on the dev server."""

    client: Client
    task_queue: str
    items: int = 2
    seconds_per_item: float = 0.1
    handles: list[WorkflowHandle] = field(default_factory=list)
    _task: asyncio.Task | None = None

    async def __aenter__(self) -> Load:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self.handles.append(await self.client.start_workflow(
                BatchWorkflow.run, BatchRequest(name=f"w{len(self.handles)}", items=self.items,
                                                seconds_per_item=self.seconds_per_item),
                id=f"rotation-{uuid.uuid4()}", task_queue=self.task_queue,
                execution_timeout=timedelta(minutes=10)))
            await asyncio.sleep(0.5)

    async def one_completes(self, worker: WorkerProcess) -> None:
        """A workflow started now completes within a minute: the worker is doing work."""
        count = len(self.handles)
        await wait_for_async(lambda: len(self.handles) > count, 30, "a new workflow")
        try:
            result = await asyncio.wait_for(self.handles[count].result(), 60)
        except asyncio.TimeoutError:
            pytest.fail(f"workflow {count} did not complete within 60s; the worker's log "
                        f"ends with:\n{worker.output()[-4000:]}")
        assert result == f"batch w{count}: processed {self.items} of {self.items} items"

    async def lost(self, within: float = 120) -> list[str]:
        """Workflows that did not complete as they should within `within` seconds from now
        (none, when nothing was lost)."""
        deadline = time.monotonic() + within
        lost = []
        for handle in self.handles:
            try:
                result = await asyncio.wait_for(handle.result(),
                                                max(1.0, deadline - time.monotonic()))
            except Exception as err:  # noqa: BLE001 - any failure is a lost workflow
                lost.append(f"{handle.id}: {type(err).__name__}: {err}")
                continue
            if not result.endswith(f"processed {self.items} of {self.items} items"):
                lost.append(f"{handle.id}: {result}")
        return lost

    async def retried(self) -> list[str]:
        """Activities that needed a second attempt: work dropped somewhere on the way."""
        retried = []
        for handle in self.handles:
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and \
                        event.activity_task_started_event_attributes.attempt > 1:
                    retried.append(handle.id)
        return retried


@pytest.fixture
def pki(tmp_path) -> CertFactory:
    return CertFactory(tmp_path / "pki")


async def test_client_certificates_renewed_three_times_without_an_outage(
        temporal_server, pki, tmp_path):
    ca = pki.ca("renewal-ca")
    server = pki.issue(ca, "renewal-server", server=True)
    certs = [pki.issue(ca, "client-0", not_before=_utc(), not_after=_utc() + timedelta(
        seconds=CERT_LIFETIME_SECONDS))]
    volume = SecretVolume(tmp_path / "tls")
    volume.write(tls_files(certs[0]))
    task_queue = f"tq-{uuid.uuid4()}"
    with MtlsFront(temporal_server.port, server.cert_path, server.key_path,
                   ca.cert_path) as front, WorkerProcess({
                       spec.TEMPORAL_ADDRESS.env: front.address, spec.TASK_QUEUE.env: task_queue,
                       spec.TLS_CERT.env: str(volume.path(contract.TLS_CERT_KEY)),
                       spec.TLS_KEY.env: str(volume.path(contract.TLS_KEY_KEY)),
                       spec.TLS_SERVER_CA.env: str(ca.cert_path)}) as worker:
        await asyncio.to_thread(worker.wait_ready)
        pid = worker.process.pid
        client = await Client.connect(temporal_server.address)
        with Readiness(worker) as readiness:
            async with Load(client, task_queue) as load:
                for renewal in range(1, 4):
                    old = certs[-1]
                    # Renewed at two thirds of its life, as cert-manager does by default.
                    await until_time(old.cert.not_valid_before_utc.timestamp()
                                     + RENEW_AT * CERT_LIFETIME_SECONDS)
                    certs.append(pki.issue(ca, f"client-{renewal}", not_before=_utc(),
                                           not_after=_utc() + timedelta(
                                               seconds=CERT_LIFETIME_SECONDS)))
                    volume.write(tls_files(certs[-1]))
                    expiry = certs[-1].cert.not_valid_after_utc.timestamp()
                    # Picked up and exported: the expiry metric moves to the renewed cert.
                    await until(worker, lambda: metric(
                        worker, contract.CERT_EXPIRY_METRIC) == expiry,
                        f"renewal {renewal} to be in use")
                    # Only once the old certificate is expired does the front restart, so
                    # the worker's next handshake could not succeed with it.
                    await until_time(old.cert.not_valid_after_utc.timestamp() + 1)
                    await asyncio.to_thread(front.restart)
                    await until(worker, worker.ready, f"ready after restart {renewal}")
                    await load.one_completes(worker)
                    assert connections_to(pid, front.port) <= 2, "old connections pile up"
            lost = await load.lost()
        assert worker.process.pid == pid and worker.running(), "the worker restarted"
        assert worker.terminate() == 0
    log = messages(worker)
    assert lost == [], (f"{len(lost)} of {len(load.handles)} workflows lost: {lost[:3]}\n"
                        f"{worker.output()[-4000:]}")
    assert len(load.handles) > 30, "the load was not steady"
    assert sum(m.startswith("worker starting") for m in log) == 1
    assert sum(m.startswith("credentials reloaded") for m in log) == 3, log
    assert not any("reload refused" in m or "reload failed" in m for m in log), log
    assert readiness.longest_drop() <= ONE_RECONNECT_SECONDS, (
        f"readiness dropped for {readiness.longest_drop():.1f}s")


async def test_an_api_key_rotates_while_the_front_drops_the_old_one(temporal_server, pki,
                                                                     tmp_path):
    ca = pki.ca("api-key-ca")
    server = pki.issue(ca, "api-key-server", server=True)
    old_key, new_key = f"tmprl-old-{uuid.uuid4().hex}", f"tmprl-new-{uuid.uuid4().hex}"
    volume = SecretVolume(tmp_path / "api-key")
    volume.write({contract.API_KEY_FILE: f"{old_key}\n".encode()})
    task_queue = f"tq-{uuid.uuid4()}"
    with ApiKeyFront(temporal_server.port, server.cert_path, server.key_path,
                     [old_key]) as front, WorkerProcess({
                         spec.TEMPORAL_ADDRESS.env: front.address,
                         spec.TASK_QUEUE.env: task_queue,
                         spec.TEMPORAL_API_KEY_FILE.env: str(volume.path(contract.API_KEY_FILE)),
                         spec.TLS_SERVER_CA.env: str(ca.cert_path)}) as worker:
        await asyncio.to_thread(worker.wait_ready)
        pid = worker.process.pid
        client = await Client.connect(temporal_server.address)
        async with Load(client, task_queue) as load:
            await load.one_completes(worker)
            # Rotation as Temporal Cloud allows it: both keys valid, the Secret updated, then
            # the old key revoked.
            await asyncio.to_thread(front.accept, old_key, new_key)
            volume.write({contract.API_KEY_FILE: f"{new_key}\n".encode()})
            await until(worker, lambda: metric(
                worker, contract.CREDENTIAL_RELOADS_METRIC, credential="api_key",
                result="applied") == 1, "the new key to be in use")
            await asyncio.to_thread(front.accept, new_key)
            with pytest.raises(Exception, match="Unauthenticated"):
                await Client.connect(front.address, api_key=old_key,
                                     tls=TLSConfig(server_root_ca_cert=ca.cert_path.read_bytes()))
            await until(worker, worker.ready, "ready with the new key only")
            await load.one_completes(worker)
            await load.one_completes(worker)
        lost = await load.lost()
        assert worker.process.pid == pid and worker.running()
        assert worker.terminate() == 0
    assert lost == [], lost
    output = worker.output()
    assert old_key not in output and new_key not in output
    assert "the API key from TEMPORAL_API_KEY_FILE is in use" in output
    # No call of the worker's was ever refused for its key.
    assert "unauthenticated" not in output.lower()


async def test_a_renewal_whose_key_does_not_match_keeps_the_old_client_and_is_reported(
        temporal_server, pki, tmp_path):
    ca = pki.ca("bad-renewal-ca")
    server = pki.issue(ca, "bad-renewal-server", server=True)
    good, other = pki.issue(ca, "good-client"), pki.issue(ca, "other-client")
    volume = SecretVolume(tmp_path / "tls")
    volume.write(tls_files(good))
    task_queue = f"tq-{uuid.uuid4()}"
    failing = {"credential": "tls"}
    with MtlsFront(temporal_server.port, server.cert_path, server.key_path,
                   ca.cert_path) as front, WorkerProcess({
                       spec.TEMPORAL_ADDRESS.env: front.address, spec.TASK_QUEUE.env: task_queue,
                       spec.TLS_CERT.env: str(volume.path(contract.TLS_CERT_KEY)),
                       spec.TLS_KEY.env: str(volume.path(contract.TLS_KEY_KEY)),
                       spec.TLS_SERVER_CA.env: str(ca.cert_path)}) as worker:
        await asyncio.to_thread(worker.wait_ready)
        client = await Client.connect(temporal_server.address)
        assert metric(worker, contract.CREDENTIAL_RELOAD_FAILING_METRIC, **failing) == 0
        async with Load(client, task_queue) as load:
            # A new certificate with the key of another: refused, reported, the old one kept.
            volume.write({contract.TLS_CERT_KEY: other.cert_path.read_bytes(),
                          contract.TLS_KEY_KEY: good.key_path.read_bytes()})
            await until(worker, lambda: metric(
                worker, contract.CREDENTIAL_RELOAD_FAILING_METRIC, **failing) == 1,
                "the refusal to be reported")
            assert metric(worker, contract.CREDENTIAL_RELOADS_METRIC, credential="tls",
                          result="refused") >= 1
            assert metric(worker, contract.CERT_EXPIRY_METRIC) == \
                good.cert.not_valid_after_utc.timestamp()
            # The old client keeps working, even through a new handshake.
            await asyncio.to_thread(front.restart)
            await until(worker, worker.ready, "ready with the old client")
            await load.one_completes(worker)
            # A later good renewal is applied and clears the report.
            volume.write(tls_files(other))
            await until(worker, lambda: metric(
                worker, contract.CREDENTIAL_RELOAD_FAILING_METRIC, **failing) == 0,
                "the good renewal")
            assert metric(worker, contract.CERT_EXPIRY_METRIC) == \
                other.cert.not_valid_after_utc.timestamp()
            await load.one_completes(worker)
        lost = await load.lost()
        assert worker.terminate() == 0
    assert lost == []
    refusals = [m for m in messages(worker) if "reload refused" in m]
    assert len(refusals) == 1, refusals
    assert (f"{spec.TLS_KEY.env}: {volume.path(contract.TLS_KEY_KEY)} does not match the "
            "public key of the client certificate") in refusals[0]
    assert "keeping the credentials in use" in refusals[0]
    assert "PRIVATE KEY" not in worker.output()
    key_body = good.key_path.read_text().splitlines()[1]
    assert key_body not in worker.output()


async def test_a_renewal_under_load_drops_no_work_and_moves_the_expiry_metric(
        temporal_server, mtls, cert_factory, tmp_path):
    suffix = uuid.uuid4().hex[:6]
    first = cert_factory.issue(mtls.ca, f"expiry-first-{suffix}",
                               not_after=_utc() + timedelta(days=2))
    renewed = cert_factory.issue(mtls.ca, f"expiry-renewed-{suffix}",
                                 not_after=_utc() + timedelta(days=9))
    volume = SecretVolume(tmp_path / "tls")
    volume.write(tls_files(first))
    task_queue = f"tq-{uuid.uuid4()}"
    env = {**mtls.worker_env(), spec.TASK_QUEUE.env: task_queue,
           spec.TLS_CERT.env: str(volume.path(contract.TLS_CERT_KEY)),
           spec.TLS_KEY.env: str(volume.path(contract.TLS_KEY_KEY))}
    with WorkerProcess(env) as worker:
        await asyncio.to_thread(worker.wait_ready)
        # Seconds since the epoch of the certificate's notAfter, for an alert to compare with
        # time(): present from the start.
        assert metric(worker, contract.CERT_EXPIRY_METRIC) == \
            first.cert.not_valid_after_utc.timestamp()
        client = await Client.connect(temporal_server.address)
        # Activities of about a second each, started every half second: some are always in
        # flight when the new client takes over.
        with Readiness(worker) as readiness:
            async with Load(client, task_queue, items=4, seconds_per_item=0.3) as load:
                await load.one_completes(worker)
                volume.write(tls_files(renewed))
                await until(worker, lambda: metric(worker, contract.CERT_EXPIRY_METRIC) ==
                            renewed.cert.not_valid_after_utc.timestamp(),
                            "the metric to follow the renewal")
                await load.one_completes(worker)
            lost = await load.lost()
        assert metric(worker, contract.CREDENTIAL_RELOADS_METRIC, credential="tls",
                      result="applied") == 1
        assert worker.terminate() == 0
    assert lost == [], lost
    assert await load.retried() == [], "an in-flight activity was dropped and retried"
    assert readiness.longest_drop() == 0, "readiness dropped during the swap"
