"""The real `__main__.py` with a versioned rollout, under Pulumi mocks.

Temporal's answer is the one recorded from a real dev server (tests/data/temporal): a Worker
Deployment with one build DRAINED, one DRAINING, one CURRENT, one RAMPING, each with an image
record signed with the recording's key, and one INACTIVE that no rollout recorded an image for.
The program reads it before any resource, keeps a Deployment for each build Temporal still
needs, sunsets drained ones by the configured delays (their versions go through WorkerVersions,
before the Deployments), and registers the WorkerRollout that switches Temporal to the new build.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from pathlib import Path

import pytest

import stack.rollout
from temporal_worker_k8s import versioning
from temporal_worker_k8s.production import KEDA_PAUSED_REPLICAS
from tests.program.helpers import (DEPLOYMENT, HPA, SCALED_OBJECT, SECRET, TEMPORAL_API_KEY,
                                   plain_text_hits, walk_strings)
from tools.mockstack import StackRun, run_stack
from tools.procs import free_port
from tools.record_worker_deployment import RECORDING_KEY

RECORDED = Path(__file__).resolve().parents[1] / "data" / "temporal" / "worker_deployment.json"
STATE = versioning.state_from_json(json.loads(RECORDED.read_text()))
BUILDS = {v.status: v for v in STATE.versions}
DRAINED, DRAINING, CURRENT, RAMPING, INACTIVE = (
    BUILDS[s] for s in ("DRAINED", "DRAINING", "CURRENT", "RAMPING", "INACTIVE"))
NEW_BUILD = "v1-2-3"  # prod_config's imageTag v1.2.3, made a build ID
ROLLOUT_TYPE_SUFFIX = ":WorkerRollout"
VERSIONS_TYPE_SUFFIX = ":WorkerVersions"


@pytest.fixture
def temporal(monkeypatch):
    """Temporal answers with the recorded deployment; records what the program asked."""
    asked: list[tuple[versioning.Connection, str]] = []

    def describe_blocking(connection, deployment_name, timeout=None, task_queue=None):
        asked.append((connection, deployment_name, task_queue))
        return STATE

    monkeypatch.setattr(versioning, "describe_blocking", describe_blocking)
    return asked


def at(monkeypatch, moment: datetime.datetime) -> None:
    monkeypatch.setattr(stack.rollout, "now", lambda: moment)


def rollout_run(prod_config, **settings) -> StackRun:
    return run_stack({**prod_config, "rollout": "allAtOnce", "rolloutSigningKey": RECORDING_KEY,
                      **settings}, stack="prod")


def worker_deployments(run: StackRun) -> dict[str, dict]:
    """Deployment name -> (image, replicas) for the worker's Deployments."""
    found = {}
    for deployment in run.of_type(DEPLOYMENT):
        name = deployment.get("metadata", "name")
        if not name.startswith("temporal-worker-"):
            continue
        found[name] = {"image": deployment.get("spec", "template", "spec", "containers")[0][
            "image"], "replicas": deployment.get("spec", "replicas")}
    return found


def the_rollout(run: StackRun, suffix: str = ROLLOUT_TYPE_SUFFIX):
    found = [r for r in run.resources if r.type_.endswith(suffix)]
    assert len(found) == 1, [r.type_ for r in run.resources]
    return found[0]


