"""The local demo behind scripts/demo.sh: dev server + `python -m worker` + one workflow run."""

# Only the standard library at the top: `--help` works before the demo's venv exists, and a
# Ctrl-C while the heavy modules load is handled like any other (exit 130, no traceback).
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Coroutine

REPO = Path(__file__).resolve().parents[1]
EXIT_INTERRUPTED = 128 + signal.SIGINT
"""What a shell reports for a command ended by Ctrl-C; a script can tell it from success."""
READY_PID_VARIABLE = "DEMO_READY_PID"
"""Set by scripts/demo.sh: the pid to send SIGUSR1 once Ctrl-C is handled."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.sh", description="Local demo, no account needed: a Temporal dev "
        "server on a free port, the worker (python -m worker) against it, and the sample "
        "workflow. Ctrl-C stops everything (exit 130).")
    parser.add_argument("--items", type=int, default=5, help="items in the sample batch")
    parser.add_argument("--prompt", help="also run ChatWorkflow with this prompt (needs "
                        "CHATGPT_API_KEY; CHATGPT_BASE_URL/CHATGPT_MODEL are honoured)")
    parser.add_argument("--keep-running", action="store_true",
                        help="keep the server and worker up until Ctrl-C, and say how to reach "
                        "the server with the temporal CLI")
    return parser.parse_args(argv)


class DemoFailed(Exception):
    """A step of the demo failed in a way a one-line message explains."""


def chat_env(environ: dict[str, str]) -> dict[str, str]:
    """The sample workload's variables (CHATGPT_*) from the user's environment, which the
    worker's clean environment leaves out."""
    import temporal_worker_spec.settings as spec

    names = [s.env for s in spec.SETTINGS if s.group == spec.WORKLOAD and s.env]
    return {name: environ[name] for name in names if environ.get(name)}


async def run_workflows(address: str, task_queue: str, args: argparse.Namespace) -> None:
    import uuid
    from datetime import timedelta

    from temporalio.client import Client, WorkflowFailureError

    from worker.activities import BatchRequest, ChatRequest
    from worker.workflows import BatchWorkflow, ChatWorkflow

    client = await Client.connect(address)
    result = await client.execute_workflow(
        BatchWorkflow.run, BatchRequest(name="demo", items=args.items, seconds_per_item=0.2),
        id=f"demo-batch-{uuid.uuid4()}", task_queue=task_queue,
        execution_timeout=timedelta(minutes=2))
    print(f"BatchWorkflow result: {result}", flush=True)
    if args.prompt:
        try:
            answer = await client.execute_workflow(
                ChatWorkflow.run, ChatRequest(prompt=args.prompt),
                id=f"demo-chat-{uuid.uuid4()}", task_queue=task_queue,
                execution_timeout=timedelta(minutes=5))
        except WorkflowFailureError as err:
            cause = err.cause.cause or err.cause
            raise DemoFailed(f"ChatWorkflow failed: {cause}") from None
        print(f"ChatWorkflow result: {answer}", flush=True)


def temporal_command(address: str) -> str:
    """A `temporal` CLI command that lists the demo's workflows on the dev server."""
    from tools.devserver import temporal_cli

    cli = Path(temporal_cli())
    shown = cli.relative_to(REPO) if cli.is_relative_to(REPO) else cli
    return f"{shown} workflow list --address {address}"


def run_interruptibly(runner: asyncio.Runner,
                      make_coroutine: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run `make_coroutine()` to its end on the runner's loop; a Ctrl-C at any moment leaves
    nothing to complain later.

    The coroutine is made and handed to a task with Ctrl-C held, so from its first moment it
    has one owner: the task, which `runner.close()` cancels if the Ctrl-C left it pending (a
    coroutine nobody awaited would warn "never awaited"; one closed behind its task's back
    would make that cancellation fail with "cannot reuse already awaited coroutine").
    """
    from tools.procs import interrupts_deferred

    loop = runner.get_loop()
    with interrupts_deferred():
        task = loop.create_task(make_coroutine())
    return loop.run_until_complete(task)


def demo(args: argparse.Namespace, chat: dict[str, str]) -> None:
    import asyncio
    import contextlib

    import temporal_worker_spec.settings as spec
    from temporal_worker_spec import contract
    from tools.devserver import DevServer
    from tools.procs import interrupts_deferred
    from tools.worker_process import WorkerProcess

    task_queue = "demo"
    with contextlib.ExitStack() as cleanup:
        # Each Background makes its temp dir when created; holding Ctrl-C until its cleanup is
        # registered means no moment leaves one behind.
        with interrupts_deferred():
            server = DevServer()
            cleanup.callback(server.close)
        server.start()
        print(f"--- Temporal dev server on {server.address}", flush=True)
        with interrupts_deferred():
            worker = WorkerProcess({**chat, spec.TEMPORAL_ADDRESS.env: server.address,
                                    spec.TASK_QUEUE.env: task_queue,
                                    spec.LOG_FORMAT.env: "plain"}, show_output=True)
            cleanup.callback(worker.close)
        worker.start()
        try:
            worker.wait_ready()
        except RuntimeError:  # it exited; its own one-line reason is in the output above
            raise DemoFailed("the worker did not start (its reason is above)") from None
        print(f"--- worker ready: http://127.0.0.1:{worker.health_port}"
              f"{contract.READINESS_PATH} (liveness {contract.LIVENESS_PATH}), metrics "
              f"http://127.0.0.1:{worker.metrics_port}{contract.METRICS_PATH}", flush=True)
        # A Ctrl-C while asyncio builds its loop would leave a half-made one to complain when
        # it is collected: build it with Ctrl-C held, and close it with the rest.
        with interrupts_deferred():
            runner = asyncio.Runner()
            runner.get_loop()
            cleanup.callback(runner.close)
        run_interruptibly(runner, lambda: run_workflows(server.address, task_queue, args))
        if args.keep_running:
            print(f"--- the dev server is at {server.address} (namespace default, task queue "
                  f"{task_queue}); try: {temporal_command(server.address)}", flush=True)
            print("--- running; Ctrl-C stops the worker and the server", flush=True)
            while True:
                signal.pause()
        worker.terminate(timeout=contract.termination_grace_period_seconds(
            spec.GRACEFUL_SHUTDOWN_SECONDS.default))
        print("--- stopping the dev server", flush=True)


def main(argv: list[str] | None = None) -> int:
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    # SIGTERM cleans up like Ctrl-C does.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        # scripts/demo.sh holds a Ctrl-C back until it hears that these handlers are in place.
        ready_pid = os.environ.pop(READY_PID_VARIABLE, "")
        if ready_pid.isdigit():
            os.kill(int(ready_pid), signal.SIGUSR1)
        args = parse_args(argv)
        import temporal_worker_spec.settings as spec

        chat = chat_env(dict(os.environ))
        if args.prompt and spec.CHATGPT_API_KEY.env not in chat:
            print(f"error: --prompt needs {spec.CHATGPT_API_KEY.env}, the chat API key "
                  f"({spec.CHATGPT_BASE_URL.env} and {spec.CHATGPT_MODEL.env} are honoured "
                  "too); nothing was started", file=sys.stderr)
            return 2
        demo(args, chat)
    except KeyboardInterrupt:
        print("--- interrupted: the worker and the dev server are stopped", flush=True)
        return 128 + (received[-1] if received else signal.SIGINT)
    except DemoFailed as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
