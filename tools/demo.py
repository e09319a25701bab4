"""The local demo behind scripts/demo.sh: dev server + `python -m worker` + one workflow run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import uuid
from datetime import timedelta

from temporalio.client import Client

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from tools.devserver import DevServer
from tools.procs import interrupts_deferred
from tools.worker_process import WorkerProcess
from worker.activities import BatchRequest, ChatRequest
from worker.workflows import BatchWorkflow, ChatWorkflow


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/demo.sh", description=__doc__)
    parser.add_argument("--items", type=int, default=5, help="items in the sample batch")
    parser.add_argument("--prompt", help="also run ChatWorkflow with this prompt (needs "
                        "CHATGPT_API_KEY; CHATGPT_BASE_URL/CHATGPT_MODEL are honoured)")
    parser.add_argument("--keep-running", action="store_true",
                        help="keep the server and worker up until Ctrl-C")
    return parser.parse_args()


async def run_workflows(address: str, task_queue: str, args: argparse.Namespace) -> None:
    client = await Client.connect(address)
    result = await client.execute_workflow(
        BatchWorkflow.run, BatchRequest(name="demo", items=args.items, seconds_per_item=0.2),
        id=f"demo-batch-{uuid.uuid4()}", task_queue=task_queue,
        execution_timeout=timedelta(minutes=2))
    print(f"BatchWorkflow result: {result}", flush=True)
    if args.prompt:
        answer = await client.execute_workflow(
            ChatWorkflow.run, ChatRequest(prompt=args.prompt), id=f"demo-chat-{uuid.uuid4()}",
            task_queue=task_queue, execution_timeout=timedelta(minutes=5))
        print(f"ChatWorkflow result: {answer}", flush=True)


def main() -> int:
    args = parse_args()
    # SIGTERM cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    task_queue = "demo"
    try:
        with contextlib.ExitStack() as cleanup:
            # Each Background makes its temp dir when created; holding Ctrl-C until its
            # cleanup is registered means no moment leaves one behind.
            with interrupts_deferred():
                server = DevServer()
                cleanup.callback(server.close)
            server.start()
            print(f"--- Temporal dev server on {server.address}", flush=True)
            with interrupts_deferred():
                worker = WorkerProcess({spec.TEMPORAL_ADDRESS.env: server.address,
                                        spec.TASK_QUEUE.env: task_queue,
                                        spec.LOG_FORMAT.env: "plain"}, show_output=True)
                cleanup.callback(worker.close)
            worker.start()
            worker.wait_ready()
            print(f"--- worker ready: http://127.0.0.1:{worker.health_port}"
                  f"{contract.READINESS_PATH} (liveness {contract.LIVENESS_PATH}), metrics "
                  f"http://127.0.0.1:{worker.metrics_port}{contract.METRICS_PATH}", flush=True)
            asyncio.run(run_workflows(server.address, task_queue, args))
            if args.keep_running:
                print("--- running; Ctrl-C stops the worker and the server", flush=True)
                while True:
                    signal.pause()
            worker.terminate(timeout=contract.termination_grace_period_seconds(
                spec.GRACEFUL_SHUTDOWN_SECONDS.default))
            print("--- stopping the dev server", flush=True)
    except KeyboardInterrupt:
        print("--- interrupted: the worker and the dev server are stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
