"""Background processes for demos, benchmarks and tests: free ports, polling, and one wrapper.

`Background` is the only process wrapper: the Temporal dev server, the Caddy mTLS front, the
image tests' registry and the worker process are each a `Background` with their own command
and readiness check. It starts the command in its own session with output in a log file,
waits for readiness while failing fast if the process dies, and stops the whole process group
(SIGTERM, then SIGKILL) and removes its work directory on exit, Ctrl-C included.
`interrupts_deferred` holds Ctrl-C back while something is acquired and recorded for cleanup.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_ports(count: int) -> list[int]:
    """`count` different TCP ports that were free on 127.0.0.1 a moment ago. Held open together
    while picked: one at a time, the kernel may hand out the same port twice."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    return free_ports(1)[0]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(condition: Callable[[], T], timeout: float, what: str,
             interval: float = 0.1) -> T:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


async def wait_for_async(condition: Callable[[], T | Awaitable[T]], timeout: float, what: str,
                         interval: float = 0.1) -> T:
    """`wait_for` for async code: `condition` may return an awaitable, and the wait yields to
    the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them.

    For short steps that create something (a temp dir, a child process) and record it for
    cleanup: an interrupt between the two would leave it behind. Python runs signal handlers in
    the main thread only, so elsewhere this does nothing (and nothing needs deferring).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    # A handler installed outside Python (getsignal() is None) cannot be put back; leave it.
    previous = {sig: handler for sig, handler in previous.items() if handler is not None}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(received):
            signal.raise_signal(sig)


class Background:
    """A command running in the background until `close()` (or the end of a `with` block)."""

    def __init__(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                 cwd: str | Path | None = None, workdir: str | Path | None = None,
                 show_output: bool = False) -> None:
        self.name = name
        self.show_output = show_output
        """Let the output through to this terminal instead of the log file (for demos)."""
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"{name}-"))
        self.log_file = self.workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self._final_output: str | None = None

    def start(self, ready: Callable[[], bool] | None = None, timeout: float = 60) -> Background:
        """Start the command and wait until `ready()` holds (no wait when None).

        If that fails or is interrupted (Ctrl-C included), nothing is left behind.
        """
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            # Ctrl-C inside Popen, after the fork, would lose the only handle on the child.
            with interrupts_deferred(), open(self.log_file, "ab") as log:
                self.process = subprocess.Popen(
                    self.argv, stdout=None if self.show_output else log,
                    stderr=None if self.show_output else subprocess.STDOUT, env=self.env,
                    cwd=self.cwd, start_new_session=True)
            if ready is not None:
                self.wait_until(ready, timeout)
        except BaseException:
            self.close()
            raise
        return self

    def wait_until(self, ready: Callable[[], T], timeout: float, what: str | None = None,
                   interval: float = 0.1) -> T:
        """Poll `ready()` while the process runs; RuntimeError with its output if it exits,
        TimeoutError with its output after `timeout`."""
        def alive_and_ready() -> T:
            if not self.running():
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.excerpt()}")
            return ready()

        try:
            return wait_for(alive_and_ready, timeout, what or self.name, interval)
        except TimeoutError as err:
            raise TimeoutError(f"{err}\n{self.excerpt()}") from None

    def excerpt(self, each: int = 1500) -> str:
        """The output's start and end: where a crash says why, and the last thing it did."""
        text = self.output()
        if len(text) <= 2 * each:
            return text
        return f"{text[:each]}\n[... {len(text) - 2 * each} characters ...]\n{text[-each:]}"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """Everything the process wrote so far (still readable after `close()`)."""
        if self._final_output is not None:
            return self._final_output
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` to the process itself (not its children)."""
        if self.running():
            self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM the process group, SIGKILL it if it lingers; the exit code, if it ran.

        Interrupted while waiting (a second Ctrl-C), it SIGKILLs the group before re-raising.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill_group()
            except ProcessLookupError:
                pass
            except BaseException:
                self._kill_group()
                raise
        return self.process.wait(timeout=10)

    def _kill_group(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def close(self) -> None:
        """Stop and remove the work directory if this object created it."""
        try:
            self.stop()
        finally:
            if self._own_workdir:
                self._final_output = self.output()
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Background:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()
