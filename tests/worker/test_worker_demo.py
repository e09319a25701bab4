"""The README's local demo command runs end to end and cleans up after itself, Ctrl-C included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

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


# Ctrl-C at these moments: seconds after the start (the shell's setup, imports, the server's
# start-up), or when a line appears (server up and the worker starting; worker ready and the
# workflow running; --keep-running idling).
INTERRUPT_MOMENTS = [
    *(pytest.param(seconds, id=f"after-{seconds}s") for seconds in (0.2, 0.5, 0.8, 1.0, 1.5, 2.0)),
    pytest.param("--- Temporal dev server on", id="server-up"),
    pytest.param("--- worker ready", id="worker-ready"),
    pytest.param("--- running;", id="keep-running"),
]


class _Lines:
    """The demo's combined output, read by a thread so the test can wait for a line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, prefix: str, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(
                    lambda: any(line.startswith(prefix) for line in self.lines), timeout):
                raise AssertionError(f"no line {prefix!r} within {timeout}s:\n{self.text()}")

    def text(self) -> str:
        return "".join(self.lines)[-3000:]


def _processes_mentioning(text: str) -> dict[int, str]:
    """pid -> command line of every process whose command line or environment holds `text`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if text in cmdline or text in environ:
            found[int(entry.name)] = cmdline.strip()
    return found


@pytest.mark.parametrize("moment", INTERRUPT_MOMENTS)
def test_ctrl_c_at_any_moment_leaves_no_process_and_no_temp_dir(tmp_path, moment):
    """SIGINT to the demo's process group, as a terminal's Ctrl-C sends it. TMPDIR is this
    test's own directory, so every process the demo starts carries it in its environment and
    every temp dir it makes lands in it."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    args = ["--keep-running"] if moment == "--- running;" else []
    demo = subprocess.Popen(["bash", "scripts/demo.sh", *args], cwd=REPO,
                            env=clean_env(TMPDIR=str(tmpdir)), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = _Lines(demo)
    try:
        if isinstance(moment, float):
            time.sleep(moment)
        else:
            lines.wait_for(moment, 120)
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the demo did not exit within 60s of Ctrl-C:\n{lines.text()}")
        left = _processes_mentioning(str(tmpdir))
        assert not left, f"processes left after Ctrl-C at {moment}: {left}\n{lines.text()}"
        assert not list(tmpdir.iterdir()), \
            f"left in TMPDIR after Ctrl-C at {moment}: {list(tmpdir.iterdir())}\n{lines.text()}"
    finally:
        # Whatever this test started and left, by pid.
        for pid in [demo.pid, *_processes_mentioning(str(tmpdir))]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        demo.wait(timeout=10)


@pytest.mark.parametrize("nth", [1, 2], ids=["dev-server-dir", "worker-dir"])
def test_ctrl_c_just_after_a_temp_dir_is_made_leaves_it_removed(tmp_path, monkeypatch, nth):
    """The narrowest moment: the demo's nth temp dir exists and nothing owns it yet. Timing
    from outside cannot hit it, so the Ctrl-C comes from inside mkdtemp, in process."""
    from tools import demo

    real = tempfile.mkdtemp
    made = []

    def mkdtemp_then_ctrl_c(*args, **kwargs):
        path = real(*args, **kwargs)
        made.append(path)
        if len(made) == nth:
            signal.raise_signal(signal.SIGINT)  # handled right here
        return path

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp_then_ctrl_c)
    monkeypatch.setattr(sys, "argv", ["scripts/demo.sh"])
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        assert demo.main() == 0
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert len(made) == nth
    assert not list(tmp_path.iterdir()), f"left behind: {list(tmp_path.iterdir())}"
