"""The dynamic resources' inputs, checked: what each value must be (as the provider's Check and
the resource constructors report it), and the plans a create or update carries out.

Checks skip values not known yet (a preview), so the engine's Check refuses a bad plan at
preview, before any resource changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import rpc

import temporal_worker_spec.settings as spec
from temporal_worker_spec import values as kinds
from temporal_worker_k8s.versioning.connection import (CONNECTION_FIELDS, Connection,
                                                       RolloutError)

STRATEGIES = ("allAtOnce", "progressive")
GATE_RESULT_GRACE_SECONDS = 15.0
"""How long past the gate's own execution timeout to wait for the server to report it."""
DEFAULT_POLLER_TIMEOUT_SECONDS = 300
DEFAULT_GATE_TIMEOUT_SECONDS = spec.GATE_TIMEOUT.default
DEFAULT_ROLLOUT_TIMEOUT_SECONDS = spec.ROLLOUT_TIMEOUT.default
POLLER_HISTORY_SECONDS = 330
"""How long Temporal keeps listing a stopped worker as a poller (its PollerHistoryTTL, 5
minutes), plus a margin: until then the server refuses to delete its version."""
MIN_KEY_LENGTH = 32


@dataclass(frozen=True)
class Step:
    """One ramp step: the share of new workflows the new build gets, for how long."""

    percent: int
    pause_seconds: float


def plain(props: Mapping[str, Any]) -> dict[str, Any]:
    """Properties with Pulumi's secret markers removed (a host that accepts secrets sends
    them marked; this one declares it does not, so the engine sends plain values)."""
    return {k: rpc.unwrap_rpc_secret(v) for k, v in props.items()}


def steps_of(props: Mapping[str, Any]) -> tuple[Step, ...]:
    """The ramp of a WorkerRollout's properties: `steps`, or 1.x's `ramp_steps` +
    `ramp_pause_seconds` in a state written before steps had pauses of their own."""
    if props.get("steps") is not None:
        return tuple(Step(int(s["percent"]), float(s["pause_seconds"])) for s in props["steps"])
    pause = float(props.get("ramp_pause_seconds") or 0)
    return tuple(Step(int(p), pause) for p in props.get("ramp_steps") or ())


def worst_case_seconds(*, strategy: str, steps: Sequence[Step], gate: bool, rollback: bool,
                       poller_timeout_seconds: float, gate_timeout_seconds: float) -> float:
    """The longest a rollout of this plan may take: every wait at its bound."""
    if rollback:
        return poller_timeout_seconds
    ramped = strategy == "progressive"
    gates = (1 + (len(steps) if ramped else 0)) if gate else 0
    pauses = sum(s.pause_seconds for s in steps) if ramped else 0
    return (poller_timeout_seconds + gates * (gate_timeout_seconds + GATE_RESULT_GRACE_SECONDS)
            + pauses)


@dataclass(frozen=True)
class RolloutPlan:
    """What one WorkerRollout create/update does: its properties, checked."""

    connection: Connection
    deployment_name: str
    build_id: str
    image: str
    task_queue: str
    strategy: str
    signing_key: str = field(repr=False)
    manager_identity: str
    steps: tuple[Step, ...] = (Step(10, 300), Step(50, 300))
    gate_workflow: str | None = None
    gate_input: str | None = None
    rollback: bool = False
    take_over: bool = False
    poller_timeout_seconds: float = DEFAULT_POLLER_TIMEOUT_SECONDS
    gate_timeout_seconds: float = DEFAULT_GATE_TIMEOUT_SECONDS
    rollout_timeout_seconds: float = DEFAULT_ROLLOUT_TIMEOUT_SECONDS
    hold: str | None = None
    """Why this update must not roll out (the program decided it): create and update fail
    with it, after everything they depend on was applied."""

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> RolloutPlan:
        props = plain(props)
        problems = input_problems(props)
        if problems:
            raise RolloutError("WorkerRollout inputs are invalid: " + "; ".join(
                f"{name} {reason}" for name, reason in problems))
        names = {"deployment_name", "build_id", "image", "task_queue", "strategy", "signing_key",
                 "manager_identity", "gate_workflow", "gate_input", "poller_timeout_seconds",
                 "gate_timeout_seconds", "rollout_timeout_seconds", "hold"}
        values = {k: props[k] for k in names if props.get(k) is not None}
        return cls(connection=Connection.from_mapping(
            {k: props.get(k) for k in CONNECTION_FIELDS}), steps=steps_of(props),
            rollback=bool(props.get("rollback")), take_over=bool(props.get("take_over")),
            **values)

    @property
    def worst_case_seconds(self) -> float:
        return worst_case_seconds(
            strategy=self.strategy, steps=self.steps, gate=bool(self.gate_workflow),
            rollback=self.rollback, poller_timeout_seconds=self.poller_timeout_seconds,
            gate_timeout_seconds=self.gate_timeout_seconds)

    def where(self, step: str) -> str:
        return (f"rollout of build {self.build_id} in Worker Deployment {self.deployment_name} "
                f"(Temporal at {self.connection.where}), step '{step}'")


