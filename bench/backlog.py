"""Benchmark: how long a fixed backlog takes to drain with 1 worker and with the count KEDA's
rule computes from it, on a real dev server with real worker processes.

Usage: .venv/bin/python -m bench.backlog [--workflows 200] [--seconds 0.5] [--slots 2]
    [--target 25] [--max 4]

Each workflow runs one activity of `--seconds`; each worker runs at most `--slots` activities at
once (WORKER_MAX_CONCURRENT_ACTIVITIES), standing in for a pod's limited capacity. For each
worker count, the workflows are started with no worker polling, the backlog is read the way
KEDA's Temporal scaler reads it (DescribeTaskQueue with stats), then the workers start and the
time until every workflow has completed is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import sys
import time
import uuid
from datetime import timedelta

from temporalio.client import Client

import temporal_worker_spec.settings as spec
from temporal_worker_k8s.production import desired_replicas
from tools.backlog import wait_backlog
from tools.devserver import DevServer
from tools.worker_process import WorkerProcess, queue_env
from worker.activities import BatchRequest
from worker.workflows import BatchWorkflow


async def fill(client: Client, task_queue: str, count: int, seconds: float) -> list:
    return await asyncio.gather(*(client.start_workflow(
        BatchWorkflow.run, BatchRequest(name=str(i), items=1, seconds_per_item=seconds),
        id=f"backlog-{uuid.uuid4()}", task_queue=task_queue,
        execution_timeout=timedelta(minutes=30)) for i in range(count)))


async def drain(server: DevServer, workers: int, args: argparse.Namespace) -> tuple[int, float]:
    """(backlog seen before the workers started, seconds until all workflows completed)."""
    client = await Client.connect(server.address)
    task_queue = f"backlog-{uuid.uuid4()}"
    handles = await fill(client, task_queue, args.workflows, args.seconds)
    # The backlog once the server's approximate stats have caught up (at most 30 s).
    seen = await wait_backlog(client, task_queue, lambda b: b >= args.workflows * 0.9, 30)
    env = queue_env(server.address, task_queue,
                    **{spec.MAX_CONCURRENT_ACTIVITIES.env: str(args.slots)})
    started = time.monotonic()
    with contextlib.ExitStack() as running:
        for _ in range(workers):
            # Drained with SIGTERM, then closed; a worker that failed to start is closed too.
            running.callback(running.enter_context(WorkerProcess(env)).terminate)
        await asyncio.gather(*(h.result() for h in handles))
        return seen, time.monotonic() - started


async def main(args: argparse.Namespace) -> int:
    with DevServer() as server:
        seen, one = await drain(server, 1, args)
        computed = desired_replicas(seen, args.target, 1, args.max)
        seen_again, many = await drain(server, computed, args)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"{args.workflows} workflows x one {args.seconds:g} s activity, {args.slots} activity "
          f"slots per worker, targetQueueSize {args.target}, maxReplicas {args.max}")
    print("| workers | backlog seen | drain time (s) | workflows/s |")
    print("|---|---|---|---|")
    print(f"| 1 | {seen} | {one:.1f} | {args.workflows / one:.1f} |")
    print(f"| {computed} (= min(ceil({seen} / {args.target}), {args.max})) | {seen_again} | "
          f"{many:.1f} | {args.workflows / many:.1f} |")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.backlog", description=__doc__)
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--target", type=int, default=25)
    parser.add_argument("--max", type=int, default=4)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
