"""A Worker Deployment as the server reports it: its versions (status, drainage, the image
record each carries) and its routing and manager, read live (`describe`) or from a recording.

Reading never trusts a record: each version carries what its metadata says (`records.Recorded`),
and `records.verify` decides later whether the stack signed it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import temporalio.client
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import TaskQueueType, VersionDrainageStatus
from temporalio.api.enums.v1 import WorkerDeploymentVersionStatus as VersionStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest, DescribeTaskQueueResponse, DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentResponse, DescribeWorkerDeploymentVersionRequest,
    DescribeWorkerDeploymentVersionResponse)
from temporalio.service import RPCError

from temporal_worker_k8s.versioning import records
from temporal_worker_k8s.versioning.connection import (RPC_TIMEOUT, Connection,
                                                       UnreachableError, is_not_found)

T = TypeVar("T")
RECORDING_FORMAT = "temporal-worker-deployment/v1"
LIVE = frozenset({"CURRENT", "RAMPING", "DRAINING"})
"""Statuses of builds Temporal still sends tasks to."""
_STATUS = {
    VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT: "CURRENT",
    VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING: "RAMPING",
    VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING: "DRAINING",
    VersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED: "DRAINED",
}
"""Every other status (INACTIVE, CREATED: polled but never given traffic) reads INACTIVE."""


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
    record: records.Recorded | None = None
    """What its metadata says about its image (not yet verified); None if nothing."""
    last_polled: datetime | None = None
    """When a worker of this build last polled the task queue, as far as the server still
    lists it (about 5 minutes); None when not listed or not asked."""

    @property
    def live(self) -> bool:
        return self.status in LIVE


@dataclass(frozen=True)
class DeploymentState:
    """A Worker Deployment: its versions (oldest first), its routing and who manages it."""

    deployment_name: str
    versions: tuple[Version, ...]
    current_build_id: str | None
    ramping_build_id: str | None
    manager_identity: str = ""
    """Who alone may change its routing ('' when nobody claimed it)."""
    last_modifier_identity: str = ""

    def version(self, build_id: str) -> Version | None:
        return next((v for v in self.versions if v.build_id == build_id), None)


def _time(message: Any, name: str) -> datetime | None:
    if not message.HasField(name):
        return None
    stamp: Timestamp = getattr(message, name)
    return stamp.ToDatetime(tzinfo=timezone.utc)


def routing(answer: DescribeWorkerDeploymentResponse | None) -> tuple[str | None, str | None]:
    """(Current, Ramping) build IDs of a describe answer."""
    if answer is None:
        return None, None
    config = answer.worker_deployment_info.routing_config
    current = (config.current_deployment_version.build_id
               if config.HasField("current_deployment_version") else "") or None
    ramping = (config.ramping_deployment_version.build_id
               if config.HasField("ramping_deployment_version") else "") or None
    return current, ramping


def parse(deployment_name: str, answer: DescribeWorkerDeploymentResponse | None,
          version_answers: Mapping[str, DescribeWorkerDeploymentVersionResponse],
          queue_answers: Sequence[DescribeTaskQueueResponse] = ()) -> DeploymentState:
    """The one reading of the server's answers, live (`describe`) or recorded."""
    polled: dict[str, datetime] = {}
    for queue in queue_answers:
        for poller in queue.pollers:
            options = poller.deployment_options
            seen = _time(poller, "last_access_time")
            if options.deployment_name == deployment_name and seen is not None:
                polled[options.build_id] = max(seen, polled.get(options.build_id, seen))
    if answer is None:
        return DeploymentState(deployment_name, (), None, None)
    info = answer.worker_deployment_info
    current, ramping = routing(answer)
    versions = []
    for summary in info.version_summaries:
        build_id = summary.deployment_version.build_id
        drainage = summary.drainage_info
        drained = (summary.HasField("drainage_info")
                   and drainage.status == VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINED)
        described = version_answers.get(build_id)
        versions.append(Version(
            build_id=build_id,
            status=_STATUS.get(summary.status, "INACTIVE"),
            ramp_percentage=(float(info.routing_config.ramping_version_percentage)
                             if build_id == ramping else 0.0),
            drained_since=_time(drainage, "last_changed_time") if drained else None,
            created=_time(summary, "create_time"),
            record=None if described is None else records.read(
                described.worker_deployment_version_info.metadata.entries),
            last_polled=polled.get(build_id)))
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    versions.sort(key=lambda v: (v.created or oldest, v.build_id))
    return DeploymentState(info.name or deployment_name, tuple(versions), current, ramping,
                           info.manager_identity, info.last_modifier_identity)


async def describe_deployment(client: temporalio.client.Client, deployment_name: str
                              ) -> DescribeWorkerDeploymentResponse | None:
    """DescribeWorkerDeployment, or None when the deployment has no version yet."""
    try:
        return await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace,
                                            deployment_name=deployment_name),
            retry=True, timeout=RPC_TIMEOUT)
    except RPCError as err:
        if is_not_found(err):
            return None
        raise


async def describe_versions(client: temporalio.client.Client,
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
            if not is_not_found(err):  # deleted since the summary was listed
                raise
    return found


async def describe_pollers(client: temporalio.client.Client, task_queue: str | None
                           ) -> list[DescribeTaskQueueResponse]:
    """DescribeTaskQueue of the workflow and activity queues (who polled, and when)."""
    if not task_queue:
        return []
    return [await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
                                 task_queue_type=kind),
        retry=True, timeout=RPC_TIMEOUT)
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                     TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)]


async def _read(connection: Connection, deployment_name: str, read: Callable[..., T],
                task_queue: str | None = None) -> T:
    """`read(describe answer, version answers, task queue answers)`; RPC failures become
    UnreachableError."""
    client = await connection.client()
    try:
        answer = await describe_deployment(client, deployment_name)
        return read(answer, await describe_versions(client, answer),
                    await describe_pollers(client, task_queue))
    except RPCError as err:
        raise UnreachableError(
            f"cannot describe Worker Deployment {deployment_name} at {connection.where}: "
            f"{connection.rpc_text(err)}") from None


async def describe(connection: Connection, deployment_name: str,
                   task_queue: str | None = None) -> DeploymentState:
    """The deployment's versions, routing and manager; no versions if it does not exist yet.
    With `task_queue`, also when each build last polled it. UnreachableError when the server
    cannot be reached or refuses to answer."""
    return await _read(connection, deployment_name,
                       lambda answer, versions, queues: parse(deployment_name, answer, versions,
                                                              queues), task_queue)


async def describe_answer(connection: Connection, deployment_name: str) -> dict:
    """The server's raw answers as JSON (what `state_from_json` reads), for recordings."""
    def as_json(answer, versions, _queues) -> dict:
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
    return parse(name, answer, versions)
