"""Temporal Worker Versioning for `pulumi up`: read a Worker Deployment's builds and move its
routing to a new build (pollers first, then an optional gate, a ramp, and Current).

`WorkerRollout` is a Pulumi dynamic resource; `describe` tells the program which builds are live
(and their images) so it keeps rendering a Kubernetes Deployment for each of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pulumi
import pulumi.dynamic
import temporalio.client
import temporalio.common
import temporalio.exceptions
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from pulumi.runtime import rpc
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionProto
from temporalio.api.enums.v1 import TaskQueueType, VersionDrainageStatus
from temporalio.api.enums.v1 import WorkerDeploymentVersionStatus as VersionStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest, DescribeWorkerDeploymentRequest, DescribeWorkerDeploymentResponse,
    DescribeWorkerDeploymentVersionRequest, DescribeWorkerDeploymentVersionResponse,
    SetWorkerDeploymentCurrentVersionRequest, SetWorkerDeploymentRampingVersionRequest,
    UpdateWorkerDeploymentVersionMetadataRequest)
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

import temporal_worker_spec.settings as spec
from temporal_worker_spec.values import build_id_of  # noqa: F401 - part of this API

log = logging.getLogger(__name__)
T = TypeVar("T")

STRATEGIES = ("allAtOnce", "progressive")
IMAGE_METADATA_KEY = "image"
"""Version metadata key holding the image a build runs, so a later `pulumi up` can learn it."""
SECRET_CONNECTION_FIELDS = ("api_key", "client_cert", "client_key")
"""Connection fields kept secret in the state. The resource's properties hold the Connection
fields at the top level: Pulumi would mark a whole object secret for one secret inside it."""
CONNECT_TIMEOUT_SECONDS = 20.0
RPC_TIMEOUT = timedelta(seconds=20)
"""Per call. Calls also let the SDK retry transient statuses: the server rate-limits reads per
Worker Deployment (RESOURCE_EXHAUSTED). A set retried after it took effect meets a conflict
token mismatch, which re-describes and finds the work done."""
POLL_INTERVAL_SECONDS = 1.0
GATE_RESULT_GRACE_SECONDS = 15.0
"""How long past the gate's own execution timeout to wait for the server to report it."""
IDENTITY = f"pulumi-worker-rollout@{socket.gethostname()}"
"""Who changed the routing, as the server shows it in `last_modifier_identity`."""
RECORDING_FORMAT = "temporal-worker-deployment/v1"

# Connection errors whose text is cryptic, and what they usually mean (as the worker says them).
_CAUSES = (
    ("UnknownIssuer", "the server's certificate is not signed by server_ca (or a system CA)"),
    ("NotValidForName", "the server's certificate is not for this host; set server_name"),
    ("InvalidContentType", "the address does not speak TLS; is tls meant to be off?"),
    ("ConnectionRefused", "nothing listens at this address"),
)
_STATUS = {
    VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT: "CURRENT",
    VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING: "RAMPING",
    VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING: "DRAINING",
    VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED: "DRAINED",
}
"""Every other status (INACTIVE, CREATED: polled but never given traffic) reads INACTIVE."""


class RolloutError(Exception):
    """A rollout step failed; the message names the deployment, the build and the step, and
    never holds a credential."""


class UnreachableError(RolloutError):
    """Temporal could not be reached or could not describe the deployment."""


