"""Wiring: settings -> logging -> health/metrics -> connect -> run the worker until SIGTERM.

Exit codes: 0 after a clean drain (or a stop before connecting), 2 for bad settings,
1 when the worker fails.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.runtime import (LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime,
                               TelemetryConfig, TelemetryFilter)
from temporalio.worker import Worker, WorkerDeploymentConfig

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from worker import activities, health, logs, polls, settings
from worker.workflows import VERSIONED_WORKFLOWS, WORKFLOWS

log = logging.getLogger("worker")

EXIT_BAD_SETTINGS = 2
EXIT_FAILED = 1
CONNECT_BACKOFF_MAX_SECONDS = 30.0


def build_runtime(config: settings.Settings) -> Runtime:
    """An SDK runtime whose Core logs go through Python logging (so they share the log format)
    and which serves Prometheus metrics on IPv4 and IPv6 unless the metrics port is 0."""
    port = config["metricsPort"]
    metrics = PrometheusConfig(bind_address=health.metrics_bind_address(port)) if port else None
    return Runtime(telemetry=TelemetryConfig(
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core"))),
        metrics=metrics))


def build_worker(client: Client, config: settings.Settings) -> Worker:
    """The worker with the sample workflows and activities, drain time and versioning."""
    chat = activities.ChatActivities(config["chatgptBaseUrl"], config["chatgptApiKey"],
                                     config["chatgptModel"])
    deployment = None
    if config["deploymentName"] and config["buildId"]:
        deployment = WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment_name=config["deploymentName"],
                                            build_id=config["buildId"]),
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior[config["defaultVersioningBehavior"]],
        )
    return Worker(
        client,
        task_queue=config.task_queue,
        workflows=VERSIONED_WORKFLOWS if deployment else WORKFLOWS,
        activities=[chat.chat_completion, activities.process_batch],
        graceful_shutdown_timeout=timedelta(seconds=config["gracefulShutdownSeconds"]),
        deployment_config=deployment,
        **config.worker_options,
    )


# rustls errors, as seen against a real server, and what they usually mean.
_CAUSES = (
    ("InvalidContentType",
     "the server did not answer with TLS: the address is probably a plaintext endpoint (a "
     f"frontend without TLS, or the wrong port); TLS is on because {spec.TLS.env}, a client "
     "certificate, a server CA or an API key is set"),
    ("UnknownIssuer",
     "the server's certificate is not signed by a CA the worker trusts; set "
     f"{spec.TLS_SERVER_CA.env} ({spec.TLS_SERVER_CA.name}) to its CA"),
    ("NotValidForName",
     "the server's certificate is not for this host name; set "
     f"{spec.TLS_SERVER_NAME.env} ({spec.TLS_SERVER_NAME.name}) to a name it is for"),
)


def likely_cause(error: str) -> str:
    """` (likely cause: ...)` for connection errors whose text is cryptic, else ``."""
    for marker, cause in _CAUSES:
        if marker in error:
            return f" (likely cause: {cause})"
    return ""


async def connect(config: settings.Settings, runtime: Runtime,
                  stop: asyncio.Event) -> Client | None:
    """Connect, retrying with backoff (not ready meanwhile); None if stopped first."""
    delay = 1.0
    while not stop.is_set():
        try:
            return await Client.connect(**config.connect_config, runtime=runtime)
        except Exception as err:
            log.error("cannot connect to Temporal at %s (namespace %s, tls %s): %s%s; "
                      "retrying in %.0fs", config.address, config.namespace,
                      "on" if config.tls else "off", str(err) or type(err).__name__,
                      likely_cause(str(err)), delay)
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except asyncio.TimeoutError:
            delay = min(delay * 2, CONNECT_BACKOFF_MAX_SECONDS)
    return None


async def run(config: settings.Settings) -> int:
    """Run until SIGTERM/SIGINT, drain, and return the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    state = health.Health(heartbeat_file=config["heartbeatFile"],
                          liveness_file=config["livenessFile"])
    state.clear_heartbeat()  # files left by a previous run must not look fresh
    ticker = asyncio.create_task(state.tick())
    watcher: asyncio.Task | None = None
    http = None
    try:
        if config["healthPort"]:
            try:
                http = health.serve(state, config["healthPort"])
            except OSError as err:
                log.error("%s: cannot listen on port %d: %s", spec.HEALTH_PORT.env,
                          config["healthPort"], err.strerror)
                return EXIT_FAILED
        try:
            runtime = build_runtime(config)
        except Exception as err:
            log.error("%s: cannot serve metrics on port %d: %s", spec.METRICS_PORT.env,
                      config["metricsPort"], err)
            return EXIT_FAILED

        client = await connect(config, runtime, stop)
        if client is None:
            log.info("stopped before connecting")
            return 0
        try:
            worker = build_worker(client, config)
            async with worker:
                # Ready only once the worker has validated the namespace and started polling.
                state.client, state.worker_running = client, lambda: worker.is_running
                state.polls = polls.PollMonitor(
                    client, config.namespace, config.task_queue,
                    f"http://127.0.0.1:{config['metricsPort']}{contract.METRICS_PATH}"
                    if config["metricsPort"] else None)
                await state.polls.settle()
                await state.check_server()
                watcher = asyncio.create_task(state.watch_server(stop))
                log.info("worker starting: address %s, namespace %s, task queue %s, tls %s",
                         config.address, config.namespace, config.task_queue,
                         "on" if config.tls else "off")
                await stop.wait()
                state.mark_stopping()
                log.info("stop requested: draining in-flight activities for up to %ds",
                         config["gracefulShutdownSeconds"])
        except asyncio.CancelledError:
            # The worker cancelled us on a fatal error; `async with` re-raised it unless a
            # cancellation came from elsewhere, in which case there is nothing more to say.
            log.error("worker stopped unexpectedly")
            return EXIT_FAILED
        except Exception:
            log.error("worker failed", exc_info=True)
            return EXIT_FAILED
        log.info("worker stopped cleanly")
        return 0
    finally:
        stop.set()
        state.mark_stopping()
        if watcher is not None:
            await asyncio.wait({watcher}, timeout=health.CHECK_TIMEOUT_SECONDS + 1)
        ticker.cancel()
        if http is not None:
            http.close()


def main() -> int:
    """Entry point for `python -m worker`."""
    try:
        config = settings.load()
    except settings.SettingsError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    logs.setup(config["logFormat"], config["logLevel"])
    for warning in config.warnings:
        log.warning("%s", warning)
    return asyncio.run(run(config))
