"""Benchmark: this worker (`python -m worker`) against a bare temporalio worker, same workflows,
same dev server, same machine. Prints throughput, idle RSS, time to ready and SIGTERM-to-exit.

Usage: .venv/bin/python -m bench.compare [--workflows N] [--rounds N] (defaults below)
Each round runs both workers back to back on fresh task queues; the targets are checked on
the median of the per-round ratios, which is robust to load from other processes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import http.client
import os
import platform
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from tools.devserver import DevServer
from tools.procs import Background
from tools.worker_process import REPO, WorkerProcess, clean_env
from worker.activities import BatchRequest
from worker.workflows import BatchWorkflow

GRACEFUL_SECONDS = 30
# Lets start-up garbage settle before idle RSS is sampled.
IDLE_SETTLE_SECONDS = float(os.environ.get("BENCH_IDLE_SETTLE", "3"))


@dataclass
class Figures:
    ready_seconds: float
    idle_rss_mib: float
    throughput: float
    sigterm_exit_seconds: float
    exit_code: int


class Candidate:
    """How to start one kind of worker and tell when it is ready."""

    def __init__(self, name: str, address: str) -> None:
        self.name, self.address = name, address

    def start(self, task_queue: str) -> tuple[Background, Callable[[], bool]]:
        if self.name == "bare":
            process = Background("bare-worker", [
                sys.executable, "-m", "bench.bare_worker", self.address, task_queue,
                str(GRACEFUL_SECONDS)], env=clean_env(), cwd=REPO).start()
            # The bare worker is ready when it says so (after `async with worker` entered).
            return process, lambda: "READY" in process.output()
        worker = WorkerProcess({spec.TEMPORAL_ADDRESS.env: self.address,
                                spec.TASK_QUEUE.env: task_queue,
                                spec.GRACEFUL_SHUTDOWN_SECONDS.env: str(GRACEFUL_SECONDS)}).start()

        def ready() -> bool:
            # http.client, not httpx: a poll every 10 ms must not steal CPU from the start-up
            # being measured.
            connection = http.client.HTTPConnection("127.0.0.1", worker.health_port, timeout=1)
            try:
                connection.request("GET", contract.READINESS_PATH)
                return connection.getresponse().status == 200
            except OSError:
                return False
            finally:
                connection.close()

        return worker, ready


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def throughput(client: Client, task_queue: str, count: int) -> float:
    async def one(i: int) -> None:
        await client.execute_workflow(BatchWorkflow.run, BatchRequest(name=str(i), items=1),
                                      id=f"bench-{uuid.uuid4()}", task_queue=task_queue,
                                      execution_timeout=timedelta(minutes=5))

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - started)


async def sigterm_exit(client: Client, process: Background,
                       task_queue: str) -> tuple[float, int]:
    """Seconds from SIGTERM to exit, and the exit code, while a 3-second activity runs."""
    handle = await client.start_workflow(
        BatchWorkflow.run, BatchRequest(name="inflight", items=3, seconds_per_item=1.0),
        id=f"bench-inflight-{uuid.uuid4()}", task_queue=task_queue)
    deadline = time.monotonic() + 60
    while True:
        pending = (await handle.describe()).raw_description.pending_activities
        if any(a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for a in pending):
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the in-flight activity never started")
        await asyncio.sleep(0.05)
    sent = time.perf_counter()
    process.signal(signal.SIGTERM)
    code = await asyncio.to_thread(process.wait, GRACEFUL_SECONDS + 15)
    return time.perf_counter() - sent, code


async def measure(candidate: Candidate, client: Client, count: int) -> Figures:
    task_queue = f"bench-{candidate.name}-{uuid.uuid4()}"
    started = time.perf_counter()
    process, ready = candidate.start(task_queue)
    try:
        await asyncio.to_thread(process.wait_until, ready, 120, f"{candidate.name} worker ready",
                                0.01)
        ready_seconds = time.perf_counter() - started
        await asyncio.sleep(IDLE_SETTLE_SECONDS)
        idle = rss_mib(process.process.pid)
        rate = await throughput(client, task_queue, count)
        exit_seconds, code = await sigterm_exit(client, process, task_queue)
        return Figures(ready_seconds, idle, rate, exit_seconds, code)
    finally:
        process.close()


async def run(count: int, rounds: int) -> dict[str, list[Figures]]:
    with DevServer() as server:
        client = await Client.connect(server.address)
        results: dict[str, list[Figures]] = {"bare": [], "this": []}
        for i in range(rounds):
            # Alternate the order so neither side always runs on a warmer server.
            order = ["bare", "this"] if i % 2 == 0 else ["this", "bare"]
            for name in order:
                figures = await measure(Candidate(name, server.address), client, count)
                results[name].append(figures)
                print(f"round {i + 1} {name:>4}: ready {figures.ready_seconds:.2f}s, "
                      f"idle RSS {figures.idle_rss_mib:.1f} MiB, "
                      f"{figures.throughput:.1f} wf/s, SIGTERM->exit "
                      f"{figures.sigterm_exit_seconds:.2f}s (exit code {figures.exit_code})",
                      flush=True)
    return results


def median(runs: list[Figures], field: str) -> float:
    return statistics.median(getattr(f, field) for f in runs)


def ratios(this: list[Figures], bare: list[Figures], field: str) -> list[float]:
    """Per-round ratios: each pair ran back to back, so background load mostly cancels out,
    unlike a ratio of medians taken across rounds."""
    return sorted(getattr(t, field) / getattr(b, field) for t, b in zip(this, bare))


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x bare (rounds {values[0]:.2f}-{values[-1]:.2f})"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workflows", type=int, default=300,
                        help="workflows started at once per throughput run (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds, each running both workers (default: %(default)s)")
    args = parser.parse_args()
    results = asyncio.run(run(args.workflows, args.rounds))
    bare, this = results["bare"], results["this"]
    throughput_ratios = ratios(this, bare, "throughput")
    ready_ratios = ratios(this, bare, "ready_seconds")
    throughput_ratio = statistics.median(throughput_ratios)
    ready_ratio = statistics.median(ready_ratios)
    rss_delta = statistics.median(t.idle_rss_mib - b.idle_rss_mib for t, b in zip(this, bare))
    checks = [
        ("Throughput (workflows/s)", f"{median(bare, 'throughput'):.1f}",
         f"{median(this, 'throughput'):.1f}", spread(throughput_ratios), ">= 0.95x bare",
         throughput_ratio >= 0.95),
        ("Idle RSS (MiB)", f"{median(bare, 'idle_rss_mib'):.1f}",
         f"{median(this, 'idle_rss_mib'):.1f}", f"bare {rss_delta:+.1f} MiB", "<= bare + 15 MiB",
         rss_delta <= 15),
        ("Start to ready (s)", f"{median(bare, 'ready_seconds'):.2f}",
         f"{median(this, 'ready_seconds'):.2f}", spread(ready_ratios), "<= 1.5x bare",
         ready_ratio <= 1.5),
        ("SIGTERM to exit, 1 activity in flight (s)",
         f"{median(bare, 'sigterm_exit_seconds'):.2f}",
         f"{median(this, 'sigterm_exit_seconds'):.2f}", "", "(no target)", None),
    ]
    print()
    print(f"Date {datetime.date.today().isoformat()}, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"Python {platform.python_version()}, {args.workflows} workflows x {args.rounds} "
          "rounds, medians")
    print()
    print("| Figure | Bare temporalio worker | This worker | Relative (median per round) "
          "| Target | Met |")
    print("|---|---|---|---|---|---|")
    for name, b, t, relative, target, met in checks:
        print(f"| {name} | {b} | {t} | {relative} | {target} | "
              f"{'-' if met is None else ('yes' if met else 'NO')} |")
    for name, runs in (("bare temporalio worker", bare), ("this worker", this)):
        bad = [f.exit_code for f in runs if f.exit_code != 0]
        print(f"Exit after SIGTERM, {name}: {len(runs) - len(bad)} of {len(runs)} exited 0"
              + (f"; others: {bad}" if bad else ""))
    return 0 if all(met is not False for *_, met in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