@dataclass(frozen=True)
class Connection:
    """How to reach Temporal with the stack's own credentials (PEM texts, not paths).

    TLS is on when `tls` is true or any of the API key, client certificate, server CA or server
    name is set, as for the worker: an API key is never sent in cleartext.
    """

    address: str
    namespace: str
    tls: bool = False
    api_key: str | None = field(default=None, repr=False)
    client_cert: str | None = field(default=None, repr=False)
    client_key: str | None = field(default=None, repr=False)
    server_ca: str | None = None
    server_name: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Connection:
        """From plain values keyed by field name; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"connection: unknown key(s) {unknown}; expected some of "
                             f"{sorted(known)}")
        values = {k: v for k, v in data.items() if v is not None and v != ""}
        values["tls"] = bool(values.get("tls", False))
        for required in ("address", "namespace"):
            if not values.get(required):
                raise ValueError(f"connection: {required} is required")
        return cls(**values)

    @property
    def where(self) -> str:
        """`ADDRESS (namespace NS)`, for messages."""
        return f"{self.address} (namespace {self.namespace})"

    @property
    def uses_tls(self) -> bool:
        return self.tls or any((self.api_key, self.client_cert, self.client_key,
                                self.server_ca, self.server_name))

    def scrub(self, text: str) -> str:
        """`text` with every credential (and each line of key material) replaced by `***`."""
        for secret in (self.api_key, self.client_cert, self.client_key):
            if not secret:
                continue
            text = text.replace(secret, "***")
            for line in secret.splitlines():
                if len(line.strip()) >= 16:
                    text = text.replace(line.strip(), "***")
        return text

    async def client(self) -> temporalio.client.Client:
        """A connected client; UnreachableError (naming address and namespace) if not."""
        if bool(self.client_cert) != bool(self.client_key):
            raise RolloutError(f"cannot connect to Temporal at {self.where}: client_cert and "
                               "client_key must be given together")
        tls: bool | TLSConfig = False
        if self.uses_tls:
            tls = TLSConfig(
                server_root_ca_cert=self.server_ca.encode() if self.server_ca else None,
                domain=self.server_name or None,
                client_cert=self.client_cert.encode() if self.client_cert else None,
                client_private_key=self.client_key.encode() if self.client_key else None)
        try:
            return await asyncio.wait_for(temporalio.client.Client.connect(
                self.address, namespace=self.namespace, api_key=self.api_key, tls=tls,
                identity=IDENTITY), CONNECT_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            raise UnreachableError(f"cannot connect to Temporal at {self.where}: no answer "
                                   f"within {CONNECT_TIMEOUT_SECONDS:.0f} s") from None
        except Exception as err:  # noqa: BLE001 - the SDK raises RuntimeError for all of them
            text = str(err) or type(err).__name__
            hint = next((f" (likely cause: {cause})" for marker, cause in _CAUSES
                         if marker in text), "")
            raise UnreachableError(f"cannot connect to Temporal at {self.where} (tls "
                                   f"{'on' if self.uses_tls else 'off'}): "
                                   f"{self.scrub(text)}{hint}") from None


CONNECTION_FIELDS = tuple(f.name for f in fields(Connection))


@dataclass(frozen=True)
class Version:
    """One build of a Worker Deployment, as the server reports it."""

    build_id: str
    status: str
    """CURRENT, RAMPING, DRAINING, DRAINED or INACTIVE (polled, never given traffic)."""
    ramp_percentage: float
    """Share of new workflows sent to it while RAMPING, else 0."""
    drained_since: datetime | None
    """When it became DRAINED (no open pinned workflow left), else None."""
    created: datetime | None
    image: str | None
    """The image recorded in its metadata by a rollout, None if none was."""


@dataclass(frozen=True)
class DeploymentState:
    """A Worker Deployment: its versions (oldest first) and its routing."""

    deployment_name: str
    versions: tuple[Version, ...]
    current_build_id: str | None
    ramping_build_id: str | None

    def version(self, build_id: str) -> Version | None:
        return next((v for v in self.versions if v.build_id == build_id), None)


def _time(message: Any, name: str) -> datetime | None:
    if not message.HasField(name):
        return None
    stamp: Timestamp = getattr(message, name)
    return stamp.ToDatetime(tzinfo=timezone.utc)


def _image(answer: DescribeWorkerDeploymentVersionResponse | None) -> str | None:
    if answer is None:
        return None
    payload = answer.worker_deployment_version_info.metadata.entries.get(IMAGE_METADATA_KEY)
    if payload is None:
        return None
    value = DataConverter.default.payload_converter.from_payloads([payload])[0]
    return value if isinstance(value, str) else None


def _state(deployment_name: str, answer: DescribeWorkerDeploymentResponse | None,
           version_answers: Mapping[str, DescribeWorkerDeploymentVersionResponse]
           ) -> DeploymentState:
    """The one reading of the server's answers, live (`describe`) or recorded."""
    if answer is None:
        return DeploymentState(deployment_name, (), None, None)
    info = answer.worker_deployment_info
    routing = info.routing_config
    current = (routing.current_deployment_version.build_id
               if routing.HasField("current_deployment_version") else "") or None
    ramping = (routing.ramping_deployment_version.build_id
               if routing.HasField("ramping_deployment_version") else "") or None
    versions = []
    for summary in info.version_summaries:
        build_id = summary.deployment_version.build_id
        drainage = summary.drainage_info
        drained = (summary.HasField("drainage_info")
                   and drainage.status == VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINED)
        versions.append(Version(
            build_id=build_id,
            status=_STATUS.get(summary.status, "INACTIVE"),
            ramp_percentage=(float(routing.ramping_version_percentage)
                             if build_id == ramping else 0.0),
            drained_since=_time(drainage, "last_changed_time") if drained else None,
            created=_time(summary, "create_time"),
            image=_image(version_answers.get(build_id))))
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    versions.sort(key=lambda v: (v.created or oldest, v.build_id))
    return DeploymentState(info.name or deployment_name, tuple(versions), current, ramping)


