"""Tests of one `xdist_group` run in one worker under `--dist loadgroup`, so they share their
module's fixtures (one server, one Prometheus) and the image tests never run side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GROUPED = textwrap.dedent("""
    import os
    from pathlib import Path

    import pytest


    def ran(group, n):
        worker = os.environ["PYTEST_XDIST_WORKER"]
        (Path(os.environ["GROUPS_OUT"]) / f"{group}-{n}").write_text(worker)

    pytestmark = pytest.mark.xdist_group("shared")

    @pytest.mark.parametrize("n", range(6))
    def test_grouped(n):
        ran("shared", n)

    @pytest.mark.parametrize("n", range(6))
    @pytest.mark.xdist_group("other")
    def test_other_group(n):
        ran("other", n)
""")


def test_the_tests_of_a_group_run_in_one_worker(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(tmp_path / "pytest.ini"),
         "--rootdir", str(tmp_path), "-p", "tests.support.xdist_groups", "-n", "3",
         "--dist", "loadgroup", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=REPO, env={**os.environ, "GROUPS_OUT": str(out)}, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    ran = {path.name: path.read_text() for path in out.iterdir()}
    grouped = {worker for test, worker in ran.items() if test.startswith("shared")}
    other = {worker for test, worker in ran.items() if test.startswith("other")}
    assert len(ran) == 12, result.stdout
    assert len(grouped) == 1 and len(other) == 1, \
        f"a group ran on several workers: shared {grouped}, other {other}"
