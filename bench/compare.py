"""Benchmark: this worker (`python -m worker`) on its defaults against a bare temporalio worker on
the SDK's defaults, same workflows, same dev server, same machine.

Usage: .venv/bin/python -m bench.compare [--workflows 300] [--rounds 3] [--sleepy-workflows 300]
       [--activity-seconds 10] [--cpu-pressure] [--variant NAME:setting=value,...]
Each round runs every worker back to back on fresh task queues (bench/measure.py says what is
measured); the targets are checked on the median of the per-round ratios, which is robust to
load from other processes. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import temporalio
from temporalio.client import Client

import temporal_worker_spec.settings as spec
from bench.measure import BARE, THIS, Candidate, Figures, Load, measure
from tools.devserver import DevServer, temporal_cli
from tools.procs import Background
from tools.worker_process import REPO

QUIET_SLEEPY_TARGET = 1.1
PRESSURE_SLEEPY_TARGET = 1.0
CPU_HOG_CODE = "while True: pass  # bench.compare --cpu-pressure"


@contextmanager
def cpu_pressure(on: bool) -> Iterator[None]:
    """A CPU-bound process sharing the machine for the whole run (when `on`)."""
    if not on:
        yield
        return
    with Background("cpu-hog", [sys.executable, "-c", CPU_HOG_CODE]):
        yield


def precompile() -> None:
    """Bytecode for the workflow code, as the image has it (its Dockerfile compiles /app): the
    sandbox re-imports the workflow module for every new workflow, and without a .pyc each
    re-import compiles the source again (a cost no deployed worker pays)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "worker", "bench"], cwd=REPO,
                   check=True)


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """`NAME:setting=value,...` -> (NAME, {setting: value}); settings are the spec's names."""
    name, _, assignments = text.partition(":")
    overrides = {}
    for assignment in filter(None, assignments.split(",")):
        key, sep, value = assignment.partition("=")
        if not sep or key not in spec.BY_NAME or not spec.BY_NAME[key].env:
            raise argparse.ArgumentTypeError(f"--variant {text!r}: {key!r} is not a worker "
                                             "setting (use the spec's names, e.g. maxPollers)")
        overrides[key] = value
    if not name or name in (BARE, THIS):
        raise argparse.ArgumentTypeError(f"--variant {text!r}: give it a name other than "
                                         f"{BARE!r} and {THIS!r}")
    return name, overrides


async def run(load: Load, rounds: int, variants: dict[str, dict[str, str]]
              ) -> dict[str, list[Figures]]:
    with DevServer() as server:
        client = await Client.connect(server.address)
        names = [BARE, THIS, *variants]
        results: dict[str, list[Figures]] = {name: [] for name in names}
        for i in range(rounds):
            # Rotate the order so no worker always runs on a warmer server.
            order = names[i % len(names):] + names[:i % len(names)]
            for name in order:
                candidate = Candidate(name, server.address, variants.get(name))
                figures = await measure(candidate, client, load)
                results[name].append(figures)
                print(f"round {i + 1} {name:>8}: ready {figures.ready_seconds:.2f}s, "
                      f"idle RSS {figures.idle_rss_mib:.1f} MiB, {figures.throughput:.1f} wf/s "
                      f"({figures.cpu_cores:.2f} cores), "
                      f"sleepy {figures.sleepy_throughput:.1f} wf/s (schedule-to-start p50 "
                      f"{figures.percentile(50):.0f} ms, p99 {figures.percentile(99):.0f} ms, "
                      f"peak RSS {figures.peak_rss_mib:.0f} MiB, CPU "
                      f"{figures.sleepy_cpu_cores:.2f} cores), SIGTERM->exit "
                      f"{figures.sigterm_exit_seconds:.2f}s (exit code {figures.exit_code})",
                      flush=True)
    return results


def median(runs: list[Figures], value: Callable[[Figures], float]) -> float:
    return statistics.median(value(f) for f in runs)


