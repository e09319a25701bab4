"""How the tuning settings become `temporalio.worker.Worker` arguments: slots (a fixed count, or
the resource-based tuner capped by the same counts) and pollers (autoscaling or fixed, the same
behaviour for workflow and activity tasks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio.worker import (PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum,
                               ResourceBasedSlotConfig, WorkerTuner)

import temporal_worker_spec.settings as spec


def poller_behavior(values: Mapping[str, Any]
                    ) -> PollerBehaviorAutoscaling | PollerBehaviorSimpleMaximum:
    """The poller behaviour the settings ask for."""
    if values[spec.POLLER_BEHAVIOR.name] == "fixed":
        return PollerBehaviorSimpleMaximum(maximum=values[spec.MAX_POLLERS.name])
    return PollerBehaviorAutoscaling(minimum=values[spec.MIN_POLLERS.name],
                                     maximum=values[spec.MAX_POLLERS.name],
                                     initial=values[spec.INITIAL_POLLERS.name])


def worker_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """Worker keyword arguments for slots and pollers."""
    pollers = poller_behavior(values)
    options: dict[str, Any] = {"workflow_task_poller_behavior": pollers,
                               "activity_task_poller_behavior": pollers}
    if values[spec.SLOT_TUNER.name] == "resourceBased":
        # The SDK takes a tuner or the max_concurrent_* counts, not both: the counts cap it.
        options["tuner"] = WorkerTuner.create_resource_based(
            target_memory_usage=values[spec.TUNER_TARGET_MEMORY.name] / 100,
            target_cpu_usage=values[spec.TUNER_TARGET_CPU.name] / 100,
            workflow_config=ResourceBasedSlotConfig(
                maximum_slots=values[spec.MAX_CONCURRENT_WORKFLOW_TASKS.name]),
            activity_config=ResourceBasedSlotConfig(
                maximum_slots=values[spec.MAX_CONCURRENT_ACTIVITIES.name]))
    else:
        options.update({s.worker_option: values[s.name] for s in spec.SETTINGS
                        if s.worker_option and values.get(s.name) is not None})
    return options
