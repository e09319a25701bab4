"""bench/compare.py runs every measurement and option end to end at a tiny size (a code path
check, not a benchmark): both workers, a variant, the sleepy load with schedule-to-start from
history, the CPU-bound process, and an exit code that follows the targets."""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys

import pytest

from bench import compare, measure
from tools.worker_process import REPO, clean_env

ROWS = ("Throughput, 3 one-activity workflows", "Throughput, 3 workflows whose activity sleeps",
        "Workflow-task schedule-to-start p50", "Workflow-task schedule-to-start p99",
        "Start to first poll listed by the server", "Start to /readyz 200", "Idle RSS",
        "Peak RSS", "Worker CPU during the one-activity load",
        "Worker CPU during the sleepy load", "SIGTERM to exit")


def hog_pids() -> set[int]:
    """Processes running the CPU-bound loop compare.py starts."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read().split(b"\0")[-2:-1] == [compare.CPU_HOG_CODE.encode()]:
                    found.add(int(entry))
        except (OSError, ValueError):
            continue
    return found


@pytest.mark.slow
def test_compare_runs_every_measurement_and_option_at_a_tiny_size():
    hogs_before = hog_pids()
    result = subprocess.run(
        [sys.executable, "-m", "bench.compare", "--workflows", "3", "--rounds", "1",
         "--sleepy-workflows", "3", "--activity-seconds", "0.2", "--cpu-pressure",
         "--variant", "fixed2:pollerBehavior=fixed,maxPollers=2"],
        cwd=REPO, env=clean_env(BENCH_IDLE_SETTLE="0"), capture_output=True, text=True,
        timeout=240)
    out = result.stdout
    assert result.returncode in (0, 1), f"exit {result.returncode}:\n{out}\n{result.stderr}"
    assert "with a CPU-bound process alongside" in out, out
    table = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 6:
            table[cells[0]] = cells
    for name in ROWS:
        row = next((cells for key, cells in table.items() if key.startswith(name)), None)
        assert row, f"no {name!r} row:\n{out}"
        assert re.fullmatch(r"[\d.]+", row[2]), f"{name}: this worker's value {row[2]!r}"
        if name != "Start to /readyz 200":
            assert re.fullmatch(r"[\d.]+", row[1]), f"{name}: bare worker's value {row[1]!r}"
    missed = [cells[0] for cells in table.values() if cells[5] == "NO"]
    assert (result.returncode == 1) == bool(missed), (
        f"exit {result.returncode} but targets missed: {missed}\n{out}")
    variants = re.findall(r"^\| (bare|this|fixed2) \| [\d.]+ \|", out, re.M)
    assert variants == ["bare", "this", "fixed2"], out
    assert "Exit after SIGTERM, this worker: 1 of 1 exited 0" in out, out
    assert hog_pids() <= hogs_before, "the CPU-bound process outlived the run"


def test_a_variant_names_settings_of_the_spec():
    assert compare.parse_variant("fixed5:pollerBehavior=fixed,maxPollers=5") == (
        "fixed5", {"pollerBehavior": "fixed", "maxPollers": "5"})
    with pytest.raises(argparse.ArgumentTypeError, match="'maxPoller' is not a worker setting"):
        compare.parse_variant("x:maxPoller=5")
    with pytest.raises(argparse.ArgumentTypeError, match="a name other than"):
        compare.parse_variant("bare:maxPollers=5")


def test_percentiles_of_schedule_to_start():
    values = [float(v) for v in range(1, 101)]
    assert measure.percentile(values, 50) == pytest.approx(50.5)
    assert measure.percentile(values, 99) == pytest.approx(99.01)
    assert measure.percentile([7.0], 99) == 7.0
    assert math.isnan(measure.percentile([], 50))
