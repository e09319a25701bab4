"""The stack's versioned rollout (`rollout: allAtOnce | progressive`).

Before any resource: refuse a plan that could hold the update past rolloutTimeout, learn from
Temporal, with the stack's own credentials, which builds are live, trust only the images the
stack signed (or adopted), stop if someone else manages the Worker Deployment, and decide which
Deployments stay and which versions go (temporal_worker_k8s.rollouts). Then, before the
worker's Deployments, `WorkerVersions` makes room (deletes sunset versions) and signs records
again; after them, `WorkerRollout` hands the switch to Temporal Worker Versioning.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from typing import Any

import pulumi

from stack.config import ConfigError, StackConfig, key
from temporal_worker_k8s import rollouts, versioning
from temporal_worker_k8s.worker_args import BuildVersion
from temporal_worker_k8s.versioning.inputs import DEFAULT_POLLER_TIMEOUT_SECONDS, exceeds
from temporal_worker_spec import values as kinds

WORKER_NAME = "temporal-worker"
# Connection field -> the secret setting that holds it.
CREDENTIALS = {"api_key": "temporalApiKey", "client_cert": "tlsCert", "client_key": "tlsKey"}


class Refused(ConfigError):
    """The rollout is refused before any resource (one message, no traceback)."""


def now() -> datetime.datetime:
    """The clock the sunset delays are measured with (tests move it)."""
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class VersionedRollout:
    """What the worker component and the two rollout resources need for this `pulumi up`."""

    inputs: dict[str, Any]
    """TemporalWorker inputs: build_id, deployment_name, versions."""
    connection: versioning.Connection
    """How the program reached Temporal (the rollout resources use the same)."""
    target_build_id: str
    """The build to make Current: the new image's, or `currentBuildId` for a rollback."""
    target_image: pulumi.Input[str] | None
    """The target's image when it is an older build (rollback); None for the new image."""
    upkeep: dict[str, Any]
    """WorkerVersions inputs: delete_build_ids, room_needed, records."""
    identity: str
    """The manager identity the rollout claims."""
    hold: str | None = None
    """Why the new build is held back in this update (WorkerRollout fails with it)."""

    @property
    def rollback(self) -> bool:
        return self.target_image is not None


def steps(config: StackConfig) -> list[versioning.Step]:
    """rampSteps with each step's pause (rampPause where a step has none)."""
    return [versioning.Step(percent, pause) for percent, pause in
            kinds.ramp_schedule(config["rampSteps"], config["rampPause"])]


def plan(config: StackConfig, image_tag: str) -> VersionedRollout | None:
    """The rollout for this run, or None with the rolling strategy. Raises Refused (naming
    the key) before any resource when the plan is refused or Temporal cannot be asked: the
    program does not guess which builds are live, nor trust an image it did not sign."""
    if config["rollout"] == "rolling":
        return None
    deployment_name = f"{config['k8sNamespace']}/{WORKER_NAME}"
    new_build = rollouts.build_id_for_tag(image_tag)
    check_bound(config, rollback=config["currentBuildId"] not in (None, new_build))
    reach = connection(config)
    try:
        state = versioning.describe_blocking(reach, deployment_name,
                                             task_queue=config["taskQueue"])
    except versioning.UnreachableError as err:
        raise Refused(
            f"{key('rollout')}: cannot learn the live builds of {deployment_name} from Temporal "
            f"({err}); the program does not guess which Deployments to keep. Check "
            f"{key('temporalAddress')} and the credentials, or set rollout to rolling") from None
    secrets = config.plain_secrets
    decided = rollouts.plan(
        state.versions, new_build, deployment_name=deployment_name,
        keys=versioning.KeyRing(secrets["rolloutSigningKey"],
                                secrets.get("rolloutPreviousSigningKey")),
        now=now(), scaledown_after=config["sunsetScaledownDelay"],
        delete_after=config["sunsetDeleteDelay"], adopt=config["rolloutAdopt"])
    if decided.problems:
        raise Refused(untrusted(deployment_name, decided.problems, config))
    identity = versioning.stack_identity()
    check_owner(state, identity, config)
    hold = None
    try:
        room = rollouts.room_needed(state.versions, new_build, decided, config["maxVersions"])
    except rollouts.Wait as wait:
        hold, room = f"{key('maxVersions')}: Worker Deployment {deployment_name}: {wait}", 0
    except ValueError as err:
        raise Refused(f"{key('maxVersions')}: Worker Deployment {deployment_name}: "
                      f"{err}") from None
    for note in decided.notes:
        pulumi.log.info(f"{key('rollout')}: {note}")
    for warning in decided.warnings:
        pulumi.log.warn(f"{key('rollout')}: {warning}")
    upkeep = {"delete_build_ids": decided.sunset, "room_needed": room,
              "records": decided.records}
    if hold:
        return held_back(state, decided, reach, upkeep, identity, hold)
    versions = decided.versions
    target, target_image = new_build, None
    if config["currentBuildId"] and config["currentBuildId"] != new_build:
        target = config["currentBuildId"]
        target_image = rollouts.rollback_image(decided, target)
        if target_image is None:
            live = ", ".join(v["build_id"] for v in decided.versions) or "none"
            raise Refused(f"{key('currentBuildId')}: {target} has no Deployment to roll back "
                          f"to (builds still deployed: {live})")
        versions = [wake(v, config) if v["build_id"] == target else v for v in versions]
    inputs = {"build_id": new_build, "deployment_name": deployment_name, "versions": versions}
    return VersionedRollout(inputs, reach, target, target_image, upkeep, identity)


