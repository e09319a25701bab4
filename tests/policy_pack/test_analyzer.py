"""The policy pack through its real analyzer: the gRPC server `pulumi_policy` runs for the
engine, started the way the engine starts it, sent the resources our real `__main__.py`
registers under mocks. Our stacks pass; each policy fails a copy broken for exactly its rule;
the seed article's hand-written Deployment fails several; levels and settings are configurable.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from policy.temporal_worker_policy import checks
from policy.temporal_worker_policy.policies import BY_NAME, POLICIES
from tests.support.analyzer import (Analyzer, Resource, find, pack_python,
                                    resource_from_manifest, resources_of, schema_of)
from tests.support.stacks import production_config
from tools import mockstack

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "data" / "seed-deployment.yaml"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
WORKER = "temporal-worker-deployment"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def analyzer():
    if not pack_python().exists():
        reason = f"{pack_python()} missing: scripts/test.sh makes the pack's venv"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must run the policy pack")
        pytest.skip(reason)
    with Analyzer() as server:
        yield server


@pytest.fixture(scope="module")
def stacks(cert_factory) -> dict[str, list[Resource]]:
    """Our program's resources under mocks, as a pushed build would deploy them."""
    prod = production_config(cert_factory)
    configs = {"dev": ("dev", mockstack.load_stack_config("dev")),
               "prod": ("prod", prod),
               "prod-exec": ("prod", {**prod, "probeMode": "exec"}),
               "prod-keda": ("prod", {**prod, "autoscaling": "keda", "podMonitor": "true"}),
               "prod-hpa": ("prod", {**prod, "autoscaling": "hpa", "minReplicas": "2"})}
    return {name: resources_of(mockstack.run_stack(config, stack=stack, image_digest=DIGEST))
            for name, (stack, config) in configs.items()}


def test_the_analyzer_serves_every_declared_policy_with_its_level_and_settings(analyzer):
    info = analyzer.info()
    assert info.name == "temporal-worker"
    levels = {"advisory": 0, "mandatory": 1}
    assert [(p.name, p.enforcementLevel) for p in info.policies] == [
        (p.name, levels[p.level]) for p in POLICIES]
    schemas = schema_of(info)
    for policy in POLICIES:
        assert schemas[policy.name] == {k: dict(v) for k, v in policy.config.items()}
    for required in ("pod-security", "image-digest", "probes", "grace-period", "secret-env",
                     "network-policy", "disruption-budget"):
        assert f"temporal-worker-{required}" in BY_NAME


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-exec", "prod-keda", "prod-hpa"])
def test_our_own_stack_passes_every_policy(analyzer, stacks, stack):
    analysis = analyzer.analyze(stacks[stack])
    assert analysis.diagnostics == [], stack
    # The dev server's Deployment runs no worker: the resource policies say so, and pass.
    reasons = {reason for _, reason in analysis.not_applicable}
    assert bool(reasons) == (stack == "dev"), reasons


def copied(resources: list[Resource]) -> list[Resource]:
    return [dataclasses.replace(r, inputs=copy.deepcopy(r.inputs)) for r in resources]


def _worker(resources: list[Resource]) -> dict:
    return find(resources, DEPLOYMENT, WORKER).inputs


def _container(resources: list[Resource]) -> dict:
    return _worker(resources)["spec"]["template"]["spec"]["containers"][0]


def host_network(resources):
    _worker(resources)["spec"]["template"]["spec"]["hostNetwork"] = True


def no_cpu_limit(resources):
    del _container(resources)["resources"]["limits"]["cpu"]


def image_by_tag(resources):
    _container(resources)["image"] = "registry.example.com/payments/temporal-worker:latest"


def seed_probes(resources):
    _container(resources)["readinessProbe"] = {"exec": {"command": ["ls", "/"]}}


def short_grace(resources):
    _worker(resources)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30


def everything_in_default(resources):
    for resource in resources:
        if resource.type.startswith("kubernetes:") and "namespace" in resource.inputs.get(
                "metadata", {}):
            resource.inputs["metadata"]["namespace"] = "default"


def api_key_copied_into_env(resources):
    secret = find(resources, "kubernetes:core/v1:Secret", "worker-temporal-api-key")
    key = secret.inputs["stringData"]["TEMPORAL_API_KEY"]
    _container(resources)["env"].append({"name": "LEDGER_UPSTREAM", "value": key})


def without(type_):
    def remove(resources):
        resources.remove(find(resources, type_))
    return remove


def replicas_beside_keda(resources):
    _worker(resources)["spec"]["replicas"] = 3


