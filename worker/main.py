"""Wiring: settings -> logging -> health/metrics -> connect -> run the worker until SIGTERM,
while the credential files are watched and renewed ones are swapped in (`worker.rotation`).

Exit codes: 0 after a clean drain (or a stop before connecting), 2 for bad settings,
1 when the worker fails.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.runtime import (LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime,
                               TelemetryConfig, TelemetryFilter)
from temporalio.worker import Worker, WorkerDeploymentConfig

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from worker import activities, connection, health, logs, polls, rotation, settings
from worker.versioned import VERSIONED_WORKFLOWS
from worker.workflows import WORKFLOWS

log = logging.getLogger("worker")

EXIT_FAILED = 1


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
    background: list[asyncio.Task] = []
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
        meter = runtime.metric_meter.with_additional_attributes(
            {"namespace": config.namespace, "task_queue": config.task_queue})
        ready = meter.create_gauge(contract.WORKER_READY_METRIC,
                                   "1 while the worker is ready (what /readyz answers), else 0.")
        ready.set(0)
        state.report = lambda now: ready.set(1 if now else 0)
        metrics = rotation.Metrics(meter, tuple(config.credentials.files))
        material = config.material

        def options() -> dict:
            nonlocal material
            material = rotation.reread(config.credentials, material)
            return config.credentials.connect_options(config.base_options, material)

        client = await connection.connect(options, runtime, stop, address=config.address,
                                          namespace=config.namespace, tls=config.tls)
        if client is None:
            log.info("stopped before connecting")
            return 0
        metrics.in_use(material)
        log.info("worker starting: address %s, namespace %s, task queue %s, tls %s",
                 config.address, config.namespace, config.task_queue,
                 "on" if config.tls else "off")
        try:
            worker = build_worker(client, config)
            async with worker:
                # Ready only once the worker has validated the namespace and started polling.
                state.client, state.worker_running = client, lambda: worker.is_running
                state.polls = polls.PollMonitor(
                    client, config.namespace, config.task_queue,
                    f"http://127.0.0.1:{config['metricsPort']}{contract.METRICS_PATH}"
                    if config["metricsPort"] else None,
                    version=(config["deploymentName"], config["buildId"])
                    if config["deploymentName"] and config["buildId"] else None)
                del client  # a renewed client replaces it everywhere; nothing else may hold it

                def use(renewed: Client) -> None:
                    worker.client = renewed
                    state.client = state.polls.client = renewed

                watcher = rotation.CredentialWatcher(
                    config.credentials, material, config.base_options, runtime, metrics,
                    current_client=lambda: worker.client, use_client=use)
                background.append(asyncio.create_task(watcher.run(stop)))
                await state.polls.settle()
                await state.check_server()
                background.append(asyncio.create_task(state.watch_server(stop)))
                await stop.wait()
                state.mark_stopping()
                log.info("stop requested: draining in-flight activities for up to %ds",
                         config["gracefulShutdownSeconds"])
        except asyncio.CancelledError:
            # The worker cancelled us on a fatal error; `async with` re-raised it unless a
            # cancellation came from elsewhere, in which case there is nothing more to say.
            log.error("worker stopped unexpectedly")
            return EXIT_FAILED
        except Exception as err:
            log.error("worker failed: %s", connection.describe(err))
            return EXIT_FAILED
        log.info("worker stopped cleanly")
        return 0
    finally:
        stop.set()
        state.mark_stopping()
        if background:
            await asyncio.wait(background, timeout=health.CHECK_TIMEOUT_SECONDS + 1)
        ticker.cancel()
        if http is not None:
            http.close()


def main(config: settings.Settings) -> int:
    """Run the worker `config` describes until it is told to stop; the process's exit code.
    `python -m worker` loads and checks the settings before it imports this module."""
    logs.setup(config["logFormat"], config["logLevel"])
    for warning in config.warnings:
        log.warning("%s", warning)
    return asyncio.run(run(config))
