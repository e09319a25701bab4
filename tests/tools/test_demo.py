"""The demo's run of its workflows leaves nothing behind to complain, wherever a Ctrl-C lands.

tests/worker/test_worker_demo.py sends real Ctrl-Cs to the real demo at chosen moments; these
place the interrupt exactly at the two moments a real one only hits by chance.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings

import pytest

from tools.demo import run_interruptibly


class _Complaints(logging.Handler):
    """What asyncio logs (its "unhandled exception", "never retrieved") and the RuntimeWarnings
    (a coroutine "never awaited") while the block runs, garbage collection included. Garbage
    other tests in this process left is collected first, so its warnings are not counted."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append(record.getMessage())

    def __enter__(self) -> list[str]:
        gc.collect()
        self._warnings = warnings.catch_warnings(record=True)
        self._caught = self._warnings.__enter__()
        warnings.simplefilter("always")
        logging.getLogger("asyncio").addHandler(self)
        return self.found

    def __exit__(self, *exc_info) -> None:
        gc.collect()
        logging.getLogger("asyncio").removeHandler(self)
        self._warnings.__exit__(*exc_info)
        self.found.extend(str(w.message) for w in self._caught
                          if issubclass(w.category, RuntimeWarning))


def test_a_ctrl_c_before_the_loop_runs_leaves_a_task_the_runner_cancels(monkeypatch):
    """The fresh-clone CI run's failure: Ctrl-C after the task exists, before its first step."""
    with _Complaints() as complaints:
        started = []

        async def work():
            started.append(True)

        runner = asyncio.Runner()
        loop = runner.get_loop()

        def interrupted(future):
            raise KeyboardInterrupt

        monkeypatch.setattr(loop, "run_until_complete", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_interruptibly(runner, work)
        monkeypatch.undo()
        runner.close()
        assert started == []
    assert complaints == []


def test_a_ctrl_c_inside_the_task_is_raised_once_and_not_logged_again():
    with _Complaints() as complaints:
        async def work():
            await asyncio.sleep(0)
            raise KeyboardInterrupt  # where a signal handler raises it mid-step

        runner = asyncio.Runner()
        raised = []
        try:  # not pytest.raises: its record of the exception would keep the task alive
            run_interruptibly(runner, work)
        except KeyboardInterrupt:
            raised.append(True)
        runner.close()
    assert raised == [True]
    assert complaints == []


def test_a_ctrl_c_while_the_task_waits_cancels_it_on_close():
    with _Complaints() as complaints:
        cancelled = []

        async def work():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        runner = asyncio.Runner()
        loop = runner.get_loop()
        loop.call_later(0.05, _raise_keyboard_interrupt)
        with pytest.raises(KeyboardInterrupt):
            run_interruptibly(runner, work)
        runner.close()
        assert cancelled == [True]
    assert complaints == []


def test_without_a_ctrl_c_it_returns_the_result():
    with _Complaints() as complaints:
        async def work():
            await asyncio.sleep(0)
            return 42

        with asyncio.Runner() as runner:
            assert run_interruptibly(runner, work) == 42
    assert complaints == []


def _raise_keyboard_interrupt():
    raise KeyboardInterrupt
