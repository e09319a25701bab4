"""Record a real Temporal answer about a Worker Deployment, for tests that mock Temporal.

    .venv/bin/python -m tools.record_worker_deployment [--out FILE]

(default FILE: tests/data/temporal/worker_deployment.json)

Starts a dev server and five real worker processes (builds b1-b5 of one deployment, fake
digest-pinned images) and drives them with the rollout code into every status at once:
b1 DRAINED, b2 DRAINING (a pinned batch still open), b3 CURRENT, b4 RAMPING at 25%, each with
its image record signed with RECORDING_KEY, and b5 INACTIVE (it polls, no rollout touched it,
so no record). The rollouts claim the deployment as RECORDING_IDENTITY: the manager identity
of this project's `prod` stack under Pulumi's mocks. Then it saves DescribeWorkerDeployment and
each DescribeWorkerDeploymentVersion, as `versioning.describe_answer` returns them and
`versioning.state_from_json` reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client

import temporal_worker_spec.settings as spec
from temporal_worker_k8s.versioning import (Connection, DeploymentState, Rollout, RolloutPlan,
                                            build_id_of, describe, describe_answer,
                                            state_from_json)
from tools.devserver import FAST_DRAINAGE, DevServer, temporal_cli
from tools.procs import wait_for_async
from tools.worker_process import WorkerProcess
from worker.activities import BatchRequest
from worker.workflows import BatchWorkflow

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "data" / "temporal" / "worker_deployment.json"
DEPLOYMENT = "payments-workers/temporal-worker"
"""The Worker Deployment of this project's prod stack in tests (CLOUD_TARGET's namespace)."""
TASK_QUEUE = "orders"
REPOSITORY = "registry.example.com/team/temporal-worker"
RAMP_PERCENT = 25
WAIT_SECONDS = 60
RECORDING_KEY = "recording-signing-key-not-secret-0123456789"
"""The rolloutSigningKey the records were signed with (test data, not a secret)."""
RECORDING_IDENTITY = "pulumi:organization/temporal-worker/prod"


def image_of(label: str) -> str:
    """A digest-pinned image reference for a fake build `label` (nothing is pulled)."""
    return f"{REPOSITORY}@sha256:{hashlib.sha256(label.encode()).hexdigest()}"


async def until(check, what: str) -> DeploymentState:
    return await wait_for_async(check, WAIT_SECONDS, what, interval=1)


async def record(out: Path) -> dict:
    labels = ["b1", "b2", "b3", "b4", "b5"]
    images = {label: image_of(label) for label in labels}
    builds = {label: build_id_of(image) for label, image in images.items()}
    with DevServer(dynamic_config=FAST_DRAINAGE) as server:
        connection = Connection(server.address, "default")
        workers: list[WorkerProcess] = []
        try:
            # One after the other, as builds are deployed, so the versions' creation times
            # follow b1..b5.
            for label in labels:
                workers.append(WorkerProcess({
                    spec.TEMPORAL_ADDRESS.env: server.address, spec.TASK_QUEUE.env: TASK_QUEUE,
                    spec.DEPLOYMENT_NAME.env: DEPLOYMENT,
                    spec.BUILD_ID.env: builds[label]}).start())
                await asyncio.to_thread(workers[-1].wait_ready)
            client = await Client.connect(server.address)

            def rollout(label: str) -> Rollout:
                return Rollout(RolloutPlan(
                    connection=connection, deployment_name=DEPLOYMENT, build_id=builds[label],
                    image=images[label], task_queue=TASK_QUEUE, strategy="allAtOnce",
                    signing_key=RECORDING_KEY, manager_identity=RECORDING_IDENTITY,
                    poller_timeout_seconds=WAIT_SECONDS), client)

            await rollout("b1").run()
            await rollout("b2").run()
            await until(lambda: _status(connection, builds["b1"], "DRAINED"), "b1 to drain")
            # An open pinned workflow keeps b2 DRAINING once b3 is Current.
            batch = await client.start_workflow(
                BatchWorkflow.run, BatchRequest(name="long", items=600, seconds_per_item=1.0),
                id=f"pinned-{uuid.uuid4()}", task_queue=TASK_QUEUE,
                execution_timeout=timedelta(minutes=15))
            await until(lambda: _running_on(batch, builds["b2"]), "the batch to run on b2")
            await rollout("b3").run()
            ramp = rollout("b4")
            await ramp.wait_for_pollers()
            await ramp.claim()
            await ramp.record_image()
            await ramp.ramp(RAMP_PERCENT)
            await until(lambda: _status(connection, builds["b2"], "DRAINING"), "b2 DRAINING")
            answer = await describe_answer(connection, DEPLOYMENT)
            answer["recorded_with"] = {
                "tool": "tools/record_worker_deployment.py",
                "temporal": subprocess.run([temporal_cli(), "--version"], capture_output=True,
                                           text=True, check=True).stdout.strip(),
                "builds": {label: {"build_id": builds[label], "image": images[label]}
                           for label in labels},
                "signing_key": RECORDING_KEY, "manager_identity": RECORDING_IDENTITY,
            }
            state = state_from_json(answer)
            assert state == await describe(connection, DEPLOYMENT), "recording does not parse"
            await batch.terminate("recording done")
        finally:
            for worker in workers:
                worker.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(answer, indent=2, sort_keys=True) + "\n")
    return answer


async def _status(connection: Connection, build_id: str, status: str) -> DeploymentState | None:
    state = await describe(connection, DEPLOYMENT)
    version = state.version(build_id)
    return state if version is not None and version.status == status else None


async def _running_on(handle, build_id: str) -> bool:
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id == build_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.record_worker_deployment",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    answer = asyncio.run(record(args.out))
    for version in state_from_json(answer).versions:
        recorded = version.record.image if version.record else None
        print(f"{version.build_id}  {version.status:<8}  ramp {version.ramp_percentage:g}%  "
              f"drained_since {version.drained_since}  image {recorded}")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
