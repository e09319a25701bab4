"""The two Pulumi dynamic resources of a versioned rollout and their providers.

`WorkerVersions` runs before the new build's Deployment: it deletes sunset versions and signs
records again. `WorkerRollout` runs after it: it moves the routing to the new build. The engine
pickles each provider into the state and, in `pulumi up`, unpickles it in Pulumi's provider
host (`python -m pulumi.dynamic`), so the classes live in this importable module and hold no
state of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi.dynamic

from temporal_worker_k8s.versioning.blocking import run_blocking
from temporal_worker_k8s.versioning.connection import (CONNECTION_FIELDS,
                                                       SECRET_CONNECTION_FIELDS, RolloutError)
from temporal_worker_k8s.versioning.engine import Rollout
from temporal_worker_k8s.versioning.inputs import (DEFAULT_GATE_TIMEOUT_SECONDS,
                                                   DEFAULT_POLLER_TIMEOUT_SECONDS,
                                                   DEFAULT_ROLLOUT_TIMEOUT_SECONDS,
                                                   POLLER_HISTORY_SECONDS, RolloutPlan, Step,
                                                   UpkeepPlan, input_problems, plain,
                                                   upkeep_problems)
from temporal_worker_k8s.versioning.upkeep import Upkeep

log = logging.getLogger("temporal_worker_k8s.versioning")
SECRET_FIELDS = (*SECRET_CONNECTION_FIELDS, "signing_key")
"""Inputs kept secret in the state and never returned as outputs."""


def stack_identity() -> str:
    """The manager identity of this stack's rollouts: the same from every machine that runs
    the stack, different for every other stack."""
    return (f"pulumi:{pulumi.get_organization() or 'organization'}/{pulumi.get_project()}/"
            f"{pulumi.get_stack()}")


def _outputs(props: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """State outputs: the inputs without credentials or key, plus `extra`."""
    outs = {k: v for k, v in plain(props).items() if k not in SECRET_FIELDS}
    outs.update(extra)
    return outs


def _failures(problems: list[tuple[str, str]]) -> list[pulumi.dynamic.CheckFailure]:
    return [pulumi.dynamic.CheckFailure(name, reason) for name, reason in problems]


class WorkerRolloutProvider(pulumi.dynamic.ResourceProvider):
    """Moves a Worker Deployment's routing to `build_id` on create and update.

    delete leaves the routing alone: taking Current away from a build would send new workflows
    to unversioned workers, which a versioned rollout does not run.
    """

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, _failures(input_problems(plain(news))))

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        plan = RolloutPlan.from_props(props)
        previous = self._roll_out(plan)
        return pulumi.dynamic.CreateResult(
            f"{plan.connection.namespace}/{plan.deployment_name}",
            _outputs(props, current_build_id=plan.build_id, previous_build_id=previous))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]
             ) -> pulumi.dynamic.DiffResult:
        changed = [name for name in ("build_id", "image", "rollback")
                   if olds.get(name) != news.get(name)]
        return pulumi.dynamic.DiffResult(changes=bool(changed or news.get("hold")),
                                         replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]
               ) -> pulumi.dynamic.UpdateResult:
        plan = RolloutPlan.from_props(news)
        previous = self._roll_out(plan)
        if previous is None:  # routing untouched: keep what the state knew
            previous = (olds.get("previous_build_id")
                        if olds.get("current_build_id") == plan.build_id
                        else olds.get("current_build_id"))
        return pulumi.dynamic.UpdateResult(
            _outputs(news, current_build_id=plan.build_id, previous_build_id=previous))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        log.warning(
            "WorkerRollout of Worker Deployment %s removed from the stack: Temporal's routing is "
            "left as it is (build %s stays Current), because taking Current away would send new "
            "workflows to unversioned workers, which this stack does not run. The stack stays "
            "its manager (%s): to change the routing by hand, run `temporal worker deployment "
            "manager-identity unset --deployment-name %s` first", props.get("deployment_name"),
            props.get("current_build_id"), props.get("manager_identity"),
            props.get("deployment_name"))

    @staticmethod
    def _roll_out(plan: RolloutPlan) -> str | None:
        if plan.hold:
            raise RolloutError(plan.hold)

        async def go() -> str | None:
            client = await plan.connection.client()
            return await Rollout(plan, client).run()
        return run_blocking(go)


class WorkerVersionsProvider(pulumi.dynamic.ResourceProvider):
    """Deletes sunset versions and signs records again, before the new build's pods exist."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, _failures(upkeep_problems(plain(news))))

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        plan = UpkeepPlan.from_props(props)
        return pulumi.dynamic.CreateResult(
            f"{plan.connection.namespace}/{plan.deployment_name}", self._upkeep(plan, props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]
             ) -> pulumi.dynamic.DiffResult:
        work = bool(news.get("delete_build_ids") or news.get("records")
                    or olds.get("pending_build_ids"))
        return pulumi.dynamic.DiffResult(changes=work, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]
               ) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(self._upkeep(UpkeepPlan.from_props(news, olds), news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Nothing to undo: deleted versions stay deleted."""

    @staticmethod
    def _upkeep(plan: UpkeepPlan, props: Mapping[str, Any]) -> dict[str, Any]:
        async def go():
            return await Upkeep(plan, await plan.connection.client()).run()
        result = run_blocking(go)
        return _outputs(props, deleted_build_ids=list(result.deleted),
                        pending_build_ids=list(result.pending))


def _connection_props(name: str, connection: Mapping[str, pulumi.Input[Any]]
                      ) -> dict[str, Any]:
    unknown = sorted(set(connection) - set(CONNECTION_FIELDS))
    if unknown:
        raise ValueError(f"{name}: connection: unknown key(s) {unknown}; expected some of "
                         f"{sorted(CONNECTION_FIELDS)}")
    missing = [k for k in ("address", "namespace") if connection.get(k) is None]
    if missing:
        raise ValueError(f"{name}: connection: {', '.join(missing)} required")
    return {k: (pulumi.Output.secret(v) if k in SECRET_CONNECTION_FIELDS and v is not None
                else v) for k, v in connection.items()}


def _checked(name: str, props: dict[str, Any], problems) -> None:
    """ValueError naming each input known now (not an Output) that `problems` refuses; the
    message never quotes a secret."""
    known = {k: v for k, v in props.items() if not isinstance(v, (pulumi.Output, Awaitable))}
    found = [(k, reason) for k, reason in problems(known) if k in known]
    if found:
        raise ValueError(f"{name}: " + "; ".join(f"{k} {reason}" for k, reason in found))


def _secret_options(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    # The providers return no credential; should one ever come back, it stays secret.
    return pulumi.ResourceOptions.merge(
        pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_FIELDS)), opts)


class WorkerRollout(pulumi.dynamic.Resource, module="temporal", name="WorkerRollout"):
    """Makes `build_id` the Current version of a Worker Deployment once its workers poll.

    Created after the build's Kubernetes Deployment (make it depend on it). An update rolls out
    when build_id, image or rollback change; other inputs alone change nothing in Temporal.
    `steps` are (percent, pause seconds) pairs; 1.x's `ramp_steps` with one
    `ramp_pause_seconds` still work.
    """

    current_build_id: pulumi.Output[str]
    """The build this resource made (or found) Current."""
    previous_build_id: pulumi.Output[str | None]
    """The build that was Current before, None if there was none."""

    def __init__(self, name: str, *, connection: Mapping[str, pulumi.Input[Any]],
                 deployment_name: pulumi.Input[str], build_id: pulumi.Input[str],
                 image: pulumi.Input[str], task_queue: pulumi.Input[str], strategy: str,
                 signing_key: pulumi.Input[str],
                 steps: Sequence[tuple[int, float]] | None = None,
                 ramp_steps: Sequence[int] = (10, 50), ramp_pause_seconds: float = 300,
                 gate_workflow: str | None = None, gate_input: str | None = None,
                 rollback: bool = False,
                 poller_timeout_seconds: float = DEFAULT_POLLER_TIMEOUT_SECONDS,
                 gate_timeout_seconds: float = DEFAULT_GATE_TIMEOUT_SECONDS,
                 rollout_timeout_seconds: float = DEFAULT_ROLLOUT_TIMEOUT_SECONDS,
                 manager_identity: str | None = None, take_over: bool = False,
                 hold: str | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        ramp = [Step(int(p), float(s)) for p, s in steps] if steps is not None else \
            [Step(int(p), float(ramp_pause_seconds)) for p in ramp_steps]
        props: dict[str, Any] = {
            **_connection_props(f"WorkerRollout {name}", connection),
            "deployment_name": deployment_name, "build_id": build_id, "image": image,
            "task_queue": task_queue, "strategy": strategy,
            "steps": [{"percent": s.percent, "pause_seconds": s.pause_seconds} for s in ramp],
            "gate_workflow": gate_workflow, "gate_input": gate_input, "rollback": rollback,
            "poller_timeout_seconds": poller_timeout_seconds,
            "gate_timeout_seconds": gate_timeout_seconds,
            "rollout_timeout_seconds": rollout_timeout_seconds,
            "manager_identity": manager_identity or stack_identity(), "take_over": take_over,
            "signing_key": signing_key, "hold": hold,
        }
        _checked(f"WorkerRollout {name}", props, input_problems)
        props.update(signing_key=pulumi.Output.secret(signing_key), current_build_id=None,
                     previous_build_id=None)
        super().__init__(WorkerRolloutProvider(), name, props, _secret_options(opts))


class WorkerVersions(pulumi.dynamic.Resource, module="temporal", name="WorkerVersions"):
    """Deletes the Temporal versions of sunset builds and signs records again; make the new
    build's Deployment depend on it, so there is room for its version when its pods poll."""

    deleted_build_ids: pulumi.Output[list[str]]
    """Builds whose versions the last update deleted (or found gone)."""
    pending_build_ids: pulumi.Output[list[str]]
    """Builds whose versions could not be deleted yet (pollers still listed)."""

    def __init__(self, name: str, *, connection: Mapping[str, pulumi.Input[Any]],
                 deployment_name: pulumi.Input[str], signing_key: pulumi.Input[str],
                 delete_build_ids: Sequence[str] = (), room_needed: int = 0,
                 records: Sequence[Mapping[str, pulumi.Input[str]]] = (),
                 wait_seconds: float = POLLER_HISTORY_SECONDS,
                 manager_identity: str | None = None, take_over: bool = False,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            **_connection_props(f"WorkerVersions {name}", connection),
            "deployment_name": deployment_name, "signing_key": signing_key,
            "delete_build_ids": list(delete_build_ids), "room_needed": room_needed,
            "records": [dict(r) for r in records], "wait_seconds": wait_seconds,
            "manager_identity": manager_identity or stack_identity(), "take_over": take_over,
        }
        _checked(f"WorkerVersions {name}", props, upkeep_problems)
        props.update(signing_key=pulumi.Output.secret(signing_key), deleted_build_ids=None,
                     pending_build_ids=None)
        super().__init__(WorkerVersionsProvider(), name, props, _secret_options(opts))
