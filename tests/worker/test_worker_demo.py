"""The README's local demo command runs end to end and cleans up after itself."""

from __future__ import annotations

import subprocess

import pytest

from tools.worker_process import REPO, clean_env

pytestmark = pytest.mark.slow


def test_demo_prints_the_workflow_result_and_exits_cleanly():
    result = subprocess.run(["bash", "scripts/demo.sh", "--items", "3"], cwd=REPO,
                            capture_output=True, text=True, timeout=180, env=clean_env())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "BatchWorkflow result: batch demo: processed 3 of 3 items" in result.stdout
    assert "worker stopped cleanly" in result.stdout
    assert "--- stopping the dev server" in result.stdout
