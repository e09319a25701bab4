"""Changing a Worker Deployment as its manager: the manager identity a stack claims (and whose
absence or loss stops a change), refused changes told apart, and the signed image records.

Shared by the rollout engine and the version upkeep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import temporalio.client
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionProto
from temporalio.api.workflowservice.v1 import (DescribeWorkerDeploymentResponse,
                                               SetWorkerDeploymentManagerRequest,
                                               UpdateWorkerDeploymentVersionMetadataRequest)
from temporalio.service import RPCError, RPCStatusCode

from temporal_worker_k8s.versioning import records
from temporal_worker_k8s.versioning.connection import (RPC_TIMEOUT, Connection, OwnershipError,
                                                       RolloutError, UnreachableError)
from temporal_worker_k8s.versioning.state import describe_deployment

log = logging.getLogger("temporal_worker_k8s.versioning")


def is_conflict(err: RPCError) -> bool:
    return (err.status == RPCStatusCode.FAILED_PRECONDITION
            and "conflict token" in err.message.lower())


def is_not_manager(err: RPCError) -> bool:
    return (err.status == RPCStatusCode.FAILED_PRECONDITION
            and "manageridentity" in err.message.lower())


class DeploymentWriter:
    """A connected client that changes one Worker Deployment, as its manager."""

    def __init__(self, client: temporalio.client.Client, connection: Connection,
                 deployment_name: str, identity: str, take_over: bool,
                 where: Callable[[str], str]) -> None:
        self.client = client
        self.connection = connection
        self.deployment_name = deployment_name
        self.identity = identity
        self.take_over = take_over
        self.where = where

    async def latest(self, step: str) -> DescribeWorkerDeploymentResponse | None:
        """The deployment as it is now (its conflict token is the one to send)."""
        try:
            return await describe_deployment(self.client, self.deployment_name)
        except RPCError as err:
            raise UnreachableError(f"{self.where(step)}: cannot describe the deployment: "
                                   f"{self.connection.rpc_text(err)}") from None

    def not_ours(self, holder: str, step: str) -> OwnershipError:
        return OwnershipError(
            f"{self.where(step)}: Worker Deployment {self.deployment_name} is managed by "
            f"{holder!r} (its manager identity), not by this stack ({self.identity!r}); nothing "
            "was changed. When they are done, hand it back with `temporal worker deployment "
            f"manager-identity unset --deployment-name {self.deployment_name}`, or set "
            "take_over (the stack setting rolloutTakeOver) to take it over", holder)

    def check_owner(self, answer: DescribeWorkerDeploymentResponse | None, step: str) -> None:
        """OwnershipError when someone else manages the deployment (and we may not take it)."""
        holder = answer.worker_deployment_info.manager_identity if answer else ""
        if holder and holder != self.identity and not self.take_over:
            raise self.not_ours(holder, step)

    async def claim(self, step: str = "claim the manager identity") -> None:
        """Make this stack the deployment's manager (nothing to do while it does not exist)."""
        for attempt in (1, 2):
            answer = await self.latest(step)
            if answer is None:
                return
            self.check_owner(answer, step)
            holder = answer.worker_deployment_info.manager_identity
            if holder == self.identity:
                return
            if holder:
                log.warning("%s: taking over the manager identity from %r (take_over is set)",
                            self.where(step), holder)
            try:
                await self.client.workflow_service.set_worker_deployment_manager(
                    SetWorkerDeploymentManagerRequest(
                        namespace=self.client.namespace, deployment_name=self.deployment_name,
                        manager_identity=self.identity, identity=self.identity,
                        conflict_token=answer.conflict_token),
                    retry=True, timeout=RPC_TIMEOUT)
                return
            except RPCError as err:
                if not is_conflict(err) or attempt == 2:
                    raise RolloutError(f"{self.where(step)}: Temporal refused: "
                                       f"{self.connection.rpc_text(err)}") from None

    def refused(self, step: str, err: RPCError) -> RolloutError:
        """The error for a refused change: OwnershipError when another manager holds it."""
        if is_not_manager(err):
            return OwnershipError(f"{self.where(step)}: Temporal refused the change: "
                                  f"{self.connection.rpc_text(err)}", "another client")
        return RolloutError(f"{self.where(step)}: Temporal refused: "
                            f"{self.connection.rpc_text(err)}")

    async def write_record(self, build_id: str, image: str, key: str, step: str) -> bool:
        """Upsert the build's signed image record (and drop a 1.x unsigned one); False when
        the version no longer exists."""
        try:
            await self.client.workflow_service.update_worker_deployment_version_metadata(
                UpdateWorkerDeploymentVersionMetadataRequest(
                    namespace=self.client.namespace,
                    deployment_version=VersionProto(deployment_name=self.deployment_name,
                                                    build_id=build_id),
                    upsert_entries={records.RECORD_KEY: records.encode(
                        key, self.deployment_name, build_id, image)},
                    remove_entries=[records.LEGACY_IMAGE_KEY], identity=self.identity),
                retry=True, timeout=RPC_TIMEOUT)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise self.refused(step, err) from None
        return True
