"""Version upkeep, run before a new build's Deployment exists: delete the versions of builds
whose Deployments went after sunsetDeleteDelay, and sign records again (key rotation, adopted
builds).

Temporal caps the versions of a Worker Deployment (matching.maxVersionsInDeployment); a new
build whose workers find the cap reached cannot register, its pods never become ready, and the
update stalls. So deletion happens first, in the update that needs the room. The server deletes
a version only when it is neither Current nor Ramping, has no open pinned workflow (drainage is
never skipped here), and has had no poller for its PollerHistoryTTL (5 minutes by default). A
build whose Deployment goes in this same update still has pods polling, so its version is
deleted by a later update; when the new build needs that room, this waits (with backoff, up to
`wait_seconds`) for the server to forget the pollers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import temporalio.client
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionProto
from temporalio.api.workflowservice.v1 import DeleteWorkerDeploymentVersionRequest
from temporalio.service import RPCError, RPCStatusCode

from temporal_worker_k8s.versioning.connection import RPC_TIMEOUT, RolloutError
from temporal_worker_k8s.versioning.manager import DeploymentWriter, is_not_manager
from temporal_worker_k8s.versioning.inputs import UpkeepPlan

log = logging.getLogger("temporal_worker_k8s.versioning")
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0
_TRANSIENT = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
              RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.ABORTED}


@dataclass(frozen=True)
class UpkeepResult:
    deleted: tuple[str, ...] = ()
    """Build IDs whose versions this run deleted (or found already gone)."""
    pending: tuple[str, ...] = ()
    """Build IDs whose versions could not go yet (pollers still listed); a later run retries."""
    kept: tuple[str, ...] = ()
    """Build IDs the server would not delete because Temporal still routes to them."""


class Upkeep(DeploymentWriter):
    """Deletes sunset versions and re-signs records for one Worker Deployment."""

    def __init__(self, plan: UpkeepPlan, client: temporalio.client.Client) -> None:
        super().__init__(client, plan.connection, plan.deployment_name, plan.manager_identity,
                         plan.take_over, plan.where)
        self.plan = plan

    async def run(self) -> UpkeepResult:
        plan = self.plan
        if not plan.delete_build_ids and not plan.records:
            return UpkeepResult()
        answer = await self.latest("describe the deployment")
        if answer is None:
            return UpkeepResult(deleted=plan.delete_build_ids)
        await self.claim()
        for build_id, image in plan.records:
            if await self.write_record(build_id, image, plan.signing_key, "sign again"):
                log.info("signed the image record of build %s again with the current key",
                         build_id)
        listed = {s.deployment_version.build_id
                  for s in answer.worker_deployment_info.version_summaries}
        result = await self.delete_versions([b for b in plan.delete_build_ids if b in listed])
        gone = tuple(b for b in plan.delete_build_ids if b not in listed)
        result = UpkeepResult(gone + result.deleted, result.pending, result.kept)
        if len(result.deleted) < plan.room_needed:
            raise RolloutError(
                f"{plan.where('delete versions')}: the new build needs {plan.room_needed} "
                f"version(s) deleted before its workers can register (Temporal allows only so "
                f"many per Worker Deployment), but {len(result.deleted)} could be; still listed "
                f"with pollers after {plan.wait_seconds:g} s: {', '.join(result.pending)}. "
                "Temporal forgets a stopped worker's pollers about 5 minutes after its last "
                "poll: run the update again then (is a worker of those builds still running "
                "elsewhere?). Nothing else was changed")
        for build_id in result.pending:
            log.warning("%s: the version of build %s still has pollers listed (its pods stopped "
                        "less than about 5 minutes ago); a later update deletes it",
                        plan.where("delete versions"), build_id)
        return result

    async def delete_versions(self, builds: list[str]) -> UpkeepResult:
        """Delete each, retrying with backoff those the server cannot delete yet, while the
        new build still needs room."""
        plan = self.plan
        deleted: list[str] = []
        kept: list[str] = []
        deadline = time.monotonic() + plan.wait_seconds
        backoff = FIRST_BACKOFF_SECONDS
        # At least ten tries within the wait, at most one every MAX_BACKOFF_SECONDS.
        ceiling = max(FIRST_BACKOFF_SECONDS, min(MAX_BACKOFF_SECONDS, plan.wait_seconds / 10))
        todo = list(builds)
        while todo:
            later = []
            for build_id in todo:
                outcome = await self.delete(build_id)
                if outcome == "deleted":
                    deleted.append(build_id)
                elif outcome == "kept":
                    kept.append(build_id)
                else:
                    later.append(build_id)
            todo = later
            if not todo or len(deleted) >= plan.room_needed \
                    or time.monotonic() + backoff > deadline:
                break
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, ceiling)
        return UpkeepResult(tuple(deleted), tuple(todo), tuple(kept))

    async def delete(self, build_id: str) -> str:
        """`deleted` (or already gone), `later` (pollers still listed, or a transient error) or
        `kept` (draining, current or ramping: Temporal still needs it)."""
        step = f"delete version {build_id}"
        try:
            await self.client.workflow_service.delete_worker_deployment_version(
                DeleteWorkerDeploymentVersionRequest(
                    namespace=self.client.namespace,
                    deployment_version=VersionProto(deployment_name=self.deployment_name,
                                                    build_id=build_id),
                    skip_drainage=False, identity=self.identity),
                retry=True, timeout=RPC_TIMEOUT)
        except RPCError as err:
            text = err.message.lower()
            if err.status == RPCStatusCode.NOT_FOUND:
                return "deleted"
            if err.status in _TRANSIENT or "active pollers" in text:
                return "later"
            if err.status == RPCStatusCode.FAILED_PRECONDITION and not is_not_manager(err) \
                    and ("draining" in text or "current or ramping" in text):
                log.warning("%s: kept, Temporal still needs it (%s)", self.where(step),
                            self.connection.rpc_text(err))
                return "kept"
            raise self.refused(step, err) from None
        log.info("deleted the version of build %s from Worker Deployment %s", build_id,
                 self.deployment_name)
        return "deleted"
