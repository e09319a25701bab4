"""The stack's versioned rollout (`rollout: allAtOnce | progressive`).

Before any resource: learn from Temporal, with the stack's own credentials, which builds are
live, and decide which Deployments stay (temporal_worker_k8s.rollouts). After the worker's
Deployments: hand the switch to Temporal Worker Versioning (versioning.WorkerRollout), which
waits for the new build's pollers, runs the gate, then ramps or switches.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from typing import Any

import pulumi

from stack.config import StackConfig, key
from temporal_worker_k8s import rollouts, versioning

WORKER_NAME = "temporal-worker"
# Connection field -> the secret setting that holds it.
CREDENTIALS = {"api_key": "temporalApiKey", "client_cert": "tlsCert", "client_key": "tlsKey"}


def now() -> datetime.datetime:
    """The clock the sunset delays are measured with (tests move it)."""
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class VersionedRollout:
    """What the worker component and the rollout resource need for this `pulumi up`."""

    inputs: dict[str, Any]
    """TemporalWorker inputs: build_id, deployment_name, versions."""
    connection: versioning.Connection
    """How the program reached Temporal (the rollout resource uses the same)."""
    target_build_id: str
    """The build to make Current: the new image's, or `currentBuildId` for a rollback."""
    target_image: pulumi.Input[str] | None
    """The target's image when it is an older build (rollback); None for the new image."""

    @property
    def rollback(self) -> bool:
        return self.target_image is not None


def plan(config: StackConfig, image_tag: str) -> VersionedRollout | None:
    """The rollout for this run, or None with the rolling strategy. Raises ValueError (naming
    the key) when Temporal cannot be asked: the program does not guess which builds are live."""
    if config["rollout"] == "rolling":
        return None
    deployment_name = f"{config['k8sNamespace']}/{WORKER_NAME}"
    new_build = rollouts.build_id_for_tag(image_tag)
    reach = connection(config)
    try:
        state = versioning.describe_blocking(reach, deployment_name)
    except versioning.UnreachableError as err:
        raise ValueError(
            f"{key('rollout')}: cannot learn the live builds of {deployment_name} from Temporal "
            f"({err}); the program does not guess which Deployments to keep. Check "
            f"{key('temporalAddress')} and the credentials, or set rollout to rolling") from None
    decided = rollouts.plan(state.versions, new_build, now=now(),
                            scaledown_after=config["sunsetScaledownDelay"],
                            delete_after=config["sunsetDeleteDelay"])
    for note in decided.notes:
        pulumi.log.info(f"{key('rollout')}: {note}")
    target, target_image = new_build, None
    if config["currentBuildId"] and config["currentBuildId"] != new_build:
        target = config["currentBuildId"]
        target_image = rollouts.rollback_image(state.versions, target, decided.versions)
        if target_image is None:
            live = ", ".join(v["build_id"] for v in decided.versions) or "none"
            raise ValueError(f"{key('currentBuildId')}: {target} has no Deployment to roll back "
                             f"to (builds still deployed: {live})")
    inputs = {"build_id": new_build, "deployment_name": deployment_name,
              "versions": decided.versions}
    return VersionedRollout(inputs, reach, target, target_image)


def connection(config: StackConfig) -> versioning.Connection:
    """How the program itself reaches Temporal: the worker's address and credentials."""
    secrets = config.plain_secrets
    return versioning.Connection(
        address=config["temporalAddress"], namespace=config["temporalNamespace"],
        tls=bool(secrets.get("tlsCert") or secrets.get("temporalApiKey")
                 or config["tlsServerCa"]),
        server_ca=config["tlsServerCa"], server_name=config["tlsServerName"],
        **{field: secrets.get(name) for field, name in CREDENTIALS.items()})


def start(name: str, rollout: VersionedRollout, config: StackConfig, image: pulumi.Input[str],
          after: pulumi.Resource) -> versioning.WorkerRollout:
    """The Temporal side of the rollout, once `after` (the worker's Deployments) exists."""
    # The credentials go in as the config's secret Outputs, not as the plain text `plan` used.
    reach = {**dataclasses.asdict(rollout.connection),
             **{field: config.secrets.get(name) for field, name in CREDENTIALS.items()}}
    # Switches Temporal's routing to the target build once its pods poll (and its gate passes).
    return versioning.WorkerRollout(
        name, connection=reach,
        deployment_name=rollout.inputs["deployment_name"], build_id=rollout.target_build_id,
        image=rollout.target_image or image, task_queue=config["taskQueue"],
        strategy=config["rollout"], ramp_steps=config["rampSteps"],
        ramp_pause_seconds=config["rampPause"], gate_workflow=config["gateWorkflow"],
        gate_input=config["gateInput"], rollback=rollout.rollback,
        opts=pulumi.ResourceOptions(depends_on=[after]))