# policy -> (stack, change that breaks exactly its rule, text its message must carry)
BREAKS = {
    "temporal-worker-pod-security": ("prod", host_network, "hostNetwork is true"),
    "temporal-worker-hardening": ("prod", no_cpu_limit, "container worker has no cpu limit"),
    "temporal-worker-image-digest": ("prod", image_by_tag, "is not pinned by digest"),
    "temporal-worker-probes": ("prod", seed_probes, "readinessProbe runs `ls /`, which passes "
                                                    "whenever the container runs"),
    "temporal-worker-grace-period": ("prod", short_grace, "terminationGracePeriodSeconds 30 does "
                                                          "not cover the worker's 30s drain"),
    "temporal-worker-namespace": ("prod", everything_in_default, "is in namespace default"),
    "temporal-worker-secret-env": ("prod", api_key_copied_into_env,
                                   "env LEDGER_UPSTREAM holds the value of a Secret"),
    "temporal-worker-network-policy": ("prod", without(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy"), "no NetworkPolicy selects its pods"),
    "temporal-worker-disruption-budget": ("prod", without("kubernetes:policy/v1:PodDisruptionBudget"),
                                          "no PodDisruptionBudget selects its pods"),
    "temporal-worker-autoscaler": ("prod-keda", replicas_beside_keda,
                                   "sets replicas although ScaledObject"),
}


def test_every_policy_has_a_break():
    assert set(BREAKS) == set(BY_NAME)


@pytest.mark.parametrize("policy", BREAKS)
def test_a_copy_broken_for_one_rule_fails_only_that_policy_with_its_message(analyzer, stacks,
                                                                           policy):
    stack, change, expected = BREAKS[policy]
    resources = copied(stacks[stack])
    change(resources)
    analysis = analyzer.analyze(resources)
    assert analysis.policies == {policy}, analysis.diagnostics
    messages = analysis.messages(policy)
    assert any(expected in m for m in messages), messages
    worker = find(resources, DEPLOYMENT, WORKER)
    assert {d.urn for d in analysis.diagnostics} <= {worker.urn, ""}
    assert {d.level for d in analysis.diagnostics} == {BY_NAME[policy].level}


def seed() -> Resource:
    return resource_from_manifest(yaml.safe_load(SEED.read_text()))


def test_the_seed_articles_hand_written_deployment_fails_several_policies(analyzer):
    deployment = seed()
    analysis = analyzer.analyze([deployment])
    assert analysis.policies >= {
        "temporal-worker-pod-security", "temporal-worker-image-digest", "temporal-worker-probes",
        "temporal-worker-grace-period", "temporal-worker-network-policy",
        "temporal-worker-disruption-budget"}, analysis.diagnostics
    assert any("livenessProbe runs `ls /`" in m
               for m in analysis.messages("temporal-worker-probes"))
    assert any("image ktenzer/temporal-worker:v1.0 is not pinned by digest" in m
               for m in analysis.messages("temporal-worker-image-digest"))
    assert any("Deployment temporal (3 pods): no PodDisruptionBudget" in m
               for m in analysis.messages("temporal-worker-disruption-budget"))
    # Its secrets arrive by secretKeyRef and its key paths are paths, not keys.
    assert "temporal-worker-secret-env" not in analysis.policies
    assert {d.urn for d in analysis.diagnostics} == {deployment.urn}


def test_a_deployment_that_runs_no_worker_is_left_alone(analyzer):
    web = seed()
    web.inputs["metadata"]["labels"] = web.inputs["spec"]["template"]["metadata"]["labels"] = {
        "app": "web"}
    container = web.inputs["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "PORT", "value": "8080"}]
    analysis = analyzer.analyze([web])
    assert analysis.diagnostics == []
    assert any("not a Temporal worker" in reason for _, reason in analysis.not_applicable)


def test_a_worker_is_recognised_by_a_temporal_io_label_alone(analyzer):
    worker = seed()
    container = worker.inputs["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [e for e in container["env"] if not e["name"].startswith("TEMPORAL_")]
    worker.inputs["spec"]["template"]["metadata"]["labels"]["temporal.io/build-id"] = "v1"
    assert "temporal-worker-probes" in analyzer.analyze([worker]).policies


def test_enforcement_levels_and_settings_are_configurable(analyzer):
    deployment = [seed()]
    default = analyzer.analyze(deployment)
    assert {d.level for d in default.diagnostics
            if d.policy == "temporal-worker-image-digest"} == {"mandatory"}
    relaxed = analyzer.analyze(deployment, {
        "temporal-worker-image-digest": {"enforcementLevel": "advisory"},
        "temporal-worker-probes": {"enforcementLevel": "disabled"},
        "temporal-worker-grace-period": {"drainSeconds": 10, "marginSeconds": 5},
        "temporal-worker-disruption-budget": {"minReplicas": 4}})
    assert {d.level for d in relaxed.diagnostics
            if d.policy == "temporal-worker-image-digest"} == {"advisory"}
    assert not {"temporal-worker-probes", "temporal-worker-grace-period",
                "temporal-worker-disruption-budget"} & relaxed.policies
    stricter = analyzer.analyze(deployment, {"temporal-worker-grace-period": {
        "drainSeconds": 600}})
    assert any("the worker's 600s drain" in m
               for m in stricter.messages("temporal-worker-grace-period"))


def test_a_literal_secret_looking_variable_can_be_allowed_by_name(analyzer, stacks):
    resources = copied(stacks["prod"])
    worker = find(resources, DEPLOYMENT, WORKER)
    worker.inputs["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "PUBLIC_KEY_ID", "value": "k-2026"})
    assert analyzer.analyze(resources).policies == {"temporal-worker-secret-env"}
    assert analyzer.analyze(resources, {"temporal-worker-secret-env": {
        "allowedNames": ["PUBLIC_KEY_ID"]}}).diagnostics == []


def test_temporal_workers_labels_alone_make_it_a_worker(stacks):
    """The labels the pack looks for are the ones TemporalWorker puts on its pods."""
    worker = copy.deepcopy(_worker(stacks["prod"]))
    container = worker["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [e for e in container["env"] if not e["name"].startswith("TEMPORAL_")]
    assert checks.worker_reason(worker) == "TemporalWorker's labels"
