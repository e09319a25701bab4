"""The health endpoints' meaning, in-process: a stalled event loop fails liveness and readiness."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from temporalio.client import Client

from temporal_worker_spec import contract
from worker import health


@pytest.fixture
def served():
    state = health.Health()
    with health.serve(state, 0, host="127.0.0.1") as server:
        yield state, lambda path: httpx.get(f"http://127.0.0.1:{server.port}{path}", timeout=5)


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


async def test_blocked_event_loop_is_reported_dead_while_it_is_blocked(monkeypatch):
    """The server judges liveness from its own thread: it answers 503 while the worker's loop
    is really blocked (here: waiting on a thread join), and 200 once the loop ticks again."""
    monkeypatch.setattr(health, "TICK_SECONDS", 0.05)
    monkeypatch.setattr(health, "LIVENESS_MAX_STALL_SECONDS", 0.5)
    state = health.Health()
    ticker = asyncio.create_task(state.tick())
    try:
        with health.serve(state, 0, host="127.0.0.1") as server:
            url = f"http://127.0.0.1:{server.port}{contract.LIVENESS_PATH}"
            assert (await asyncio.to_thread(httpx.get, url, timeout=5)).status_code == 200
            seen: list[int] = []

            def probe_until_dead() -> None:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and 503 not in seen:
                    seen.append(httpx.get(url, timeout=5).status_code)

            prober = threading.Thread(target=probe_until_dead)
            prober.start()
            prober.join()  # blocks this event loop until the server reports it dead
            assert seen[-1] == 503, seen
            deadline = time.monotonic() + 5
            while (await asyncio.to_thread(httpx.get, url, timeout=5)).status_code != 200:
                assert time.monotonic() < deadline, "alive again once the loop ticks"
                await asyncio.sleep(0.05)
    finally:
        ticker.cancel()
