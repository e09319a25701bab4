"""The local demo behind scripts/demo.sh: dev server + `python -m worker` + one workflow run."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from temporalio.client import Client  # noqa: E402

from tests.support.ports import free_port, wait_for  # noqa: E402
from tests.support.temporal_server import DevServer  # noqa: E402
from worker import contract  # noqa: E402
from worker.activities import BatchRequest, ChatRequest  # noqa: E402
from worker.workflows import BatchWorkflow, ChatWorkflow  # noqa: E402


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
    health_port, metrics_port = free_port(), free_port()
    task_queue = "demo"
    worker = None
    with DevServer() as server:
        print(f"--- Temporal dev server on {server.address}", flush=True)
        try:
            env = {**os.environ, contract.ENV_ADDRESS: server.address,
                   contract.ENV_TASK_QUEUE: task_queue, contract.ENV_LOG_FORMAT: "plain",
                   contract.ENV_HEALTH_PORT: str(health_port),
                   contract.ENV_METRICS_PORT: str(metrics_port)}
            worker = subprocess.Popen([sys.executable, "-m", "worker"], cwd=REPO, env=env)
            ready_url = f"http://127.0.0.1:{health_port}{contract.READINESS_PATH}"

            def ready() -> bool:
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited with {worker.returncode}")
                try:
                    return httpx.get(ready_url, timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(ready, 60, "the worker to become ready")
            print(f"--- worker ready: {ready_url} (liveness {contract.LIVENESS_PATH}), "
                  f"metrics http://127.0.0.1:{metrics_port}{contract.METRICS_PATH}", flush=True)
            asyncio.run(run_workflows(server.address, task_queue, args))
            if args.keep_running:
                print("--- running; Ctrl-C stops the worker and the server", flush=True)
                while True:
                    signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=contract.termination_grace_period_seconds(
                    contract.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS))
            print("--- stopping the dev server", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
