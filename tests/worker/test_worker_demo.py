"""The README's local demo command runs end to end and cleans up after itself, Ctrl-C included."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.support.package import copy_tracked
from tools.worker_process import REPO, clean_env

pytestmark = pytest.mark.slow
EXIT_INTERRUPTED = 130
"""What a shell reports for a command ended by Ctrl-C."""


def test_demo_prints_the_workflow_result_and_exits_cleanly():
    result = subprocess.run(["bash", "scripts/demo.sh", "--items", "3"], cwd=REPO,
                            capture_output=True, text=True, timeout=180, env=clean_env())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "BatchWorkflow result: batch demo: processed 3 of 3 items" in result.stdout
    assert "worker stopped cleanly" in result.stdout
    assert "--- stopping the dev server" in result.stdout


# Ctrl-C at these moments: seconds after the start (the shell's setup, Python's start-up and
# imports, the server's start-up), or when a line appears (server up and the worker starting;
# worker ready, and the workflow running; --keep-running idling).
INTERRUPT_MOMENTS = [
    *(pytest.param(seconds, id=f"after-{seconds}s")
      for seconds in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0)),
    pytest.param("--- Temporal dev server on", id="server-up"),
    pytest.param("--- worker ready", id="worker-ready"),
    # The batch runs 5 items of 0.2 s: half a second later the workflow task is in flight.
    pytest.param(("--- worker ready", 0.5), id="workflow-running"),
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
def test_ctrl_c_at_any_moment_exits_130_and_leaves_no_process_and_no_temp_dir(tmp_path, moment):
    """SIGINT to the demo's process group, as a terminal's Ctrl-C sends it: exit 130 (so a
    script can tell it from success) without a traceback. TMPDIR is this test's own directory,
    so every process the demo starts carries it in its environment and every temp dir it makes
    lands in it."""
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
            line, delay = moment if isinstance(moment, tuple) else (moment, 0)
            lines.wait_for(line, 120)
            time.sleep(delay)
        os.killpg(demo.pid, signal.SIGINT)
        try:
            code = demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the demo did not exit within 60s of Ctrl-C:\n{lines.text()}")
        assert code == EXIT_INTERRUPTED, f"exit {code} after Ctrl-C at {moment}:\n{lines.text()}"
        for word in ("Traceback", "KeyboardInterrupt"):
            assert word not in "".join(lines.lines), f"{word} after Ctrl-C at {moment}:\n" \
                                                      f"{lines.text()}"
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
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert demo.main() == EXIT_INTERRUPTED
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert len(made) == nth
    assert not list(tmp_path.iterdir()), f"left behind: {list(tmp_path.iterdir())}"


def test_help_prints_usage_and_installs_nothing(tmp_path):
    repo = tmp_path / "repo"
    copy_tracked(["."], repo)
    result = subprocess.run(["bash", "scripts/demo.sh", "--help"], cwd=repo, capture_output=True,
                            text=True, timeout=60, env=clean_env(PYTHON=sys.executable))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: scripts/demo.sh") and "--prompt" in result.stdout
    assert "installing" not in result.stdout + result.stderr
    assert not (repo / ".venv").exists(), "--help created the venv"


def test_prompt_without_a_key_stops_before_anything_starts(tmp_path):
    try:
        result = subprocess.run(["bash", "scripts/demo.sh", "--prompt", "hi"], cwd=REPO,
                                capture_output=True, text=True, timeout=60,
                                env=clean_env(TMPDIR=str(tmp_path)))
    finally:
        _kill_what_mentions(tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr == ("error: --prompt needs CHATGPT_API_KEY, the chat API key "
                             "(CHATGPT_BASE_URL and CHATGPT_MODEL are honoured too); nothing "
                             "was started\n")
    assert "--- Temporal dev server" not in result.stdout
    assert not list(tmp_path.iterdir())


def _kill_what_mentions(tmpdir: Path) -> None:
    """SIGKILL every process whose command line or environment holds `tmpdir` (the demo's
    TMPDIR): whatever a failed test left, by pid."""
    for pid in _processes_mentioning(str(tmpdir)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_prompt_runs_the_chat_workflow_with_the_users_key(chat_server, tmp_path):
    chat_server.reply = "Hello from the fake model."
    try:
        result = subprocess.run(
            ["bash", "scripts/demo.sh", "--items", "1", "--prompt", "Say hello"], cwd=REPO,
            capture_output=True, text=True, timeout=180,
            env=clean_env(CHATGPT_API_KEY="sk-demo-test", CHATGPT_BASE_URL=chat_server.base_url,
                          CHATGPT_MODEL="demo-model", TMPDIR=str(tmp_path)))
    finally:
        _kill_what_mentions(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ChatWorkflow result: Hello from the fake model." in result.stdout
    [request] = chat_server.requests
    assert request["headers"]["Authorization"] == "Bearer sk-demo-test"
    assert request["body"]["model"] == "demo-model"
    assert request["body"]["messages"][-1] == {"role": "user", "content": "Say hello"}
    assert "sk-demo-test" not in result.stdout + result.stderr


def test_keep_running_says_how_to_reach_the_dev_server_and_the_command_works(tmp_path):
    demo = subprocess.Popen(["bash", "scripts/demo.sh", "--items", "1", "--keep-running"],
                            cwd=REPO, env=clean_env(TMPDIR=str(tmp_path)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines = _Lines(demo)
    try:
        lines.wait_for("--- running;", 120)
        [hint] = [line for line in lines.lines if line.startswith("--- the dev server is at ")]
        address = hint.split()[6]
        assert re.fullmatch(r"127\.0\.0\.1:\d+", address), hint
        command = hint.split("try: ", 1)[1].split()
        assert command[:3] == [".venv/bin/temporal", "workflow", "list"], hint
        assert command[-2:] == ["--address", address], hint
        listed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert "demo-batch-" in listed.stdout and "Completed" in listed.stdout, listed.stdout
        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=60) == EXIT_INTERRUPTED, lines.text()
    finally:
        _kill_what_mentions(tmp_path)
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(timeout=10)