async def _describe_answer(client: temporalio.client.Client, deployment_name: str
                           ) -> DescribeWorkerDeploymentResponse | None:
    """DescribeWorkerDeployment, or None when the deployment has no version yet."""
    try:
        return await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace,
                                            deployment_name=deployment_name),
            retry=True, timeout=RPC_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _version_answers(client: temporalio.client.Client,
                           answer: DescribeWorkerDeploymentResponse | None
                           ) -> dict[str, DescribeWorkerDeploymentVersionResponse]:
    """DescribeWorkerDeploymentVersion of each listed version (summaries carry no metadata)."""
    if answer is None:
        return {}
    found = {}
    for summary in answer.worker_deployment_info.version_summaries:
        try:
            found[summary.deployment_version.build_id] = (
                await client.workflow_service.describe_worker_deployment_version(
                    DescribeWorkerDeploymentVersionRequest(
                        namespace=client.namespace, deployment_version=summary.deployment_version),
                    retry=True, timeout=RPC_TIMEOUT))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # deleted since the summary was listed
                raise
    return found


async def _read(connection: Connection, deployment_name: str, read: Callable[..., T]) -> T:
    """`read(describe answer, version answers)`; RPC failures become UnreachableError."""
    client = await connection.client()
    try:
        answer = await _describe_answer(client, deployment_name)
        return read(answer, await _version_answers(client, answer))
    except RPCError as err:
        raise UnreachableError(
            f"cannot describe Worker Deployment {deployment_name} at {connection.where}: "
            f"{err.status.name if err.status else 'error'}: {connection.scrub(err.message)}"
        ) from None


async def describe(connection: Connection, deployment_name: str) -> DeploymentState:
    """The deployment's versions and routing; no versions if it does not exist yet.
    UnreachableError when the server cannot be reached or refuses to answer."""
    return await _read(connection, deployment_name,
                       lambda answer, versions: _state(deployment_name, answer, versions))


async def describe_answer(connection: Connection, deployment_name: str) -> dict:
    """The server's raw answers as JSON (what `state_from_json` reads), for recordings."""
    def as_json(answer, versions) -> dict:
        return {
            "format": RECORDING_FORMAT,
            "deployment_name": deployment_name,
            "describe_worker_deployment": (
                None if answer is None else json_format.MessageToDict(answer)),
            "describe_worker_deployment_version": {
                build_id: json_format.MessageToDict(version)
                for build_id, version in sorted(versions.items())},
        }
    return await _read(connection, deployment_name, as_json)