def test_builds_temporal_still_routes_to_keep_their_pods_and_drained_ones_sunset(
        prod_config, temporal, monkeypatch):
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(minutes=30))
    run = rollout_run(prod_config)
    found = worker_deployments(run)
    assert set(found) == {f"temporal-worker-{b}" for b in (
        NEW_BUILD, DRAINED.build_id, DRAINING.build_id, CURRENT.build_id, RAMPING.build_id)}, \
        "the INACTIVE build has no image recorded, so it is not deployed"
    assert found[f"temporal-worker-{NEW_BUILD}"]["replicas"] == 4
    assert found[f"temporal-worker-{NEW_BUILD}"]["image"] == \
        f"{prod_config['imageRepository']}@{run.image_digest}"
    for old in (DRAINED, DRAINING, CURRENT, RAMPING):
        assert found[f"temporal-worker-{old.build_id}"] == {"image": old.record.image, "replicas": 4}
    # It asked Temporal about the stack's own Worker Deployment, with the stack's credentials.
    (connection, deployment_name, task_queue), = temporal
    assert deployment_name == "payments-workers/temporal-worker"
    assert task_queue == prod_config["taskQueue"], "it asks who polls, too"
    assert connection.address == prod_config["temporalAddress"]
    assert connection.api_key == TEMPORAL_API_KEY and connection.tls


def test_a_drained_build_goes_to_zero_then_its_deployment_is_deleted(
        prod_config, temporal, monkeypatch):
    drained = f"temporal-worker-{DRAINED.build_id}"
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(hours=2))
    assert worker_deployments(rollout_run(prod_config))[drained]["replicas"] == 0
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(days=2))
    found = worker_deployments(rollout_run(prod_config))
    assert drained not in found
    # Builds Temporal still needs keep their pods however old they are.
    for live in (DRAINING, CURRENT, RAMPING):
        assert found[f"temporal-worker-{live.build_id}"]["replicas"] == 4


def test_the_delays_are_the_stacks_settings(prod_config, temporal, monkeypatch):
    drained = f"temporal-worker-{DRAINED.build_id}"
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(hours=2))
    run = rollout_run(prod_config, sunsetScaledownDelay="3h", sunsetDeleteDelay="4h")
    assert worker_deployments(run)[drained]["replicas"] == 4
    run = rollout_run(prod_config, sunsetScaledownDelay="10m", sunsetDeleteDelay="1h")
    assert drained not in worker_deployments(run)


def test_the_rollout_resource_switches_to_the_new_build_with_secret_credentials(
        prod_config, temporal, monkeypatch):
    at(monkeypatch, DRAINED.drained_since)
    run = rollout_run(prod_config, rollout="progressive",
                      rampSteps='[5, {"percent": 25, "pause": "10m"}, 50]', rampPause="2m",
                      gateWorkflow="SmokeTestWorkflow", gateInput='{"items": 2}',
                      gateTimeout="3m")
    switch = the_rollout(run)
    assert switch.get("build_id") == NEW_BUILD
    assert switch.get("image") == f"{prod_config['imageRepository']}@{run.image_digest}"
    assert switch.get("deployment_name") == "payments-workers/temporal-worker"
    assert switch.get("strategy") == "progressive"
    assert switch.get("steps") == [{"percent": 5, "pause_seconds": 120},
                                   {"percent": 25, "pause_seconds": 600},
                                   {"percent": 50, "pause_seconds": 120}]
    assert switch.get("gate_workflow") == "SmokeTestWorkflow"
    assert json.loads(switch.get("gate_input")) == {"items": 2}
    assert switch.get("gate_timeout_seconds") == 180
    assert switch.get("rollout_timeout_seconds") == 3600
    assert switch.get("rollback") is False
    assert switch.get("task_queue") == prod_config["taskQueue"]
    assert switch.get("manager_identity") == "pulumi:organization/temporal-worker/prod"
    for field in ("api_key", "client_cert", "client_key", "signing_key"):
        assert switch.get(field), field
        assert switch.is_secret(field), f"{field} must reach the engine as a secret"
    assert switch.get("api_key") == TEMPORAL_API_KEY
    assert switch.get("signing_key") == RECORDING_KEY
    assert not switch.is_secret("address")
    # No credential in plain text anywhere in the rollout run, nor in its exports.
    secrets = (TEMPORAL_API_KEY, prod_config["tlsKey"], prod_config["tlsCert"], RECORDING_KEY)
    for resource in run.resources:
        if resource.type_ == SECRET:
            continue
        hits = plain_text_hits(resource, secrets)
        assert not hits, f"{resource.urn}: {[path for path, _ in hits]} in plain text"
    assert not [p for p, text in walk_strings(run.exports) if any(v in text for v in secrets)]
    # It is registered after the worker, so the new pods exist before Temporal is switched.
    names = [r.name for r in run.resources]
    assert names.index(switch.name) > names.index("temporal-worker")
    assert run.exports["buildId"] == NEW_BUILD
    assert "currentBuildId" in run.exports


