"""Sample workflows: a chat-completions call, a dependency-free batch job and a smoke test.

Timeouts and retries are chosen per activity: what each may cost, and which errors a retry
cannot fix.

Under worker versioning the worker registers their twins in `worker.versioned` instead.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from worker.activities import (NON_RETRYABLE_CHAT_ERRORS, BatchRequest, ChatActivities,
                                   ChatRequest, SmokeTest, process_batch)


@workflow.defn(name="ChatWorkflow")
class ChatWorkflow:
    """Return the model's answer to the prompt."""

    @workflow.run
    async def run(self, request: ChatRequest) -> str:
        return await workflow.execute_activity_method(
            ChatActivities.chat_completion,
            request,
            # One HTTP call (30 s client deadline) plus slack; rate limits and 5xx are retried
            # with backoff for a few minutes, bad keys and bad requests are not retried.
            start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(seconds=30),
                maximum_attempts=8,
                non_retryable_error_types=NON_RETRYABLE_CHAT_ERRORS,
            ),
        )


@workflow.defn(name="BatchWorkflow")
class BatchWorkflow:
    """Process a batch and report how many items were done."""

    @workflow.run
    async def run(self, request: BatchRequest) -> str:
        expected = timedelta(seconds=request.items * request.seconds_per_item)
        done = await workflow.execute_activity(
            process_batch,
            request,
            # Generous bound for the whole batch; a dead worker is detected much sooner by the
            # heartbeat timeout, and the retry resumes from the last heartbeated item.
            start_to_close_timeout=expected * 2 + timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=max(10.0, 3 * request.seconds_per_item)),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1),
                                     maximum_interval=timedelta(seconds=10)),
        )
        return f"batch {request.name}: processed {done} of {request.items} items"


@workflow.defn(name="SmokeTestWorkflow")
class SmokeTestWorkflow:
    """A rollout gate: run on a new build before it gets traffic (rollout `gateWorkflow`).

    It exercises the build's activities; `fail_with` makes it fail on purpose (at every step,
    or only at `fail_at_step`), so a pipeline can prove that a failing gate stops a rollout.
    """

    @workflow.run
    async def run(self, test: SmokeTest) -> str:
        done = await workflow.execute_activity(
            process_batch, BatchRequest(name="smoke-test", items=test.items),
            start_to_close_timeout=timedelta(seconds=60))
        step = test.rollout_step.step if test.rollout_step else None
        if test.fail_with and test.fail_at_step in (None, step):
            raise ApplicationError(test.fail_with, type="SmokeTestFailed", non_retryable=True)
        return f"smoke test passed on this build at step {step}: {done} items"


WORKFLOWS = [ChatWorkflow, BatchWorkflow, SmokeTestWorkflow]