def ratios(this: list[Figures], bare: list[Figures],
           value: Callable[[Figures], float]) -> list[float]:
    """Per-round ratios: each pair ran back to back, so background load mostly cancels out,
    unlike a ratio of medians taken across rounds."""
    return sorted(value(t) / value(b) for t, b in zip(this, bare))


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x bare (rounds {values[0]:.2f}-{values[-1]:.2f})"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def report(results: dict[str, list[Figures]], load: Load, pressure: bool) -> bool:
    """Print the tables; True when every target is met."""
    bare, this = results[BARE], results[THIS]

    def throughput(f: Figures) -> float: return f.throughput
    def sleepy(f: Figures) -> float: return f.sleepy_throughput
    def p50(f: Figures) -> float: return f.percentile(50)
    def p99(f: Figures) -> float: return f.percentile(99)
    def ready(f: Figures) -> float: return f.ready_seconds

    sleepy_target = PRESSURE_SLEEPY_TARGET if pressure else QUIET_SLEEPY_TARGET
    rss_delta = statistics.median(t.idle_rss_mib - b.idle_rss_mib for t, b in zip(this, bare))
    sleepy_name = (f"Throughput, {load.sleepy_workflows} workflows whose activity sleeps "
                   f"{load.activity_seconds:g} s (workflows/s)")

    def row(name: str, value: Callable[[Figures], float], fmt: str, target: str | None = None,
            bound: float | None = None, higher_is_better: bool = True) -> tuple:
        values = ratios(this, bare, value)
        met = None if bound is None else (statistics.median(values) >= bound
                                          if higher_is_better
                                          else statistics.median(values) <= bound)
        return (name, format(median(bare, value), fmt), format(median(this, value), fmt),
                spread(values), target or "(no target)", met)

    checks = [
        row(f"Throughput, {load.workflows} one-activity workflows (workflows/s)", throughput,
            ".1f", ">= 0.95x bare", 0.95),
        row(sleepy_name, sleepy, ".1f", f">= {sleepy_target}x bare", sleepy_target),
        row("Workflow-task schedule-to-start p50, that load (ms)", p50, ".0f"),
        row("Workflow-task schedule-to-start p99, that load (ms)", p99, ".0f",
            *((None, None) if pressure else ("<= bare (1.00x)", 1.0)), higher_is_better=False),
        row("Start to first poll listed by the server (s)", ready, ".2f", "<= 1.2x bare", 1.2,
            higher_is_better=False),
        ("Start to /readyz 200 (s)", "-", f"{median(this, lambda f: f.readyz_seconds):.2f}",
         "", "(no target)", None),
        ("Idle RSS (MiB)", f"{median(bare, lambda f: f.idle_rss_mib):.1f}",
         f"{median(this, lambda f: f.idle_rss_mib):.1f}", f"bare {rss_delta:+.1f} MiB",
         "<= bare + 15 MiB", rss_delta <= 15),
        row("Peak RSS, after both loads (MiB)", lambda f: f.peak_rss_mib, ".0f"),
        row("Worker CPU during the one-activity load (cores)", lambda f: f.cpu_cores, ".2f"),
        row("Worker CPU during the sleepy load (cores)", lambda f: f.sleepy_cpu_cores, ".2f"),
        row("SIGTERM to exit, 1 activity in flight (s)", lambda f: f.sigterm_exit_seconds,
            ".2f"),
    ]
    rounds = len(bare)
    print()
    print(f"Date {datetime.date.today().isoformat()}, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"Python {platform.python_version()}, temporalio {temporalio.__version__}, "
          f"{temporal_version()}, {rounds} rounds, "
          f"{'with' if pressure else 'without'} a CPU-bound process alongside; medians")
    print()
    print("| Figure | Bare temporalio worker | This worker | Relative (median per round) "
          "| Target | Met |")
    print("|---|---|---|---|---|---|")
    for name, b, t, relative, target, met in checks:
        print(f"| {name} | {b} | {t} | {relative} | {target} | "
              f"{'-' if met is None else ('yes' if met else 'NO')} |")
    print()
    for name, runs in (("bare temporalio worker", bare), ("this worker", this)):
        bad = [f.exit_code for f in runs if f.exit_code != 0]
        print(f"Exit after SIGTERM, {name}: {len(runs) - len(bad)} of {len(runs)} exited 0"
              + (f"; others: {bad}" if bad else ""))
    if len(results) > 2:
        print()
        print(f"| Worker | {sleepy_name} | relative | schedule-to-start p50 / p99 (ms) "
              "| peak RSS (MiB) | CPU (cores) | one-activity throughput, relative |")
        print("|---|---|---|---|---|---|---|")
        for name, runs in results.items():
            print(f"| {name} | {median(runs, sleepy):.1f} | {spread(ratios(runs, bare, sleepy))} "
                  f"| {median(runs, p50):.0f} / {median(runs, p99):.0f} "
                  f"| {median(runs, lambda f: f.peak_rss_mib):.0f} "
                  f"| {median(runs, lambda f: f.sleepy_cpu_cores):.2f} "
                  f"| {spread(ratios(runs, bare, throughput))} |")
    return all(met is not False for *_, met in checks)


def temporal_version() -> str:
    out = subprocess.run([temporal_cli(), "--version"], capture_output=True, text=True).stdout
    return out.strip().replace("temporal version", "temporal CLI") or "temporal CLI unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workflows", type=int, default=300,
                        help="one-activity workflows started at once per throughput run "
                             "(default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds, each running every worker (default: %(default)s)")
    parser.add_argument("--sleepy-workflows", type=int, default=300,
                        help="workflows started at once whose activity sleeps "
                             "(default: %(default)s)")
    parser.add_argument("--activity-seconds", type=float, default=10,
                        help="how long each of those activities sleeps (default: %(default)s)")
    parser.add_argument("--cpu-pressure", action="store_true",
                        help="run a CPU-bound process alongside; the sleepy-load target becomes "
                             f">= {PRESSURE_SLEEPY_TARGET}x bare and p99 has none")
    parser.add_argument("--variant", type=parse_variant, action="append", default=[],
                        metavar="NAME:setting=value,...",
                        help="also measure this worker with these settings (repeatable)")
    args = parser.parse_args()
    load = Load(args.workflows, args.sleepy_workflows, args.activity_seconds)
    precompile()
    with cpu_pressure(args.cpu_pressure):
        results = asyncio.run(run(load, args.rounds, dict(args.variant)))
    return 0 if report(results, load, args.cpu_pressure) else 1


if __name__ == "__main__":
    sys.exit(main())