def test_rollback_makes_a_still_deployed_build_current_again(prod_config, temporal, monkeypatch):
    at(monkeypatch, DRAINED.drained_since)
    run = rollout_run(prod_config, currentBuildId=DRAINING.build_id)
    switch = the_rollout(run)
    assert switch.get("build_id") == DRAINING.build_id
    assert switch.get("image") == DRAINING.record.image
    assert switch.get("rollback") is True
    # The new build is still deployed beside it: rolling back switches traffic, not pods.
    assert f"temporal-worker-{NEW_BUILD}" in worker_deployments(run)


def test_rollback_to_a_build_already_deleted_is_refused_before_anything(
        prod_config, temporal, monkeypatch):
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(days=2))
    with pytest.raises(ValueError, match="temporal-worker:currentBuildId: "
                       f"{DRAINED.build_id} has no Deployment to roll back to") as caught:
        rollout_run(prod_config, currentBuildId=DRAINED.build_id)
    assert caught.value.registered_resources == ()


def test_when_temporal_cannot_be_asked_nothing_is_created(prod_config):
    # A real connection attempt, to a loopback port nothing listens on.
    closed = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ValueError, match="temporal-worker:rollout: cannot learn the live builds"
                       ) as caught:
        rollout_run(prod_config, temporalAddress=closed, tlsServerName="localhost")
    assert time.monotonic() - started < 60
    assert caught.value.registered_resources == ()
    assert closed in str(caught.value)
    assert TEMPORAL_API_KEY not in str(caught.value)


def test_the_rolling_strategy_never_asks_temporal(prod_run, monkeypatch):
    assert not [r for r in prod_run.resources if r.type_.endswith(ROLLOUT_TYPE_SUFFIX)]
    assert "buildId" not in prod_run.exports
    assert set(worker_deployments(prod_run)) == set(), "one Deployment, named as before"
    assert prod_run.one(DEPLOYMENT, "temporal-worker-deployment")


def test_versions_are_deleted_before_the_new_builds_deployment_exists(
        prod_config, temporal, monkeypatch):
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(days=2))
    run = rollout_run(prod_config)
    upkeep = the_rollout(run, VERSIONS_TYPE_SUFFIX)
    # Past sunsetDeleteDelay: the drained build, and the INACTIVE one created before it.
    assert upkeep.get("delete_build_ids") == [DRAINED.build_id, INACTIVE.build_id]
    assert upkeep.get("room_needed") == 0, "100 versions allowed, 5 listed"
    assert upkeep.get("records") == []
    assert upkeep.get("deployment_name") == "payments-workers/temporal-worker"
    assert upkeep.get("manager_identity") == the_rollout(run).get("manager_identity")
    for field in ("api_key", "client_key", "signing_key"):
        assert upkeep.is_secret(field), field
    # The worker (and so every Deployment under it) waits for it.
    worker = run.one("temporal-worker-k8s:index:TemporalWorker")
    assert upkeep.urn in worker.dependencies
    names = [r.name for r in run.resources]
    deployments = [names.index(d.name) for d in run.of_type(DEPLOYMENT)]
    assert names.index(upkeep.name) < min(deployments)