def state_from_json(data: dict) -> DeploymentState:
    """Read a recorded answer (`describe_answer`, tests/data/temporal/) as `describe` would."""
    raw = data.get("describe_worker_deployment")
    answer = None if raw is None else json_format.ParseDict(
        raw, DescribeWorkerDeploymentResponse(), ignore_unknown_fields=True)
    versions = {build_id: json_format.ParseDict(
                    version, DescribeWorkerDeploymentVersionResponse(),
                    ignore_unknown_fields=True)
                for build_id, version in (data.get("describe_worker_deployment_version")
                                          or {}).items()}
    name = data.get("deployment_name") or (answer.worker_deployment_info.name if answer else "")
    return _state(name, answer, versions)


def run_blocking(make: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
    """Run `make()` on a new event loop in its own thread and return its result.

    Pulumi programs run inside an asyncio loop and dynamic providers in gRPC threads; a thread
    of our own works in both. With `timeout`, asyncio.TimeoutError after that many seconds.
    """
    outcome: dict[str, Any] = {}

    async def bounded() -> T:
        return await (asyncio.wait_for(make(), timeout) if timeout else make())

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(bounded())
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = err

    thread = threading.Thread(target=target, name="temporal-rollout", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def describe_blocking(connection: Connection, deployment_name: str,
                      timeout: float = 30) -> DeploymentState:
    """`describe` for synchronous code, including code inside a running loop (a Pulumi
    program): UnreachableError on connection or RPC failure, or after `timeout` seconds."""
    try:
        return run_blocking(lambda: describe(connection, deployment_name), timeout)
    except asyncio.TimeoutError:
        raise UnreachableError(f"cannot describe Worker Deployment {deployment_name} at "
                               f"{connection.where}: no answer within {timeout:g} s") from None


def _current(answer: DescribeWorkerDeploymentResponse | None) -> str | None:
    return _state("", answer, {}).current_build_id


def _is_conflict(err: RPCError) -> bool:
    return (err.status == RPCStatusCode.FAILED_PRECONDITION
            and "conflict token" in err.message.lower())


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


@dataclass(frozen=True)
class RolloutPlan:
    """What one create/update does: the provider's properties, checked."""

    connection: Connection
    deployment_name: str
    build_id: str
    image: str
    task_queue: str
    strategy: str
    ramp_steps: tuple[int, ...] = (10, 50)
    ramp_pause_seconds: float = 300
    gate_workflow: str | None = None
    gate_input: str | None = None
    rollback: bool = False
    poller_timeout_seconds: float = 300
    gate_timeout_seconds: float = 600

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> RolloutPlan:
        problems = input_problems(props)
        if problems:
            raise RolloutError("WorkerRollout inputs are invalid: " + "; ".join(
                f"{name} {reason}" for name, reason in problems))
        names = {f.name for f in fields(cls)} - {"connection"}
        values = {k: props[k] for k in names if props.get(k) is not None}
        values["ramp_steps"] = tuple(int(step) for step in values.get("ramp_steps", ()))
        values["rollback"] = bool(values.get("rollback", False))
        return cls(connection=Connection.from_mapping(
            {k: props.get(k) for k in CONNECTION_FIELDS}), **values)

    def where(self, step: str) -> str:
        return (f"rollout of build {self.build_id} in Worker Deployment {self.deployment_name} "
                f"(Temporal at {self.connection.where}), step '{step}'")


def _problem(check: Callable[[], Any]) -> str | None:
    try:
        check()
    except ValueError as err:
        return str(err)
    return None


def input_problems(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(input, reason) for each invalid input; values not known yet (previews) are skipped."""
    problems: list[tuple[str, str]] = []

    def check(name: str, test: Callable[[Any], Any]) -> None:
        value = props.get(name)
        if not _is_known(value):
            return
        reason = _problem(lambda: test(value))
        if reason:
            problems.append((name, reason))

    def required_text(setting: spec.Setting | None) -> Callable[[Any], Any]:
        def test(value: Any) -> None:
            if not isinstance(value, str) or not value.strip():
                raise ValueError("must be a non-empty string")
            if setting is not None:
                setting.kind.parse(value)
        return test

    def deployment_name(value: Any) -> None:
        required_text(spec.DEPLOYMENT_NAME)(value)
        if "." in value:
            # The server joins name and build ID with '.' and refuses it in names.
            raise ValueError("must not contain '.': Temporal refuses it in a Worker Deployment "
                             "name")

    def strategy(value: Any) -> None:
        if value not in STRATEGIES:
            raise ValueError(f"must be one of {', '.join(STRATEGIES)}, got {value!r}")

    def steps(value: Any) -> None:
        if not isinstance(value, (list, tuple)) or not all(
                _is_known(step) and float(step).is_integer() for step in value):
            raise ValueError("must be a list of whole percentages")
        spec.RAMP_STEPS.kind.parse(json.dumps([int(step) for step in value]))

    def seconds(minimum: float) -> Callable[[Any], None]:
        def test(value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
                raise ValueError(f"must be a number of seconds >= {minimum:g}, got {value!r}")
        return test

    def gate_input(value: Any) -> None:
        spec.GATE_INPUT.kind.parse(value)
        if props.get("gate_workflow") is None:
            raise ValueError("is set without gate_workflow")

    check("address", required_text(spec.TEMPORAL_ADDRESS))
    check("namespace", required_text(spec.TEMPORAL_NAMESPACE))
    check("deployment_name", deployment_name)
    check("build_id", required_text(spec.BUILD_ID))
    check("image", required_text(None))
    check("task_queue", required_text(spec.TASK_QUEUE))
    check("strategy", strategy)
    check("ramp_steps", steps)
    check("ramp_pause_seconds", seconds(0))
    check("gate_workflow", required_text(None))
    check("gate_input", gate_input)
    check("poller_timeout_seconds", seconds(1))
    check("gate_timeout_seconds", seconds(1))
    for name in ("address", "namespace", "deployment_name", "build_id", "image", "task_queue",
                 "strategy"):
        if name not in props or props[name] is None:
            problems.append((name, "is required"))
    return problems


def _is_known(value: Any) -> bool:
    """False for None and for the placeholder Pulumi sends while a value is computed."""
    return value is not None and value != rpc.UNKNOWN


class Rollout:
    """The steps of one rollout on a connected client; `run()` does them all in order.

    Steps are public so a tool can stop half-way (e.g. leave a build RAMPING for a recording).
    """

    def __init__(self, plan: RolloutPlan, client: temporalio.client.Client) -> None:
        self.plan = plan
        self.client = client
        self.version = temporalio.common.WorkerDeploymentVersion(
            deployment_name=plan.deployment_name, build_id=plan.build_id)
        self._ramped = False
        """Set once this rollout ramped the build: later steps expect it still Ramping."""

    async def run(self) -> str | None:
        """Do the rollout; return the build that was Current before, or None when nothing
        changed (this build was Current already) or nothing was Current."""
        plan = self.plan
        if _current(await self.latest("describe the deployment")) == plan.build_id:
            await self.record_image()
            log.info("build %s is already Current in Worker Deployment %s: routing unchanged",
                     plan.build_id, plan.deployment_name)
            return None
        await self.wait_for_pollers()
        await self.record_image()
        previous = _current(await self.latest("describe the deployment"))
        if not plan.rollback and plan.gate_workflow:
            await self.run_gate(previous)
        if plan.strategy == "progressive" and not plan.rollback:
            if previous is None:
                log.info("no build is Current in Worker Deployment %s: making %s Current "
                         "without a ramp (the rest of the traffic would go to unversioned "
                         "workers)", plan.deployment_name, plan.build_id)
            else:
                for percentage in plan.ramp_steps:
                    await self.ramp(percentage, expected_current=previous)
                    log.info("build %s ramping at %d%% in %s; next step in %g s",
                             plan.build_id, percentage, plan.deployment_name,
                             plan.ramp_pause_seconds)
                    await asyncio.sleep(plan.ramp_pause_seconds)
        await self.promote(expected_current=previous)
        return previous

    async def latest(self, step: str) -> DescribeWorkerDeploymentResponse | None:
        """The deployment as it is now (its conflict token is the one to send)."""
        try:
            return await _describe_answer(self.client, self.plan.deployment_name)
        except RPCError as err:
            raise UnreachableError(f"{self.plan.where(step)}: cannot describe the deployment: "
                                   f"{self._rpc_text(err)}") from None

    def _rpc_text(self, err: RPCError) -> str:
        status = err.status.name if err.status else "error"
        return f"{status}: {self.plan.connection.scrub(err.message)}"

    async def wait_for_pollers(self) -> None:
        """Until the server lists this build as a version with pollers on the task queue."""
        plan = self.plan
        step = "wait for pollers"
        deadline = time.monotonic() + plan.poller_timeout_seconds
        while True:
            answer = await self.latest(step)
            listed = answer is not None and any(
                s.deployment_version.build_id == plan.build_id
                for s in answer.worker_deployment_info.version_summaries)
            if listed and await self._has_pollers(step):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise RolloutError(
                    f"{plan.where(step)}: no worker of build {plan.build_id} polled task queue "
                    f"{plan.task_queue} within {plan.poller_timeout_seconds:g} s: check its "
                    f"pods (image {plan.image})")
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
                                   f"{self.plan.task_queue}: {self._rpc_text(err)}") from None
        return any(p.deployment_options.deployment_name == self.plan.deployment_name
                   and p.deployment_options.build_id == self.plan.build_id
                   for p in answer.pollers)

    async def record_image(self) -> None:
        """Upsert the version's `image` metadata."""
        step = "record image"
        payload = DataConverter.default.payload_converter.to_payloads([self.plan.image])[0]
        try:
            await self.client.workflow_service.update_worker_deployment_version_metadata(
                UpdateWorkerDeploymentVersionMetadataRequest(
                    namespace=self.client.namespace, deployment_version=self._version_proto(),
                    upsert_entries={IMAGE_METADATA_KEY: payload}, identity=IDENTITY),
                retry=True, timeout=RPC_TIMEOUT)
        except RPCError as err:
            raise RolloutError(f"{self.plan.where(step)}: Temporal refused the metadata: "
                               f"{self._rpc_text(err)}") from None

    def _version_proto(self) -> VersionProto:
        return VersionProto(deployment_name=self.plan.deployment_name,
                            build_id=self.plan.build_id)

    async def run_gate(self, current: str | None) -> str:
        """Run the gate workflow once, pinned to this build; RolloutError if it fails."""
        plan = self.plan
        step = f"gate {plan.gate_workflow}"
        workflow_id = f"{plan.deployment_name}-gate-{plan.build_id}-{uuid.uuid4().hex[:8]}"
        args = [] if plan.gate_input is None else [json.loads(plan.gate_input)]
        stays = (f"build {current} stays Current" if current
                 else "no build was made Current")
        try:
            handle = await self.client.start_workflow(
                plan.gate_workflow, args=args, id=workflow_id, task_queue=plan.task_queue,
                execution_timeout=timedelta(seconds=plan.gate_timeout_seconds),
                versioning_override=temporalio.common.PinnedVersioningOverride(self.version))
        except RPCError as err:
            raise RolloutError(f"{plan.where(step)}: cannot start the gate workflow: "
                               f"{self._rpc_text(err)}; {stays}") from None
        log.info("gate %s started on build %s (workflow id %s)", plan.gate_workflow,
                 plan.build_id, workflow_id)
        try:
            result = await asyncio.wait_for(
                handle.result(), plan.gate_timeout_seconds + GATE_RESULT_GRACE_SECONDS)
        except temporalio.client.WorkflowFailureError as err:
            if not isinstance(err.cause, temporalio.exceptions.TimeoutError):
                raise RolloutError(
                    f"{plan.where(step)}: gate workflow {plan.gate_workflow} (workflow id "
                    f"{workflow_id}) failed on build {plan.build_id}: "
                    f"{plan.connection.scrub(_failure_text(err.cause))}; the build got no "
                    f"traffic and {stays}") from None
            timed_out = True
        except asyncio.TimeoutError:
            timed_out = True
        else:
            timed_out = False
        if timed_out:
            raise RolloutError(
                f"{plan.where(step)}: gate workflow {plan.gate_workflow} (workflow id "
                f"{workflow_id}) did not finish within gate_timeout_seconds "
                f"({plan.gate_timeout_seconds:g} s) on build {plan.build_id}: are its workers "
                f"stuck, or is the gate slower than that? The build got no traffic and {stays}")
        log.info("gate %s passed on build %s: %s", plan.gate_workflow, plan.build_id, result)
        return workflow_id

    async def ramp(self, percentage: float, expected_current: str | None = None) -> None:
        """SetWorkerDeploymentRampingVersion(this build, percentage)."""
        self._ramped = await self._set(f"ramp to {percentage:g}%", expected_current,
                        lambda token: self.client.workflow_service
                        .set_worker_deployment_ramping_version(
                            SetWorkerDeploymentRampingVersionRequest(
                                namespace=self.client.namespace,
                                deployment_name=self.plan.deployment_name,
                                build_id=self.plan.build_id, percentage=float(percentage),
                                conflict_token=token, identity=IDENTITY),
                            retry=True, timeout=RPC_TIMEOUT))

    async def promote(self, expected_current: str | None = None) -> None:
        """SetWorkerDeploymentCurrentVersion(this build)."""
        await self._set("set current", expected_current,
                        lambda token: self.client.workflow_service
                        .set_worker_deployment_current_version(
                            SetWorkerDeploymentCurrentVersionRequest(
                                namespace=self.client.namespace,
                                deployment_name=self.plan.deployment_name,
                                build_id=self.plan.build_id, conflict_token=token,
                                identity=IDENTITY),
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
            state = _state(plan.deployment_name, answer, {})
            who = answer.worker_deployment_info.last_modifier_identity or "unknown"
            if expected_current is not None and state.current_build_id not in (
                    expected_current, plan.build_id):
                raise RolloutError(
                    f"{plan.where(step)}: Current changed to {state.current_build_id or 'none'} "
                    f"while this rollout ran (expected {expected_current}; last change by "
                    f"{who}); stopping: run the update again once the other change is done")
            if self._ramped and state.ramping_build_id != plan.build_id \
                    and state.current_build_id != plan.build_id:
                raise RolloutError(
                    f"{plan.where(step)}: the ramp of this build was replaced (Ramping now "
                    f"{state.ramping_build_id or 'none'}, last change by {who}) while this "
                    "rollout paused; stopping: run the update again once the other change is "
                    "done")
            try:
                await call(answer.conflict_token)
                return True
            except RPCError as err:
                if not _is_conflict(err):
                    raise RolloutError(f"{plan.where(step)}: Temporal refused: "
                                       f"{self._rpc_text(err)}") from None
                if attempt == 2:
                    raise RolloutError(
                        f"{plan.where(step)}: the deployment's routing changed between describe "
                        "and update twice in a row (conflict token mismatch): another client "
                        f"({answer.worker_deployment_info.last_modifier_identity or 'unknown'}) "
                        "is changing it; run the update again when it is done") from None
                log.warning("%s: conflict token mismatch (routing changed since the describe); "
                            "describing again and retrying once", plan.where(step))


def _outputs(props: Mapping[str, Any], current: str, previous: str | None) -> dict[str, Any]:
    """State outputs: the inputs without credentials, plus the build IDs."""
    outs = {k: v for k, v in props.items() if k not in SECRET_CONNECTION_FIELDS}
    outs.update(current_build_id=current, previous_build_id=previous)
    return outs


class WorkerRolloutProvider(pulumi.dynamic.ResourceProvider):
    """Moves a Worker Deployment's routing to `build_id` on create and update.

    delete leaves the routing alone: taking Current away from a build would send new workflows
    to unversioned workers, which a versioned rollout does not run.
    """

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, [
            pulumi.dynamic.CheckFailure(name, reason) for name, reason in input_problems(news)])

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        plan = RolloutPlan.from_props(props)
        previous = self._roll_out(plan)
        return pulumi.dynamic.CreateResult(
            f"{plan.connection.namespace}/{plan.deployment_name}",
            _outputs(props, plan.build_id, previous))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]
             ) -> pulumi.dynamic.DiffResult:
        changed = [name for name in ("build_id", "image", "rollback")
                   if olds.get(name) != news.get(name)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=[],
                                         delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]
               ) -> pulumi.dynamic.UpdateResult:
        plan = RolloutPlan.from_props(news)
        previous = self._roll_out(plan)
        if previous is None:  # routing untouched: keep what the state knew
            previous = (olds.get("previous_build_id")
                        if olds.get("current_build_id") == plan.build_id
                        else olds.get("current_build_id"))
        return pulumi.dynamic.UpdateResult(_outputs(news, plan.build_id, previous))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        log.info("WorkerRollout of Worker Deployment %s removed from the stack: Temporal's "
                 "routing is left as it is (build %s stays Current), because taking Current "
                 "away would send new workflows to unversioned workers, which this stack does "
                 "not run", props.get("deployment_name"), props.get("current_build_id"))

    @staticmethod
    def _roll_out(plan: RolloutPlan) -> str | None:
        async def go() -> str | None:
            client = await plan.connection.client()
            return await Rollout(plan, client).run()
        return run_blocking(go)


class WorkerRollout(pulumi.dynamic.Resource, module="temporal", name="WorkerRollout"):
    """Makes `build_id` the Current version of a Worker Deployment once its workers poll.

    Created after the build's Kubernetes Deployment (make it depend on it). An update rolls out
    when build_id, image or rollback change; other inputs alone change nothing in Temporal.
    """

    current_build_id: pulumi.Output[str]
    """The build this resource made (or found) Current."""
    previous_build_id: pulumi.Output[str | None]
    """The build that was Current before, None if there was none."""

    def __init__(self, name: str, *, connection: Mapping[str, pulumi.Input[Any]],
                 deployment_name: pulumi.Input[str], build_id: pulumi.Input[str],
                 image: pulumi.Input[str], task_queue: pulumi.Input[str], strategy: str,
                 ramp_steps: Sequence[int] = (10, 50), ramp_pause_seconds: int = 300,
                 gate_workflow: str | None = None, gate_input: str | None = None,
                 rollback: bool = False, poller_timeout_seconds: int = 300,
                 gate_timeout_seconds: int = 600,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        unknown = sorted(set(connection) - set(CONNECTION_FIELDS))
        if unknown:
            raise ValueError(f"WorkerRollout {name}: connection: unknown key(s) {unknown}; "
                             f"expected some of {sorted(CONNECTION_FIELDS)}")
        missing = [k for k in ("address", "namespace") if connection.get(k) is None]
        if missing:
            raise ValueError(f"WorkerRollout {name}: connection: {', '.join(missing)} required")
        props: dict[str, Any] = {
            **{k: (pulumi.Output.secret(v) if k in SECRET_CONNECTION_FIELDS and v is not None
                   else v) for k, v in connection.items()},
            "deployment_name": deployment_name, "build_id": build_id, "image": image,
            "task_queue": task_queue, "strategy": strategy, "ramp_steps": list(ramp_steps),
            "ramp_pause_seconds": ramp_pause_seconds, "gate_workflow": gate_workflow,
            "gate_input": gate_input, "rollback": rollback,
            "poller_timeout_seconds": poller_timeout_seconds,
            "gate_timeout_seconds": gate_timeout_seconds,
        }
        plain = {k: v for k, v in props.items() if not isinstance(v, (pulumi.Output, Awaitable))}
        problems = [(k, reason) for k, reason in input_problems(plain) if k in plain]
        if problems:
            raise ValueError(f"WorkerRollout {name}: " + "; ".join(
                f"{k} {reason}" for k, reason in problems))
        props.update(current_build_id=None, previous_build_id=None)
        # The provider returns no credential; should one ever come back, it stays secret.
        opts = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(
            additional_secret_outputs=list(SECRET_CONNECTION_FIELDS)), opts)
        super().__init__(WorkerRolloutProvider(), name, props, opts)