@dataclass(frozen=True)
class UpkeepPlan:
    """What one WorkerVersions create/update does: its properties, checked."""

    connection: Connection
    deployment_name: str
    signing_key: str = field(repr=False)
    manager_identity: str
    delete_build_ids: tuple[str, ...] = ()
    room_needed: int = 0
    records: tuple[tuple[str, str], ...] = ()
    """(build ID, image) records to sign again with the current key."""
    take_over: bool = False
    wait_seconds: float = POLLER_HISTORY_SECONDS
    pending: tuple[str, ...] = ()
    """Build IDs an earlier update could not delete yet (their pods were still listed)."""

    @classmethod
    def from_props(cls, props: Mapping[str, Any], olds: Mapping[str, Any] | None = None
                   ) -> UpkeepPlan:
        props = plain(props)
        problems = upkeep_problems(props)
        if problems:
            raise RolloutError("WorkerVersions inputs are invalid: " + "; ".join(
                f"{name} {reason}" for name, reason in problems))
        return cls(
            connection=Connection.from_mapping({k: props.get(k) for k in CONNECTION_FIELDS}),
            deployment_name=props["deployment_name"], signing_key=props["signing_key"],
            manager_identity=props["manager_identity"],
            delete_build_ids=tuple(props.get("delete_build_ids") or ()),
            room_needed=int(props.get("room_needed") or 0),
            records=tuple((r["build_id"], r["image"]) for r in props.get("records") or ()),
            take_over=bool(props.get("take_over")),
            wait_seconds=float(props.get("wait_seconds") or 0),
            pending=tuple((olds or {}).get("pending_build_ids") or ()))

    def where(self, step: str) -> str:
        return (f"upkeep of Worker Deployment {self.deployment_name} (Temporal at "
                f"{self.connection.where}), step '{step}'")


def _problem(check: Callable[[], Any]) -> str | None:
    try:
        check()
    except (ValueError, TypeError, KeyError) as err:
        return str(err) if not isinstance(err, KeyError) else f"lacks {err}"
    return None