def test_room_for_the_new_build_is_counted_against_max_versions(
        prod_config, temporal, monkeypatch):
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(days=2))
    # 5 listed + the new build = 6 under a cap of 5: one of the two sunset versions must go.
    assert the_rollout(rollout_run(prod_config, maxVersions="5"),
                       VERSIONS_TYPE_SUFFIX).get("room_needed") == 1
    # Inside the delete delay nothing can go: refused before anything, naming the numbers.
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(minutes=30))
    with pytest.raises(ValueError) as caught:
        rollout_run(prod_config, maxVersions="5")
    message = str(caught.value)
    assert message.startswith("temporal-worker:maxVersions: Worker Deployment "
                              "payments-workers/temporal-worker: the new build needs room"), message
    assert "5 of the 5 versions Temporal lists are still live or inside sunsetDeleteDelay" \
        in message and "allows 5 per Worker Deployment" in message, message
    assert caught.value.registered_resources == ()


def test_a_plan_that_could_outlast_rollout_timeout_is_refused_before_anything(
        prod_config, temporal):
    with pytest.raises(ValueError) as caught:
        rollout_run(prod_config, rollout="progressive", rampSteps="[10, 25, 50, 75]",
                    rampPause="15m")
    message = str(caught.value)
    assert message.startswith("temporal-worker:rolloutTimeout: is 3600 s, but this plan may "
                              "take up to 3900 s"), message
    assert caught.value.registered_resources == ()
    assert temporal == [], "refused before asking Temporal"
    # With a gate, each step's gate counts too; a bound that covers it is accepted.
    rollout_run(prod_config, rollout="progressive", rampSteps="[10, 50]", rampPause="5m",
                gateWorkflow="SmokeTestWorkflow", gateTimeout="5m", rolloutTimeout="35m")
    # 300 s for pollers + 3 gates of 300 s (+15 s for the server to report each) + 2 x 10 m.
    with pytest.raises(ValueError, match="rolloutTimeout: is 1800 s, but this plan may take up "
                                         "to 2445 s"):
        rollout_run(prod_config, rollout="progressive", rampSteps="[10, 50]", rampPause="10m",
                    gateWorkflow="SmokeTestWorkflow", gateTimeout="5m", rolloutTimeout="30m")


def test_a_deployment_someone_else_manages_stops_the_update_naming_them(
        prod_config, monkeypatch):
    taken = dataclasses.replace(STATE, manager_identity="ops-alice@laptop",
                                last_modifier_identity="ops-alice@laptop")
    monkeypatch.setattr(versioning, "describe_blocking", lambda *args, **kwargs: taken)
    at(monkeypatch, DRAINED.drained_since)
    with pytest.raises(ValueError) as caught:
        rollout_run(prod_config)
    message = str(caught.value)
    assert message.startswith("temporal-worker:rollout: Worker Deployment "
                              "payments-workers/temporal-worker is managed by "
                              "'ops-alice@laptop'"), message
    assert "manager-identity unset" in message and "temporal-worker:rolloutTakeOver" in message
    assert caught.value.registered_resources == ()
    run = rollout_run(prod_config, rolloutTakeOver="true")
    assert any("over from 'ops-alice@laptop'" in w for w in run.warnings), run.warnings
    assert the_rollout(run).get("take_over") is True


@pytest.mark.parametrize("autoscaling", ["keda", "hpa"])
def test_under_autoscaling_a_build_scaled_down_has_no_pods_and_no_active_autoscaler(
        prod_config, temporal, monkeypatch, autoscaling):
    # mTLS without the API key: KEDA would refuse an API key with a private CA (tested apart).
    config = {k: v for k, v in prod_config.items() if k != "temporalApiKey"}
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(hours=2))
    run = rollout_run(config, autoscaling=autoscaling)
    drained = f"temporal-worker-{DRAINED.build_id}"
    found = worker_deployments(run)
    assert found[drained]["replicas"] == 0, "0 pods while its Deployment waits for deletion"
    for live in (NEW_BUILD, DRAINING.build_id, CURRENT.build_id, RAMPING.build_id):
        assert found[f"temporal-worker-{live}"]["replicas"] is None, "the autoscaler's count"
    if autoscaling == "hpa":
        targets = {h.get("spec", "scaleTargetRef", "name") for h in run.of_type(HPA)}
        assert drained not in targets
        assert targets == set(found) - {drained}
    else:
        scaled = {o.get("spec", "scaleTargetRef", "name"): o for o in run.of_type(SCALED_OBJECT)}
        assert set(scaled) == set(found)
        assert scaled[drained].get("metadata", "annotations") == {KEDA_PAUSED_REPLICAS: "0"}
        assert all(KEDA_PAUSED_REPLICAS not in (o.get("metadata", "annotations") or {})
                   for name, o in scaled.items() if name != drained)


