"""The real `__main__.py` with a versioned rollout, under Pulumi mocks.

Temporal's answer is the one recorded from a real dev server (tests/data/temporal): a Worker
Deployment with one build DRAINED, one DRAINING, one CURRENT, one RAMPING and one INACTIVE
that no rollout recorded an image for. The program reads it before any resource, keeps a
Deployment for each build Temporal still needs, sunsets drained ones by the configured delays,
and registers the WorkerRollout that switches Temporal to the new build.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import pytest

import stack.rollout
from temporal_worker_k8s import versioning
from tests.program.helpers import (DEPLOYMENT, SECRET, TEMPORAL_API_KEY, plain_text_hits,
                                   walk_strings)
from tools.mockstack import StackRun, run_stack
from tools.procs import free_port

RECORDED = Path(__file__).resolve().parents[1] / "data" / "temporal" / "worker_deployment.json"
STATE = versioning.state_from_json(json.loads(RECORDED.read_text()))
BUILDS = {v.status: v for v in STATE.versions}
DRAINED, DRAINING, CURRENT, RAMPING, INACTIVE = (
    BUILDS[s] for s in ("DRAINED", "DRAINING", "CURRENT", "RAMPING", "INACTIVE"))
NEW_BUILD = "v1-2-3"  # prod_config's imageTag v1.2.3, made a build ID
ROLLOUT_TYPE_SUFFIX = ":WorkerRollout"


@pytest.fixture
def temporal(monkeypatch):
    """Temporal answers with the recorded deployment; records what the program asked."""
    asked: list[tuple[versioning.Connection, str]] = []

    def describe_blocking(connection, deployment_name, timeout=None):
        asked.append((connection, deployment_name))
        return STATE

    monkeypatch.setattr(versioning, "describe_blocking", describe_blocking)
    return asked


def at(monkeypatch, moment: datetime.datetime) -> None:
    monkeypatch.setattr(stack.rollout, "now", lambda: moment)


def rollout_run(prod_config, **settings) -> StackRun:
    return run_stack({**prod_config, "rollout": "allAtOnce", **settings}, stack="prod")


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


def the_rollout(run: StackRun):
    found = [r for r in run.resources if r.type_.endswith(ROLLOUT_TYPE_SUFFIX)]
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
        assert found[f"temporal-worker-{old.build_id}"] == {"image": old.image, "replicas": 4}
    # It asked Temporal about the stack's own Worker Deployment, with the stack's credentials.
    (connection, deployment_name), = temporal
    assert deployment_name == "payments-workers/temporal-worker"
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
    run = rollout_run(prod_config, rollout="progressive", rampSteps="[5, 25, 50]",
                      rampPause="2m", gateWorkflow="SmokeTestWorkflow", gateInput='{"items": 2}')
    switch = the_rollout(run)
    assert switch.get("build_id") == NEW_BUILD
    assert switch.get("image") == f"{prod_config['imageRepository']}@{run.image_digest}"
    assert switch.get("deployment_name") == "payments-workers/temporal-worker"
    assert switch.get("strategy") == "progressive"
    assert switch.get("ramp_steps") == [5, 25, 50]
    assert switch.get("ramp_pause_seconds") == 120
    assert switch.get("gate_workflow") == "SmokeTestWorkflow"
    assert json.loads(switch.get("gate_input")) == {"items": 2}
    assert switch.get("rollback") is False
    assert switch.get("task_queue") == prod_config["taskQueue"]
    for field in ("api_key", "client_cert", "client_key"):
        assert switch.get(field), field
        assert switch.is_secret(field), f"{field} must reach the engine as a secret"
    assert switch.get("api_key") == TEMPORAL_API_KEY
    assert not switch.is_secret("address")
    # No credential in plain text anywhere in the rollout run, nor in its exports.
    secrets = (TEMPORAL_API_KEY, prod_config["tlsKey"], prod_config["tlsCert"])
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
    assert switch.get("image") == DRAINING.image
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
