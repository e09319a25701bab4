"""Run the rollout's async Temporal calls from synchronous code: a Pulumi program (itself inside
a running event loop) and a dynamic provider's gRPC threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporal_worker_k8s.versioning.connection import Connection, UnreachableError
from temporal_worker_k8s.versioning.state import DeploymentState, describe

T = TypeVar("T")


def run_blocking(make: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
    """Run `make()` on a new event loop in its own thread and return its result.

    Pulumi programs run inside an asyncio loop and dynamic providers in gRPC threads; a thread
    of our own works in both. With `timeout`, asyncio.TimeoutError after that many seconds.
    """
    outcome: dict[str, Any] = {}

    async def bounded() -> T:
        return await (asyncio.wait_for(make(), timeout) if timeout else make())

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(bounded())
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = err

    thread = threading.Thread(target=target, name="temporal-rollout", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def describe_blocking(connection: Connection, deployment_name: str,
                      timeout: float = 30, task_queue: str | None = None) -> DeploymentState:
    """`describe` for synchronous code, including code inside a running loop (a Pulumi
    program): UnreachableError on connection or RPC failure, or after `timeout` seconds."""
    try:
        return run_blocking(lambda: describe(connection, deployment_name, task_queue), timeout)
    except asyncio.TimeoutError:
        raise UnreachableError(f"cannot describe Worker Deployment {deployment_name} at "
                               f"{connection.where}: no answer within {timeout:g} s") from None
