"""The sample workflows' twins for worker versioning (a versioned rollout).

Each twin says how it moves between builds: a chat call is short and may finish on whichever
build is Current (AUTO_UPGRADE); a batch heartbeats progress tied to the code that started it,
so it stays on its build (PINNED); the smoke test must run on the build it tests (PINNED). A
workflow that says nothing follows WORKER_DEFAULT_VERSIONING_BEHAVIOR. The server refuses a
versioning behaviour from a worker that is not versioned, so the twins are registered only when
the worker runs as a version.

They live apart from `worker.workflows` because the workflow sandbox re-runs a workflow's module
for every new workflow: an unversioned worker then defines three workflows per workflow, not six
(bench/README.md, "Where the time goes").
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from worker.activities import BatchRequest, ChatRequest, SmokeTest
from worker.workflows import BatchWorkflow, ChatWorkflow, SmokeTestWorkflow


@workflow.defn(name="ChatWorkflow", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class VersionedChatWorkflow(ChatWorkflow):
    """ChatWorkflow under worker versioning: moves to the new Current build."""

    @workflow.run
    async def run(self, request: ChatRequest) -> str:
        return await super().run(request)


@workflow.defn(name="BatchWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class VersionedBatchWorkflow(BatchWorkflow):
    """BatchWorkflow under worker versioning: stays on the build it started on."""

    @workflow.run
    async def run(self, request: BatchRequest) -> str:
        return await super().run(request)


@workflow.defn(name="SmokeTestWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class VersionedSmokeTestWorkflow(SmokeTestWorkflow):
    """SmokeTestWorkflow under worker versioning: runs on the build it was started on."""

    @workflow.run
    async def run(self, test: SmokeTest) -> str:
        return await super().run(test)


VERSIONED_WORKFLOWS = [VersionedChatWorkflow, VersionedBatchWorkflow,
                       VersionedSmokeTestWorkflow]