class _Checker:
    """Collects (input, reason) problems; values not known yet (previews) are skipped."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        self.props = props
        self.problems: list[tuple[str, str]] = []

    def check(self, name: str, test: Callable[[Any], Any]) -> None:
        value = self.props.get(name)
        if not _is_known(value):
            return
        reason = _problem(lambda: test(value))
        if reason:
            self.problems.append((name, reason))

    def required(self, *names: str) -> None:
        for name in names:
            if name not in self.props or self.props[name] is None:
                self.problems.append((name, "is required"))


def _text(setting: spec.Setting | None = None) -> Callable[[Any], Any]:
    def test(value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        if setting is not None:
            setting.kind.parse(value)
    return test


def _seconds(minimum: float) -> Callable[[Any], None]:
    def test(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise ValueError(f"must be a number of seconds >= {minimum:g}, got {value!r}")
    return test


def _key(value: Any) -> None:
    if not isinstance(value, str) or len(value) < MIN_KEY_LENGTH:
        raise ValueError(f"must be a secret of at least {MIN_KEY_LENGTH} characters")


def _connection_and_deployment(c: _Checker) -> None:
    c.check("address", _text(spec.TEMPORAL_ADDRESS))
    c.check("namespace", _text(spec.TEMPORAL_NAMESPACE))
    c.check("deployment_name", _text(spec.DEPLOYMENT_NAME))
    c.check("manager_identity", _text())
    c.check("signing_key", _key)
    c.required("address", "namespace", "deployment_name", "manager_identity", "signing_key")


def input_problems(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(input, reason) for each invalid WorkerRollout input."""
    c = _Checker(props)

    def strategy(value: Any) -> None:
        if value not in STRATEGIES:
            raise ValueError(f"must be one of {', '.join(STRATEGIES)}, got {value!r}")

    def steps(value: Any) -> None:
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(s, Mapping) and _is_known(s.get("percent"))
                and float(s["percent"]).is_integer() for s in value):
            raise ValueError('must be a list of {"percent": whole number, "pause_seconds": '
                             'seconds}')
        if not value and props.get("strategy") != "progressive":
            return  # no ramp without progressive
        spec.RAMP_STEPS.kind.parse(json.dumps([
            {"percent": int(s["percent"]), "pause": int(s.get("pause_seconds") or 0)}
            for s in value]))

    def legacy_steps(value: Any) -> None:
        if not isinstance(value, (list, tuple)) or not all(
                _is_known(step) and float(step).is_integer() for step in value):
            raise ValueError("must be a list of whole percentages")
        spec.RAMP_STEPS.kind.parse(json.dumps([int(step) for step in value]))

    def gate_input(value: Any) -> None:
        spec.GATE_INPUT.kind.parse(value)
        if props.get("gate_workflow") is None:
            raise ValueError("is set without gate_workflow")

    def image(value: Any) -> None:
        _text()(value)
        kinds.image_reference().parse(value)

    _connection_and_deployment(c)
    c.check("build_id", _text(spec.BUILD_ID))
    c.check("image", image)
    c.check("task_queue", _text(spec.TASK_QUEUE))
    c.check("strategy", strategy)
    c.check("steps", steps)
    c.check("ramp_steps", legacy_steps)
    c.check("ramp_pause_seconds", _seconds(0))
    c.check("gate_workflow", _text())
    c.check("gate_input", gate_input)
    c.check("poller_timeout_seconds", _seconds(1))
    c.check("gate_timeout_seconds", _seconds(1))
    c.check("rollout_timeout_seconds", _seconds(1))
    c.check("hold", _text())
    c.required("build_id", "image", "task_queue", "strategy")
    if not c.problems and all(_is_known(props.get(k)) or props.get(k) is None for k in (
            "strategy", "steps", "rollout_timeout_seconds", "gate_workflow", "rollback")):
        worst = worst_case_seconds(
            strategy=props["strategy"], steps=steps_of(props),
            gate=props.get("gate_workflow") is not None, rollback=bool(props.get("rollback")),
            poller_timeout_seconds=props.get("poller_timeout_seconds")
            or DEFAULT_POLLER_TIMEOUT_SECONDS,
            gate_timeout_seconds=props.get("gate_timeout_seconds")
            or DEFAULT_GATE_TIMEOUT_SECONDS)
        bound = props.get("rollout_timeout_seconds") or DEFAULT_ROLLOUT_TIMEOUT_SECONDS
        if worst > bound:
            c.problems.append(("rollout_timeout_seconds", exceeds(worst, bound)))
    return c.problems


def exceeds(worst: float, bound: float) -> str:
    """Why a plan is refused: it could hold the update longer than the bound."""
    return (f"is {bound:g} s, but this plan may take up to {worst:g} s (waiting for pollers, "
            "every gate at its timeout, every ramp pause); shorten the ramp, the pauses or "
            "the gate timeout, or raise the bound")


def upkeep_problems(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(input, reason) for each invalid WorkerVersions input."""
    c = _Checker(props)

    def build_ids(value: Any) -> None:
        if not isinstance(value, (list, tuple)):
            raise ValueError("must be a list of build IDs")
        for build in value:
            _text(spec.BUILD_ID)(build)

    def record_list(value: Any) -> None:
        if not isinstance(value, (list, tuple)):
            raise ValueError("must be a list of {build_id, image}")
        for record in value:
            _text(spec.BUILD_ID)(record["build_id"])
            _text()(record["image"])

    def count(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
                or not float(value).is_integer():
            raise ValueError(f"must be a whole number >= 0, got {value!r}")

    _connection_and_deployment(c)
    c.check("delete_build_ids", build_ids)
    c.check("records", record_list)
    c.check("room_needed", count)
    c.check("wait_seconds", _seconds(0))
    return c.problems


def _is_known(value: Any) -> bool:
    """False for None and for the placeholder Pulumi sends while a value is computed."""
    return value is not None and value != rpc.UNKNOWN