def held_back(state: versioning.DeploymentState, decided: rollouts.Plan,
              reach: versioning.Connection, upkeep: dict[str, Any], identity: str,
              hold: str) -> VersionedRollout:
    """The update that makes room instead of rolling out: the Current build stays as it is
    (in the new build's place, so no version is added), the builds whose pods still poll are
    scaled to zero (not deleted: the update fails at its end, after they went to zero), and
    WorkerRollout fails with `hold`."""
    current = state.current_build_id
    missing = [b for b in (current, *decided.going) if b is None or b not in decided.images]
    if missing:
        raise Refused(f"{hold}; but it cannot: no trusted image for build(s) "
                      f"{', '.join(str(b) for b in missing)}; nothing was changed")
    pulumi.log.warn(hold)
    versions = [v for v in decided.versions if v["build_id"] != current] + [
        BuildVersion(build_id=b, image=decided.images[b], replicas=0) for b in decided.going]
    inputs = {"build_id": current, "image": decided.images[current],
              "deployment_name": state.deployment_name, "versions": versions}
    return VersionedRollout(inputs, reach, current, decided.images[current], upkeep, identity,
                            hold)


def check_bound(config: StackConfig, rollback: bool) -> None:
    """Refuse a plan that could hold `pulumi up` longer than rolloutTimeout."""
    worst = versioning.worst_case_seconds(
        strategy=config["rollout"], steps=steps(config), gate=bool(config["gateWorkflow"]),
        rollback=rollback,
        poller_timeout_seconds=DEFAULT_POLLER_TIMEOUT_SECONDS,
        gate_timeout_seconds=config["gateTimeout"])
    if worst > config["rolloutTimeout"]:
        raise Refused(f"{key('rolloutTimeout')}: {exceeds(worst, config['rolloutTimeout'])} "
                      f"({key('rampSteps')}, {key('rampPause')}, {key('gateTimeout')})")


def wake(version: dict[str, Any], config: StackConfig) -> dict[str, Any]:
    """A rollback target that was scaled to zero gets its pods back in this update (an
    explicit count: an autoscaler does not scale a Deployment up from zero replicas)."""
    if version.get("replicas") != 0:
        return version
    woken = {k: v for k, v in version.items() if k != "replicas"}
    if config["autoscaling"] != "off":
        woken["replicas"] = max(1, config["minReplicas"])
    return woken


