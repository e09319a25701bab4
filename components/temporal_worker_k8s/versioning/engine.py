"""The rollout engine: move a Worker Deployment's routing to a new build as its manager.

Pollers first, then the signed image record, an optional gate before any traffic, the ramp
steps (each with its pause and, with a gate, a gate run after it), and Current. Every change
carries the stack's manager identity and the conflict token of a describe made just before, so
a person or tool changing the routing meanwhile is detected instead of overwritten. When a step
fails, the ramp is removed and the message states the routing left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import temporalio.client
import temporalio.common
import temporalio.exceptions
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (DescribeTaskQueueRequest,
                                               SetWorkerDeploymentCurrentVersionRequest,
                                               SetWorkerDeploymentRampingVersionRequest)
from temporalio.service import RPCError

from temporal_worker_k8s.versioning.connection import (RPC_TIMEOUT, OwnershipError, RolloutError,
                                                       UnreachableError)
from temporal_worker_k8s.versioning.inputs import GATE_RESULT_GRACE_SECONDS, RolloutPlan, Step
from temporal_worker_k8s.versioning.manager import DeploymentWriter, is_conflict
from temporal_worker_k8s.versioning.state import routing
from temporal_worker_spec import contract

log = logging.getLogger("temporal_worker_k8s.versioning")
POLL_INTERVAL_SECONDS = 1.0
VERSION_PROPAGATION_SECONDS = 30.0
"""How long a gate start waits for a just-polled version to reach the task queue's routing
data (the server answers "Pinned version ... is not present in task queue" until then)."""


class Rollout(DeploymentWriter):
    """The steps of one rollout on a connected client; `run()` does them all in order.

    Steps are public so a tool can stop half-way (e.g. leave a build RAMPING for a recording).
    """

    def __init__(self, plan: RolloutPlan, client: temporalio.client.Client) -> None:
        super().__init__(client, plan.connection, plan.deployment_name, plan.manager_identity,
                         plan.take_over, plan.where)
        self.plan = plan
        self.version = temporalio.common.WorkerDeploymentVersion(
            deployment_name=plan.deployment_name, build_id=plan.build_id)
        self.deadline = time.monotonic() + plan.rollout_timeout_seconds
        self._ramped = False
        """Set once this rollout ramped the build: later steps expect it still Ramping."""

    def left(self, step: str) -> float:
        """Seconds left before rollout_timeout_seconds; RolloutError when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RolloutError(f"{self.where(step)}: the rollout reached rollout_timeout_seconds "
                               f"({self.plan.rollout_timeout_seconds:g} s)")
        return left

    async def run(self) -> str | None:
        """Do the rollout; return the build that was Current before, or None when nothing
        changed (this build was Current already) or nothing was Current."""
        plan = self.plan
        step = "describe the deployment"
        answer = await self.latest(step)
        self.check_owner(answer, step)
        if routing(answer)[0] == plan.build_id:
            await self.claim()
            await self.record_image()
            log.info("build %s is already Current in Worker Deployment %s: routing unchanged",
                     plan.build_id, plan.deployment_name)
            return None
        await self.wait_for_pollers()
        await self.claim()
        await self.record_image()
        previous = routing(await self.latest(step))[0]
        if not plan.rollback and plan.gate_workflow:
            await self.run_gate(previous, 0)
        if plan.strategy == "progressive" and not plan.rollback:
            if previous is None:
                log.info("no build is Current in Worker Deployment %s: making %s Current "
                         "without a ramp (the rest of the traffic would go to unversioned "
                         "workers)", plan.deployment_name, plan.build_id)
            else:
                await self.ramp_through(previous)
        await self.promote(expected_current=previous)
        return previous

    def step_label(self, number: int) -> str:
        if number == 0:
            return "before any traffic"
        return (f"step {number} of {len(self.plan.steps)} "
                f"({self.plan.steps[number - 1].percent}%)")

    async def ramp_through(self, previous: str) -> None:
        """Each ramp step in turn: ramp, pause, gate. On a failure, remove the ramp."""
        for number, step in enumerate(self.plan.steps, 1):
            label = self.step_label(number)
            try:
                await self.ramp(step.percent, expected_current=previous, label=label)
                log.info("build %s ramping at %d%% in %s (%s); next in %g s", self.plan.build_id,
                         step.percent, self.plan.deployment_name, label, step.pause_seconds)
                await self.pause(step, label)
                if self.plan.gate_workflow:
                    await self.run_gate(previous, number)
            except RolloutError as err:
                message = f"{err}; {await self.unramp(previous)}"
                if isinstance(err, OwnershipError):
                    raise OwnershipError(message, err.holder) from None
                raise RolloutError(message) from None

    async def pause(self, step: Step, label: str) -> None:
        wait = min(step.pause_seconds, self.left(f"pause at {label}"))
        await asyncio.sleep(wait)
        if wait < step.pause_seconds:
            self.left(f"pause at {label}")
            raise RolloutError(self.where(f"pause at {label}") + ": the rollout reached "
                               "rollout_timeout_seconds")

    async def unramp(self, previous: str) -> str:
        """Remove this build's ramp, if it is still the Ramping one; the routing left behind."""
        plan, step = self.plan, "remove the ramp"
        try:
            answer = await self.latest(step)
            current, ramping = routing(answer)
            if ramping == plan.build_id:
                await self.client.workflow_service.set_worker_deployment_ramping_version(
                    SetWorkerDeploymentRampingVersionRequest(
                        namespace=self.client.namespace, deployment_name=plan.deployment_name,
                        build_id="", percentage=0.0, conflict_token=answer.conflict_token,
                        identity=self.identity),
                    retry=True, timeout=RPC_TIMEOUT)
                current, ramping = routing(await self.latest(step))
        except (RPCError, RolloutError) as err:
            text = self.connection.rpc_text(err) if isinstance(err, RPCError) else str(err)
            return (f"routing left behind: build {plan.build_id} may still be Ramping beside "
                    f"Current build {previous}, because removing its ramp failed ({text}); "
                    "remove it with `temporal worker deployment set-ramping-version "
                    f"--deployment-name {plan.deployment_name} --delete`")
        if current == previous and ramping is None:
            return (f"the ramp was removed; routing left behind: build {previous} is Current "
                    f"and gets all new workflows, build {plan.build_id} gets none")
        return (f"routing left behind: Current build {current or 'none'}, Ramping build "
                f"{ramping or 'none'} (changed by someone else meanwhile)")

    async def wait_for_pollers(self) -> None:
        """Until the server lists this build as a version with pollers on the task queue."""
        plan = self.plan
        step = "wait for pollers"
        deadline = time.monotonic() + min(plan.poller_timeout_seconds, self.left(step))
        while True:
            answer = await self.latest(step)
            listed = answer is not None and any(
                s.deployment_version.build_id == plan.build_id
                for s in answer.worker_deployment_info.version_summaries)
            if listed and await self._has_pollers(step):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                current = routing(answer)[0]
                raise RolloutError(
                    f"{plan.where(step)}: no worker of build {plan.build_id} polled task queue "
                    f"{plan.task_queue} within {plan.poller_timeout_seconds:g} s: check its "
                    f"pods (image {plan.image}); routing unchanged: "
                    f"{f'build {current} stays Current' if current else 'no build is Current'}")
            await asyncio.sleep(min(POLL_INTERVAL_SECONDS, left))

    async def _has_pollers(self, step: str) -> bool:
        try:
            answer = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.client.namespace,
                    task_queue=TaskQueue(name=self.plan.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
                retry=True, timeout=RPC_TIMEOUT)
        except RPCError as err:
            raise UnreachableError(f"{self.plan.where(step)}: cannot describe task queue "
                                   f"{self.plan.task_queue}: "
                                   f"{self.connection.rpc_text(err)}") from None
        return any(p.deployment_options.deployment_name == self.plan.deployment_name
                   and p.deployment_options.build_id == self.plan.build_id
                   for p in answer.pollers)

    async def record_image(self) -> None:
        """Upsert the version's signed image record."""
        plan = self.plan
        await self.write_record(plan.build_id, plan.image, plan.signing_key, "record image")

    def gate_argument(self, number: int) -> dict[str, Any]:
        """The gate's input object, with the step it checks."""
        plan = self.plan
        argument = json.loads(plan.gate_input) if plan.gate_input else {}
        ramped = plan.strategy == "progressive"
        argument[contract.GATE_STEP_KEY] = {
            "step": number, "steps": len(plan.steps) if ramped else 0,
            "percent": plan.steps[number - 1].percent if number else 0,
            "build_id": plan.build_id, "deployment_name": plan.deployment_name}
        return argument

    async def run_gate(self, current: str | None, number: int) -> str:
        """Run the gate workflow once, pinned to this build; RolloutError if it fails."""
        plan = self.plan
        label = self.step_label(number)
        step = f"gate {plan.gate_workflow} {label}" if number == 0 else \
            f"gate {plan.gate_workflow} after {label}"
        workflow_id = (f"{plan.deployment_name}-gate-{plan.build_id}-s{number}-"
                       f"{uuid.uuid4().hex[:8]}")
        # Before any traffic the routing is untouched; after a step, ramp_through says more.
        stays = ("; the build got no traffic and " + (f"build {current} stays Current" if current
                                                       else "no build was made Current")
                 if number == 0 else "")
        timeout = min(plan.gate_timeout_seconds, self.left(step))
        started = time.monotonic()
        while True:
            try:
                handle = await self.client.start_workflow(
                    plan.gate_workflow, args=[self.gate_argument(number)], id=workflow_id,
                    task_queue=plan.task_queue, execution_timeout=timedelta(seconds=timeout),
                    versioning_override=temporalio.common.PinnedVersioningOverride(self.version))
                break
            except RPCError as err:
                # A version polled a moment ago may not be known to the task queue yet.
                if "is not present in task queue" in err.message and \
                        time.monotonic() - started < VERSION_PROPAGATION_SECONDS:
                    await asyncio.sleep(POLL_INTERVAL_SECONDS)
                    continue
                raise RolloutError(f"{plan.where(step)}: cannot start the gate workflow: "
                                   f"{self.connection.rpc_text(err)}{stays}") from None
        log.info("gate %s started on build %s %s (workflow id %s)", plan.gate_workflow,
                 plan.build_id, label, workflow_id)
        try:
            result = await asyncio.wait_for(handle.result(), timeout + GATE_RESULT_GRACE_SECONDS)
        except temporalio.client.WorkflowFailureError as err:
            if not isinstance(err.cause, temporalio.exceptions.TimeoutError):
                raise RolloutError(
                    f"{plan.where(step)}: gate workflow {plan.gate_workflow} (workflow id "
                    f"{workflow_id}) failed on build {plan.build_id}: "
                    f"{self.connection.scrub(_failure_text(err.cause))}{stays}") from None
            timed_out = True
        except asyncio.TimeoutError:
            timed_out = True
        else:
            timed_out = False
        if timed_out:
            bound = (f"gate_timeout_seconds ({timeout:g} s)" if timeout >= plan.gate_timeout_seconds
                     else f"the {timeout:g} s left of rollout_timeout_seconds")
            raise RolloutError(
                f"{plan.where(step)}: gate workflow {plan.gate_workflow} (workflow id "
                f"{workflow_id}) did not finish within {bound} on build {plan.build_id}: are "
                f"its workers stuck, or is the gate slower than that?{stays}")
        log.info("gate %s passed on build %s %s: %s", plan.gate_workflow, plan.build_id, label,
                 result)
        return workflow_id

    async def ramp(self, percentage: float, expected_current: str | None = None,
                   label: str | None = None) -> None:
        """SetWorkerDeploymentRampingVersion(this build, percentage)."""
        self._ramped = await self._set(
            f"ramp to {percentage:g}%" if label is None else f"ramp {label}", expected_current,
            lambda token: self.client.workflow_service.set_worker_deployment_ramping_version(
                SetWorkerDeploymentRampingVersionRequest(
                    namespace=self.client.namespace, deployment_name=self.plan.deployment_name,
                    build_id=self.plan.build_id, percentage=float(percentage),
                    conflict_token=token, identity=self.identity),
                retry=True, timeout=RPC_TIMEOUT))

    async def promote(self, expected_current: str | None = None) -> None:
        """SetWorkerDeploymentCurrentVersion(this build)."""
        await self._set(
            "set current", expected_current,
            lambda token: self.client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=self.client.namespace, deployment_name=self.plan.deployment_name,
                    build_id=self.plan.build_id, conflict_token=token, identity=self.identity),
                retry=True, timeout=RPC_TIMEOUT))

    async def _set(self, step: str, expected_current: str | None,
                   call: Callable[[bytes], Awaitable[Any]]) -> bool:
        """Send `call` with the conflict token of a describe made just before; on a conflict,
        describe again and retry once. Stops if someone else changed Current (or replaced
        this rollout's ramp) meanwhile."""
        plan = self.plan
        for attempt in (1, 2):
            answer = await self.latest(step)
            if answer is None:
                raise RolloutError(f"{plan.where(step)}: the deployment no longer exists "
                                   "(its versions were deleted)")
            self.check_owner(answer, step)
            current, ramping = routing(answer)
            who = answer.worker_deployment_info.last_modifier_identity or "unknown"
            if expected_current is not None and current not in (expected_current,
                                                                 plan.build_id):
                raise RolloutError(
                    f"{plan.where(step)}: Current changed to {current or 'none'} while this "
                    f"rollout ran (expected {expected_current}; last change by {who}); "
                    "stopping: run the update again once the other change is done")
            if self._ramped and ramping != plan.build_id and current != plan.build_id:
                raise RolloutError(
                    f"{plan.where(step)}: the ramp of this build was replaced (Ramping now "
                    f"{ramping or 'none'}, last change by {who}) while this rollout paused; "
                    "stopping: run the update again once the other change is done")
            try:
                await call(answer.conflict_token)
                return True
            except RPCError as err:
                if not is_conflict(err):
                    raise self.refused(step, err) from None
                if attempt == 2:
                    raise RolloutError(
                        f"{plan.where(step)}: the deployment's routing changed between describe "
                        "and update twice in a row (conflict token mismatch): another client "
                        f"({who}) is changing it; run the update again when it is done") from None
                log.warning("%s: conflict token mismatch (routing changed since the describe); "
                            "describing again and retrying once", plan.where(step))
        raise AssertionError("unreachable")


def _failure_text(error: BaseException | None) -> str:
    """The chain of causes, outermost first: `activity error <- SmokeTestFailed: reason`."""
    parts = []
    while error is not None and len(parts) < 5:
        if isinstance(error, temporalio.exceptions.ApplicationError) and error.type:
            parts.append(f"{error.type}: {error.message}")
        elif isinstance(error, temporalio.exceptions.TimeoutError):
            parts.append(f"timed out ({error.type.name if error.type else 'timeout'})")
        else:
            parts.append(str(error) or type(error).__name__)
        error = error.__cause__ or getattr(error, "cause", None)
    return " <- ".join(parts) or "no reason given"
