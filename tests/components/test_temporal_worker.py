"""TemporalWorker on its own, as another team reuses it: existing namespace, Secrets made
elsewhere, its own labels and scheduling, checked like the worker checks its settings."""

from __future__ import annotations

import pytest

import temporal_worker_spec.settings as spec
from temporal_worker_k8s import TemporalWorker
from temporal_worker_k8s.temporal_worker import LEGACY_TYPE_TOKEN, TYPE_TOKEN
from temporal_worker_spec import contract
from tests.program.helpers import DEPLOYMENT, NAMESPACE, SECRET, container, env_of
from tools.mockstack import StackRun, run_program

IMAGE = "registry.example.com/team/worker@sha256:" + "cd" * 32
ADDRESS = "billing.acct.tmprl.cloud:7233"


def build(name: str = "billing", **inputs) -> StackRun:
    args = {"image": IMAGE, "namespace": "billing", "temporal_address": ADDRESS, **inputs}
    return run_program(lambda: TemporalWorker(name, args))


def pod_spec(run: StackRun) -> dict:
    return run.one(DEPLOYMENT).get("spec", "template", "spec")


def test_external_secrets_are_referenced_by_name_and_nothing_else_is_created():
    run = build(tls_secret_name="billing-client-cert",  # e.g. made by cert-manager
                temporal_api_key={"name": "billing-temporal", "key": "apiKey"},  # External Secrets
                secret_env={"STRIPE_KEY": {"name": "billing-stripe", "key": "key"}})
    assert run.of_type(SECRET) == [] and run.of_type(NAMESPACE) == []
    assert [v["secret"]["secretName"] for v in pod_spec(run)["volumes"] if "secret" in v] == [
        "billing-client-cert", "billing-temporal"]
    env = env_of(run, "billing-deployment")
    assert env[spec.TEMPORAL_API_KEY_FILE.env]["value"] == contract.API_KEY_PATH
    assert spec.TEMPORAL_API_KEY.env not in env
    assert env["STRIPE_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "billing-stripe",
                                                              "key": "key"}
    assert env[spec.TLS.env]["value"] == "true"


def test_an_existing_namespace_is_used_and_none_is_created():
    run = build()
    assert run.of_type(NAMESPACE) == []
    assert run.one(DEPLOYMENT).get("metadata", "namespace") == "billing"


def test_create_namespace_makes_one_the_deployment_waits_for():
    run = build(create_namespace=True)
    namespace = run.one(NAMESPACE)
    assert namespace.get("metadata", "name") == "billing"
    assert namespace.parent == run.one(TYPE_TOKEN).urn


def test_defaults_come_from_the_settings_spec():
    run = build()
    deployment = run.one(DEPLOYMENT)
    assert deployment.get("metadata", "name") == "billing"
    assert deployment.get("spec", "replicas") == spec.REPLICAS.default
    env = env_of(run, "billing-deployment")
    for setting in spec.SETTINGS:
        if setting.arg and setting.env and setting.default is not None:
            assert env[setting.env]["value"] == setting.kind.text(setting.default), setting.name
    assert env[spec.TLS.env]["value"] == "false"
    assert container(run, "billing-deployment")["resources"] == {
        "requests": {"cpu": spec.CPU_REQUEST.default, "memory": spec.MEMORY_REQUEST.default},
        "limits": {"cpu": spec.CPU_LIMIT.default, "memory": spec.MEMORY_LIMIT.default}}
    annotations = deployment.get("spec", "template", "metadata", "annotations")
    assert "checksum/secrets" not in annotations, "nothing to restart on"
    assert "app.kubernetes.io/version" not in deployment.get("metadata", "labels")


def test_tuning_inputs_reach_the_worker_env():
    env = env_of(build(max_concurrent_activities=7, max_concurrent_workflow_tasks=3),
                 "billing-deployment")
    assert env[spec.MAX_CONCURRENT_ACTIVITIES.env]["value"] == "7"
    assert env[spec.MAX_CONCURRENT_WORKFLOW_TASKS.env]["value"] == "3"


def test_api_key_alone_turns_tls_on_and_tls_off_is_refused_with_it():
    key = {"name": "k", "key": "v"}
    assert env_of(build(temporal_api_key=key), "billing-deployment")[spec.TLS.env]["value"] \
        == "true"
    with pytest.raises(ValueError, match="TemporalWorker billing: tls: is false while "
                                         "temporalApiKey is set: the API key would be sent in "
                                         "cleartext") as caught:
        build(temporal_api_key=key, tls=False)
    assert caught.value.registered_resources == ()
    assert env_of(build(tls=False), "billing-deployment")[spec.TLS.env]["value"] == "false"


def test_two_workers_in_one_namespace_do_not_select_each_other():
    def program():
        for queue in ("orders", "refunds"):
            TemporalWorker(queue, {"image": IMAGE, "namespace": "shop",
                                   "temporal_address": ADDRESS, "task_queue": queue})

    run = run_program(program)
    selectors = [d.get("spec", "selector", "matchLabels") for d in run.of_type(DEPLOYMENT)]
    assert selectors[0] != selectors[1]