def untrusted(deployment_name: str, problems: list[str], config: StackConfig) -> str:
    """One message: which builds, what is wrong, and what the user does about it."""
    return (
        f"{key('rollout')}: cannot trust what Temporal records for {len(problems)} build(s) of "
        f"Worker Deployment {deployment_name}, so nothing was deployed or changed: "
        + "; ".join(problems) + ". If you know the image each of them runs (e.g. `kubectl -n "
        f"{config['k8sNamespace']} get deployment {WORKER_NAME}-<build ID> -o "
        "jsonpath='{..image}'`), confirm it with "
        f"`pulumi config set {key('rolloutAdopt')} '{{\"<build ID>\": \"<image>\"}}'`; after "
        f"rotating {key('rolloutSigningKey')}, set {key('rolloutPreviousSigningKey')} to the "
        "old key instead. A record nobody on your team wrote means someone else can write to "
        "the Temporal namespace: find out who first")


def check_owner(state: versioning.DeploymentState, identity: str, config: StackConfig) -> None:
    """Stop before any resource when someone else manages the Worker Deployment."""
    holder = state.manager_identity
    if not holder or holder == identity:
        return
    if config["rolloutTakeOver"]:
        pulumi.log.warn(f"{key('rolloutTakeOver')}: taking Worker Deployment "
                        f"{state.deployment_name} over from {holder!r}")
        return
    raise Refused(
        f"{key('rollout')}: Worker Deployment {state.deployment_name} is managed by {holder!r} "
        f"(its manager identity; last change by {state.last_modifier_identity or 'unknown'}), "
        f"not by this stack ({identity!r}); nothing was changed. When they are done, hand it "
        "back with `temporal worker deployment manager-identity unset --deployment-name "
        f"{state.deployment_name}`, or set {key('rolloutTakeOver')} to true to take it over")


def connection(config: StackConfig) -> versioning.Connection:
    """How the program itself reaches Temporal: the worker's address and credentials."""
    secrets = config.plain_secrets
    return versioning.Connection(
        address=config["temporalAddress"], namespace=config["temporalNamespace"],
        tls=bool(secrets.get("tlsCert") or secrets.get("temporalApiKey")
                 or config["tlsServerCa"]),
        server_ca=config["tlsServerCa"], server_name=config["tlsServerName"],
        **{field: secrets.get(name) for field, name in CREDENTIALS.items()})


def _reach(rollout: VersionedRollout, config: StackConfig) -> dict[str, Any]:
    # The credentials go in as the config's secret Outputs, not as the plain text `plan` used.
    return {**dataclasses.asdict(rollout.connection),
            **{field: config.secrets.get(name) for field, name in CREDENTIALS.items()}}


def upkeep(name: str, rollout: VersionedRollout,
           config: StackConfig) -> versioning.WorkerVersions:
    """The Temporal side before the worker's Deployments: room for the new build's version."""
    # Deletes the versions of builds whose Deployments went, so the new build can register,
    # and signs records again after a key rotation or an adoption.
    return versioning.WorkerVersions(
        name, connection=_reach(rollout, config),
        deployment_name=rollout.inputs["deployment_name"],
        signing_key=config.secrets["rolloutSigningKey"], **rollout.upkeep,
        manager_identity=rollout.identity, take_over=config["rolloutTakeOver"])


def start(name: str, rollout: VersionedRollout, config: StackConfig, image: pulumi.Input[str],
          after: pulumi.Resource) -> versioning.WorkerRollout:
    """The Temporal side of the rollout, once `after` (the worker's Deployments) exists."""
    # Switches Temporal's routing to the target build once its pods poll (and its gates pass).
    return versioning.WorkerRollout(
        name, connection=_reach(rollout, config),
        deployment_name=rollout.inputs["deployment_name"], build_id=rollout.target_build_id,
        image=rollout.target_image or image, task_queue=config["taskQueue"],
        strategy=config["rollout"],
        steps=[(s.percent, s.pause_seconds) for s in steps(config)],
        gate_workflow=config["gateWorkflow"], gate_input=config["gateInput"],
        gate_timeout_seconds=config["gateTimeout"],
        rollout_timeout_seconds=config["rolloutTimeout"], rollback=rollout.rollback,
        signing_key=config.secrets["rolloutSigningKey"], manager_identity=rollout.identity,
        take_over=config["rolloutTakeOver"], hold=rollout.hold,
        opts=pulumi.ResourceOptions(depends_on=[after]))
