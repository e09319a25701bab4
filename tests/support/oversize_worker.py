"""A worker whose one workflow completes with a result larger than a gRPC message may be (5 MB),
to make the SDK count a `GrpcMessageTooLarge` workflow task failure. The worker's own workflows
cannot: none returns more than it was given, and a start request that large is refused first.
It uses the worker's own runtime (`worker.main.build_runtime`), so its metrics are exported
exactly as the worker's are.

Usage: python -m tests.support.oversize_worker ADDRESS TASK_QUEUE METRICS_PORT
"""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from worker.main import build_runtime

RESULT_BYTES = 5 * 1024 * 1024
"""Above the 4 MB gRPC message limit of the server, well above the 2 MB payload limit (which
this worker turns off so the message reaches the server)."""


@workflow.defn(name="OversizeResultWorkflow")
class OversizeResultWorkflow:
    @workflow.run
    async def run(self) -> bytes:
        return b"\0" * RESULT_BYTES


async def main(address: str, task_queue: str, metrics_port: int) -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    client = await Client.connect(address, runtime=build_runtime({"metricsPort": metrics_port}))
    async with Worker(client, task_queue=task_queue, workflows=[OversizeResultWorkflow],
                      workflow_runner=UnsandboxedWorkflowRunner(),
                      disable_payload_error_limit=True):
        print("READY", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