def test_labels_annotations_and_scheduling_inputs_reach_the_pods():
    run = build(labels={"team": "billing"}, annotations={"example.com/owner": "billing"},
                node_selector={"pool": "workers"},
                tolerations=[{"key": "dedicated", "operator": "Equal", "value": "temporal",
                              "effect": "NoSchedule", "toleration_seconds": 30}],
                affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
                priority_class_name="high", service_account_name="billing-worker")
    deployment = run.one(DEPLOYMENT)
    assert deployment.get("metadata", "labels", "team") == "billing"
    assert deployment.get("spec", "template", "metadata", "labels", "team") == "billing"
    assert "team" not in deployment.get("spec", "selector", "matchLabels")
    assert deployment.get("spec", "template", "metadata", "annotations",
                          "example.com/owner") == "billing"
    pod = pod_spec(run)
    assert pod["nodeSelector"] == {"pool": "workers"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "temporal",
                                   "effect": "NoSchedule", "tolerationSeconds": 30}]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["a", "b"]
    assert pod["priorityClassName"] == "high"
    assert pod["serviceAccountName"] == "billing-worker"
    assert pod["automountServiceAccountToken"] is False


def test_pod_spec_escape_hatch_sets_other_fields_in_api_form():
    pod = pod_spec(build(pod_spec={
        "runtimeClassName": "gvisor",
        "hostAliases": [{"ip": "10.0.0.7", "hostnames": ["ledger.internal"]}],
        "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]}}))
    assert pod["runtimeClassName"] == "gvisor"
    assert pod["hostAliases"] == [{"ip": "10.0.0.7", "hostnames": ["ledger.internal"]}]
    assert pod["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}


@pytest.mark.parametrize("inputs, named", [
    ({"pod_spec": {"securityContext": {}}}, "securityContext"),
    ({"pod_spec": {"nodeSelector": {}}}, "nodeSelector"),
    ({"pod_spec": {"hostAlias": []}}, "hostAlias"),
    ({"labels": {"app.kubernetes.io/instance": "x"}}, "app.kubernetes.io/instance"),
    ({"env": {"STRIPE_KEY": "x"}, "secret_env": {"STRIPE_KEY": {"name": "s", "key": "k"}}},
     "STRIPE_KEY"),
    ({"env": {spec.TASK_QUEUE.env: "x"}}, spec.TASK_QUEUE.env),
    ({"probe_mode": "tcp"}, "probeMode"),
    ({"log_format": "xml"}, "logFormat"),
    ({"replicas": -2}, "replicas"),
    ({"task_queue": " "}, "taskQueue"),
    ({"graceful_shutdown_seconds": 90000}, "gracefulShutdownSeconds"),
    ({"max_concurrent_workflow_tasks": 1}, "maxConcurrentWorkflowTasks"),
    ({"cpu_request": "2", "cpu_limit": "1"}, "cpuRequest"),
    ({"temporal_address": "no-port"}, "temporalAddress"),
    ({"image": ""}, "image"),
])
def test_invalid_inputs_fail_naming_the_input_before_anything_is_registered(inputs, named):
    with pytest.raises(ValueError) as caught:
        build(**inputs)
    assert str(caught.value).startswith("TemporalWorker billing: "), caught.value
    assert named in str(caught.value)
    assert caught.value.registered_resources == ()


def test_the_old_type_token_is_an_alias_so_existing_stacks_keep_their_resources():
    assert LEGACY_TYPE_TOKEN == "temporal-worker:index:TemporalWorker" != TYPE_TOKEN
    component = build().one(TYPE_TOKEN)
    assert component.alias_types == (LEGACY_TYPE_TOKEN,), component.urn


def test_reloader_rolls_pods_only_for_secrets_read_as_env():
    """Env cannot change in a running pod: with `reloader`, Stakater Reloader rolls the pods
    when a Secret behind secretEnv changes. Mounted Secrets (certificate, API key) are left
    out: the worker rereads them without a restart."""
    inputs = dict(tls_secret_name="billing-client-cert",
                  temporal_api_key={"name": "billing-temporal", "key": "apiKey"},
                  secret_env={"STRIPE_KEY": {"name": "billing-stripe", "key": "key"},
                              "LEDGER_TOKEN": {"name": "billing-ledger", "key": "token"},
                              "LEDGER_USER": {"name": "billing-ledger", "key": "user"}})
    annotations = build(reloader=True, **inputs).one(DEPLOYMENT).get("metadata", "annotations")
    assert annotations == {"secret.reloader.stakater.com/reload": "billing-ledger,billing-stripe"}
    assert "annotations" not in build(**inputs).one(DEPLOYMENT).get("metadata")
    assert "annotations" not in build(reloader=True, tls_secret_name="billing-client-cert"
                                      ).one(DEPLOYMENT).get("metadata"), "nothing to reload"