def test_a_rollback_to_a_build_scaled_to_zero_wakes_it_under_an_autoscaler(
        prod_config, temporal, monkeypatch):
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(hours=2))
    run = rollout_run(prod_config, autoscaling="hpa", minReplicas="2",
                      currentBuildId=DRAINED.build_id)
    drained = f"temporal-worker-{DRAINED.build_id}"
    # An HPA does not scale a Deployment up from 0, so the rollback sets the count once.
    assert worker_deployments(run)[drained]["replicas"] == 2
    assert drained in {h.get("spec", "scaleTargetRef", "name") for h in run.of_type(HPA)}
    assert the_rollout(run).get("image") == DRAINED.record.image


def polled(state, build_id: str, moment: datetime.datetime):
    """`state` with build `build_id` seen polling at `moment`."""
    return dataclasses.replace(state, versions=tuple(
        dataclasses.replace(v, last_polled=moment) if v.build_id == build_id else v
        for v in state.versions))


@pytest.fixture
def drained_still_polling(monkeypatch):
    """Two days after DRAINED drained, its workers polled 20 s ago (its pods still run)."""
    moment = DRAINED.drained_since + datetime.timedelta(days=2)
    state = polled(STATE, DRAINED.build_id, moment - datetime.timedelta(seconds=20))
    monkeypatch.setattr(versioning, "describe_blocking", lambda *args, **kwargs: state)
    at(monkeypatch, moment)


def test_a_build_past_the_delete_delay_whose_pods_still_poll_loses_its_version_later(
        prod_config, drained_still_polling):
    run = rollout_run(prod_config)
    assert f"temporal-worker-{DRAINED.build_id}" not in worker_deployments(run)
    # Temporal refuses to delete a version with pollers: this update deletes only the other.
    assert the_rollout(run, VERSIONS_TYPE_SUFFIX).get("delete_build_ids") == [INACTIVE.build_id]


def test_when_only_still_polled_builds_could_make_room_the_new_build_waits_an_update(
        prod_config, drained_still_polling):
    # 5 listed + the new build under a cap of 4: two must go, but DRAINED still polls.
    run = rollout_run(prod_config, maxVersions="4")
    [warning] = [w for w in run.warnings if "cannot be registered yet" in w]
    assert warning.startswith("temporal-worker:maxVersions: Worker Deployment "
                              "payments-workers/temporal-worker: the new build's version cannot "
                              "be registered yet"), warning
    assert f"({DRAINED.build_id}) still have pods polling" in warning
    found = worker_deployments(run)
    # No Deployment for the new build; the Current one stays as it is; DRAINED goes to zero.
    assert f"temporal-worker-{NEW_BUILD}" not in found
    assert found[f"temporal-worker-{CURRENT.build_id}"] == {"image": CURRENT.record.image,
                                                            "replicas": 4}
    assert found[f"temporal-worker-{DRAINED.build_id}"]["replicas"] == 0
    switch = the_rollout(run)
    assert switch.get("build_id") == CURRENT.build_id and switch.get("hold") == warning
    assert the_rollout(run, VERSIONS_TYPE_SUFFIX).get("delete_build_ids") == [INACTIVE.build_id]
    # The update fails at its end, after the scale-down, with that reason.
    provider = versioning.WorkerRolloutProvider()
    assert provider.diff("id", switch.inputs, switch.inputs).changes
    with pytest.raises(versioning.RolloutError, match="cannot be registered yet"):
        provider.update("id", switch.inputs, switch.inputs)
