"""The baseline for the benchmark: a bare temporalio worker with the same workflows and activities.

No settings validation, health server, metrics or structured logging; SIGTERM drains with the
same graceful-shutdown timeout, so the shutdown figures compare like with like.
Usage: python -m bench.bare_worker ADDRESS TASK_QUEUE GRACEFUL_SECONDS
"""

import asyncio
import signal
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from worker.activities import ChatActivities, process_batch
from worker.workflows import WORKFLOWS


async def main(address: str, task_queue: str, graceful_seconds: int) -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    client = await Client.connect(address)
    chat = ChatActivities("http://127.0.0.1:9/v1", None, "none")
    worker = Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                    activities=[chat.chat_completion, process_batch],
                    graceful_shutdown_timeout=timedelta(seconds=graceful_seconds))
    async with worker:
        print("READY", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
