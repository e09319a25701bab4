"""The health endpoints' meaning, in-process: a stalled event loop fails liveness and readiness."""

from __future__ import annotations

import time

import httpx
import pytest
from temporalio.client import Client

from tools.procs import free_port
from temporal_worker_spec import contract
from worker import health


@pytest.fixture
def served():
    state = health.Health()
    port = free_port()
    server = health.serve(state, port, host="127.0.0.1")
    yield state, lambda path: httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    server.shutdown()
    server.server_close()


async def test_ready_only_when_connected_polling_and_server_healthy(served, temporal_server):
    state, get = served
    assert get(contract.LIVENESS_PATH).status_code == 200
    assert get(contract.READINESS_PATH).json()["reason"] == "not connected to Temporal"
    state.client = await Client.connect(temporal_server.address)
    assert get(contract.READINESS_PATH).json()["reason"] == "worker not running"
    state.worker_running = lambda: True
    await state.check_server()
    assert get(contract.READINESS_PATH).status_code == 200
    state.mark_stopping()
    response = get(contract.READINESS_PATH)
    assert (response.status_code, response.json()["reason"]) == (
        503, "stopping: draining in-flight work")


async def test_stalled_event_loop_fails_liveness_and_readiness(served, temporal_server):
    state, get = served
    state.client = await Client.connect(temporal_server.address)
    state.worker_running = lambda: True
    await state.check_server()
    assert get(contract.READINESS_PATH).status_code == 200
    # What a blocked loop looks like from the HTTP thread: no tick for longer than allowed.
    state._loop_tick = time.monotonic() - health.LIVENESS_MAX_STALL_SECONDS - 1
    live, ready = get(contract.LIVENESS_PATH), get(contract.READINESS_PATH)
    assert live.status_code == 503 and "unresponsive" in live.json()["reason"]
    assert ready.status_code == 503
    assert get("/other").status_code == 404
