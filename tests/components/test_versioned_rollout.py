"""TemporalWorker with a versioned rollout: one Deployment per build, each polling as its
version of the Temporal Worker Deployment, with its own autoscaler."""

from __future__ import annotations

import pytest

import temporal_worker_spec.settings as spec
from temporal_worker_k8s import TemporalWorker
from temporal_worker_k8s.production import KEDA_PAUSED_REPLICAS
from tests.program.helpers import (DEPLOYMENT, HPA, NETWORK_POLICY, PDB, SCALED_OBJECT,
                                   env_of)
from tools.mockstack import StackRun, run_program

REPOSITORY = "registry.example.com/team/worker"
NEW, OLD, DRAINED = (f"{REPOSITORY}@sha256:{c * 64}" for c in "abc")


def build(**inputs) -> StackRun:
    args = {"image": NEW, "namespace": "billing", "temporal_address": "b.acct.tmprl.cloud:7233",
            "task_queue": "billing", "replicas": 2, "rollout": "allAtOnce", **inputs}
    return run_program(lambda: TemporalWorker("billing", args))


def deployments(run: StackRun) -> dict:
    return {d.get("metadata", "name"): d for d in run.of_type(DEPLOYMENT)}


def test_each_build_gets_its_own_deployment_polling_as_its_version():
    run = build(build_id="v2", versions=[{"build_id": "v1", "image": OLD},
                                         {"build_id": "v0", "image": DRAINED, "replicas": 0}])
    found = deployments(run)
    assert set(found) == {"billing-v2", "billing-v1", "billing-v0"}
    for name, image, build_id, replicas in (("billing-v2", NEW, "v2", 2),
                                            ("billing-v1", OLD, "v1", 2),
                                            ("billing-v0", DRAINED, "v0", 0)):
        deployment = found[name]
        env = env_of(run, f"{name}-deployment")
        assert env[spec.DEPLOYMENT_NAME.env]["value"] == "billing/billing"
        assert env[spec.BUILD_ID.env]["value"] == build_id
        assert env[spec.DEFAULT_VERSIONING_BEHAVIOR.env]["value"] == "AUTO_UPGRADE"
        assert deployment.get("spec", "template", "spec", "containers")[0]["image"] == image
        assert deployment.get("spec", "replicas") == replicas
        labels = deployment.get("spec", "template", "metadata", "labels")
        assert labels["temporal.io/build-id"] == build_id
        assert labels["temporal.io/deployment-name"] == "billing-billing"
        assert deployment.get("spec", "selector", "matchLabels")["temporal.io/build-id"] == \
            build_id, "each Deployment selects only its own build's pods"
    assert len(run.of_type(DEPLOYMENT)) == 3


def test_shared_objects_cover_every_builds_pods():
    run = build(build_id="v2", versions=[{"build_id": "v1", "image": OLD}])
    pdb = run.one(PDB).get("spec", "selector", "matchLabels")
    policy = run.one(NETWORK_POLICY).get("spec", "podSelector", "matchLabels")
    for deployment in run.of_type(DEPLOYMENT):
        labels = deployment.get("spec", "template", "metadata", "labels")
        assert pdb.items() <= labels.items() and policy.items() <= labels.items()


def test_with_keda_each_build_scales_on_its_own_versions_backlog():
    run = build(build_id="v2", versions=[{"build_id": "v1", "image": OLD}],
                autoscaling="keda", deployment_name="payments/billing")
    triggers = {o.get("spec", "scaleTargetRef", "name"): o.get("spec", "triggers")[0]["metadata"]
                for o in run.of_type(SCALED_OBJECT)}
    assert set(triggers) == {"billing-v2", "billing-v1"}
    for name, build_id in (("billing-v2", "v2"), ("billing-v1", "v1")):
        assert triggers[name]["workerDeploymentName"] == "payments/billing"
        assert triggers[name]["workerDeploymentBuildId"] == build_id
    assert all("replicas" not in d.get("spec") for d in run.of_type(DEPLOYMENT))


@pytest.mark.parametrize("autoscaling", ["keda", "hpa"])
def test_under_autoscaling_a_build_scaled_to_zero_has_no_pods_and_no_active_autoscaler(
        autoscaling):
    run = build(build_id="v2", autoscaling=autoscaling, versions=[
        {"build_id": "v1", "image": OLD}, {"build_id": "v0", "image": DRAINED, "replicas": 0}])
    found = deployments(run)
    assert found["billing-v0"].get("spec", "replicas") == 0
    assert "replicas" not in found["billing-v2"].get("spec")
    assert "replicas" not in found["billing-v1"].get("spec")
    if autoscaling == "hpa":
        assert {h.get("spec", "scaleTargetRef", "name") for h in run.of_type(HPA)} == {
            "billing-v2", "billing-v1"}
    else:
        scaled = {o.get("spec", "scaleTargetRef", "name"): o for o in run.of_type(SCALED_OBJECT)}
        assert set(scaled) == {"billing-v2", "billing-v1", "billing-v0"}
        assert scaled["billing-v0"].get("metadata", "annotations") == {
            KEDA_PAUSED_REPLICAS: "0"}
        assert scaled["billing-v1"].get("metadata", "annotations") is None


def test_under_autoscaling_a_woken_build_gets_its_count_once_and_its_autoscaler():
    run = build(build_id="v2", autoscaling="hpa", versions=[
        {"build_id": "v1", "image": OLD, "replicas": 3}])
    assert deployments(run)["billing-v1"].get("spec", "replicas") == 3
    assert "billing-v1" in {h.get("spec", "scaleTargetRef", "name") for h in run.of_type(HPA)}


def test_the_build_id_comes_from_the_image_digest_when_not_given():
    run = build()
    assert set(deployments(run)) == {"billing-sha256-" + "a" * 32}


def test_the_rolling_strategy_has_one_deployment_and_no_versioning():
    run = build(rollout="rolling")
    assert set(deployments(run)) == {"billing"}
    env = env_of(run, "billing-deployment")
    assert spec.DEPLOYMENT_NAME.env not in env and spec.BUILD_ID.env not in env


@pytest.mark.parametrize("inputs, message", [
    ({"build_id": "V2"}, "buildId: 'V2' is not a build ID"),
    ({"image": f"{REPOSITORY}:v2"}, "buildId: required with a versioned rollout"),
    ({"build_id": "v2", "versions": [{"build_id": "v2", "image": OLD}]}, "listed twice"),
    ({"rollout": "rolling", "versions": [{"build_id": "v1", "image": OLD}]},
     "versions: needs rollout allAtOnce or progressive"),
])
def test_bad_versioning_inputs_fail_before_anything_is_registered(inputs, message):
    with pytest.raises(ValueError, match=message) as caught:
        build(**inputs)
    assert caught.value.registered_resources == ()
