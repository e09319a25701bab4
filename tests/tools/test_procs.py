"""tools/procs.Background leaves no process and no work directory behind, whenever Ctrl-C comes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tools import procs
from tools.procs import Background, free_ports


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def children(monkeypatch):
    """pids of the processes Popen starts during the test; any still running are killed after."""
    pids: list[int] = []
    real = subprocess.Popen._execute_child

    def recording(self, *args, **kwargs):
        real(self, *args, **kwargs)
        pids.append(self.pid)

    monkeypatch.setattr(subprocess.Popen, "_execute_child", recording)
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_right_after_the_fork_leaves_no_child(monkeypatch, children):
    """Ctrl-C inside Popen, after the child exists and before Popen returns."""
    recording = subprocess.Popen._execute_child

    def execute_then_ctrl_c(self, *args, **kwargs):
        recording(self, *args, **kwargs)
        signal.raise_signal(signal.SIGINT)  # handled right here, in the main thread

    monkeypatch.setattr(subprocess.Popen, "_execute_child", execute_then_ctrl_c)
    background = Background("sleeper", [sys.executable, "-c", "import time; time.sleep(300)"])
    with pytest.raises(KeyboardInterrupt):
        background.start()
    assert len(children) == 1
    assert not _alive(children[0]), "the child outlived the interrupted start()"
    assert not background.workdir.exists()


def test_a_second_ctrl_c_while_stopping_kills_the_group(children):
    """A child that takes its time on SIGTERM; Ctrl-C again while close() waits for it."""
    stubborn = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('up', flush=True); time.sleep(300)")
    background = Background("stubborn", [sys.executable, "-c", stubborn])
    background.start(lambda: "up" in background.output(), timeout=30)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            background.close()
    finally:
        timer.cancel()
    assert len(children) == 1
    assert not _alive(children[0]), "the child outlived the interrupted close()"
    assert not background.workdir.exists()


def test_interrupts_deferred_delivers_ctrl_c_when_the_block_ends():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with procs.interrupts_deferred():
            signal.raise_signal(signal.SIGINT)
            done.append("rest of the block")
    assert done == ["rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ports_picked_together_always_differ():
    """A worker's health and metrics ports are picked together; picked one at a time, the
    kernel hands out the same free port twice now and then (seen in a full run: the worker
    refused to start, "must differ from WORKER_HEALTH_PORT")."""
    for _ in range(20000):
        health, metrics = free_ports(2)
        assert health != metrics
    many = free_ports(100)
    assert len(set(many)) == 100
