"""What TemporalWorker puts around its Deployment for production: KEDA or HPA autoscaling, a
disruption budget, a ServiceAccount, topology spread, a NetworkPolicy, a PodMonitor, alert rules
and a Grafana dashboard, pull credentials, and a restricted namespace."""

from __future__ import annotations

import json

import pulumi
import pytest

from temporal_worker_k8s import TemporalWorker
from temporal_worker_k8s.monitoring import alerts, dashboard_json
from temporal_worker_k8s.production import POD_SECURITY_LABELS, desired_replicas
from temporal_worker_spec import contract
from tests.program.helpers import (CONFIG_MAP, DEPLOYMENT, HPA, NAMESPACE, NETWORK_POLICY,
                                   PDB, POD_MONITOR, PROMETHEUS_RULE, SCALED_OBJECT,
                                   SERVICE_ACCOUNT, TRIGGER_AUTH, container)
from tools.mockstack import StackRun, run_program

IMAGE = "registry.example.com/team/worker@sha256:" + "ab" * 32
ADDRESS = "billing.acct.tmprl.cloud:7233"


def build(**inputs) -> StackRun:
    args = {"image": IMAGE, "namespace": "billing", "temporal_address": ADDRESS,
            "temporal_namespace": "billing.acct", "task_queue": "billing", **inputs}
    return run_program(lambda: TemporalWorker("billing", args))


def pod_labels(run: StackRun) -> dict:
    return run.one(DEPLOYMENT).get("spec", "template", "metadata", "labels")


def test_keda_with_an_api_key_scales_on_the_backlog_with_the_workers_own_secret():
    run = build(autoscaling="keda", min_replicas=2, max_replicas=20, target_queue_size=8,
                temporal_api_key={"name": "billing-temporal", "key": "apiKey"},
                tls_server_name="billing.acct.tmprl.cloud")
    deployment = run.one(DEPLOYMENT)
    assert "replicas" not in deployment.get("spec"), "KEDA owns the replica count"
    scaled = run.one(SCALED_OBJECT).get("spec")
    assert scaled["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": deployment.get("metadata", "name")}
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (2, 20)
    [trigger] = scaled["triggers"]
    assert trigger["type"] == "temporal"
    assert trigger["metadata"] == {
        "endpoint": ADDRESS, "namespace": "billing.acct", "taskQueue": "billing",
        "queueTypes": "workflow,activity", "targetQueueSize": "8",
        "activationTargetQueueSize": "0", "enableTLS": "true",
        "tlsServerName": "billing.acct.tmprl.cloud"}
    auth = run.one(TRIGGER_AUTH)
    assert trigger["authenticationRef"] == {"name": auth.get("metadata", "name")}
    assert auth.get("spec") == {"secretTargetRef": [
        {"parameter": "apiKey", "name": "billing-temporal", "key": "apiKey"}]}
    assert run.of_type(HPA) == []


def test_keda_with_mtls_hands_over_the_client_cert_key_and_server_ca():
    run = build(autoscaling="keda", tls_secret_name="billing-cert", server_ca_secret_name="ca")
    assert run.one(TRIGGER_AUTH).get("spec", "secretTargetRef") == [
        {"parameter": "cert", "name": "billing-cert", "key": contract.TLS_CERT_KEY},
        {"parameter": "key", "name": "billing-cert", "key": contract.TLS_KEY_KEY},
        {"parameter": "ca", "name": "ca", "key": contract.SERVER_CA_KEY}]


def test_keda_without_credentials_needs_no_trigger_authentication():
    run = build(autoscaling="keda", tls=False)
    [trigger] = run.one(SCALED_OBJECT).get("spec", "triggers")
    assert "authenticationRef" not in trigger and trigger["metadata"]["enableTLS"] == "false"
    assert run.of_type(TRIGGER_AUTH) == []


def test_scale_to_zero_is_keda_only_and_wakes_on_the_activation_threshold():
    run = build(autoscaling="keda", min_replicas=0, activation_target_queue_size=3)
    scaled = run.one(SCALED_OBJECT).get("spec")
    assert scaled["minReplicaCount"] == 0
    assert scaled["triggers"][0]["metadata"]["activationTargetQueueSize"] == "3"
    for autoscaling in ("hpa", "off"):
        with pytest.raises(ValueError, match="minReplicas: 0 needs autoscaling=keda"):
            build(autoscaling=autoscaling, min_replicas=0)


def test_hpa_scales_on_cpu_and_leaves_replicas_to_it():
    run = build(autoscaling="hpa", min_replicas=2, max_replicas=6, target_cpu_utilization=60)
    assert "replicas" not in run.one(DEPLOYMENT).get("spec")
    hpa = run.one(HPA).get("spec")
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "billing"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
    assert run.of_type(SCALED_OBJECT) == []


def test_min_above_max_is_refused():
    with pytest.raises(ValueError, match="minReplicas: 5 must not exceed maxReplicas"):
        build(autoscaling="hpa", min_replicas=5, max_replicas=4)


def test_the_disruption_budget_selects_exactly_the_pods():
    run = build(replicas=3)
    pdb = run.one(PDB).get("spec")
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"]["matchLabels"] == run.one(DEPLOYMENT).get(
        "spec", "selector", "matchLabels")
    assert pdb["selector"]["matchLabels"].items() <= pod_labels(run).items()


def test_the_disruption_budget_never_blocks_a_drain_while_temporal_is_down():
    # Readiness follows Temporal: in an outage every pod is unready, and the default policy
    # (IfHealthyBudget) would then allow no eviction at all.
    assert build(replicas=3).one(PDB).get("spec")["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_keda_with_an_api_key_and_a_private_ca_but_no_client_cert_is_refused():
    with pytest.raises(ValueError) as caught:
        build(autoscaling="keda", temporal_api_key={"name": "billing-temporal", "key": "k"},
              server_ca_secret_name="billing-ca")
    message = str(caught.value)
    assert message.startswith("TemporalWorker billing: autoscaling: keda cannot scale a worker "
                              "that uses temporal_api_key with a private server_ca_secret_name "
                              "and no tls_secret_name: KEDA's Temporal scaler uses a CA only "
                              "together with a client certificate"), message
    assert caught.value.registered_resources == ()
    # With the client certificate KEDA uses the CA; without the CA it trusts the system roots.
    build(autoscaling="keda", temporal_api_key={"name": "billing-temporal", "key": "k"},
          server_ca_secret_name="billing-ca", tls_secret_name="billing-cert")
    build(autoscaling="keda", temporal_api_key={"name": "billing-temporal", "key": "k"})
    build(autoscaling="hpa", temporal_api_key={"name": "billing-temporal", "key": "k"},
          server_ca_secret_name="billing-ca")


def test_a_single_pod_gets_no_budget_and_a_warning():
    run = build(replicas=1)
    assert run.of_type(PDB) == []
    assert any("no PodDisruptionBudget" in w and "block node drains" in w
               for w in run.warnings), run.warnings
    assert build(replicas=1, autoscaling="hpa").of_type(PDB), "autoscaled: one pod is a floor"
    assert build(replicas=3, pod_disruption_budget=False).of_type(PDB) == []


def test_the_pods_run_as_a_service_account_of_their_own_without_a_token():
    run = build()
    account = run.one(SERVICE_ACCOUNT)
    assert account.get("automountServiceAccountToken") is False
    pod = run.one(DEPLOYMENT).get("spec", "template", "spec")
    assert pod["serviceAccountName"] == account.get("metadata", "name")
    assert pod["automountServiceAccountToken"] is False
    assert build(service_account_name="billing-sa").of_type(SERVICE_ACCOUNT) == []


def test_pods_spread_over_zones_and_nodes_without_blocking_scheduling():
    pod = build().one(DEPLOYMENT).get("spec", "template", "spec")
    spread = pod["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == ["topology.kubernetes.io/zone",
                                                  "kubernetes.io/hostname"]
    assert {c["whenUnsatisfiable"] for c in spread} == {"ScheduleAnyway"}
    assert "topologySpreadConstraints" not in build(topology_spread=False).one(DEPLOYMENT).get(
        "spec", "template", "spec")


def test_the_network_policy_admits_probes_and_scrapes_and_lets_out_dns_and_temporal_only():
    run = build(egress_ports=[443], metrics_namespaces=["monitoring"])
    policy = run.one(NETWORK_POLICY).get("spec")
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels(run).items()
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    health, metrics = policy["ingress"]
    assert health == {"ports": [{"port": contract.HEALTH_PORT, "protocol": "TCP"}]}
    assert metrics["ports"] == [{"port": contract.METRICS_PORT, "protocol": "TCP"}]
    assert metrics["from"] == [{"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["monitoring"]}]}}]
    dns, out = policy["egress"]
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert out["ports"] == [{"port": 7233, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]
    assert "to" not in out, "Temporal Cloud has no fixed addresses"
    any_namespace = build().one(NETWORK_POLICY).get("spec", "ingress")[1]["from"]
    assert any_namespace == [{"namespaceSelector": {}}]
    assert build(network_policy=False).of_type(NETWORK_POLICY) == []


def test_a_pod_monitor_scrapes_the_metrics_port_when_asked():
    assert build().of_type(POD_MONITOR) == []
    run = build(pod_monitor=True)
    monitor = run.one(POD_MONITOR).get("spec")
    assert monitor["selector"]["matchLabels"].items() <= pod_labels(run).items()
    assert monitor["podMetricsEndpoints"] == [{"port": "metrics",
                                               "path": contract.METRICS_PATH}]
    assert {p["name"] for p in container(run, "billing-deployment")["ports"]} >= {"metrics"}
    annotations = run.one(DEPLOYMENT).get("spec", "template", "metadata", "annotations")
    assert annotations["prometheus.io/scrape"] == "true", "kept for Prometheus without CRDs"


@pytest.mark.parametrize("as_output", [False, True], ids=["plain", "output"])
def test_alert_rules_are_the_shipped_ones_scoped_to_the_task_queue_when_asked(as_output):
    assert build().of_type(PROMETHEUS_RULE) == []
    run = run_program(lambda: TemporalWorker("billing", {
        "image": IMAGE, "namespace": "billing", "temporal_address": ADDRESS,
        "task_queue": pulumi.Output.from_input("billing") if as_output else "billing",
        "prometheus_rule": True, "labels": {"release": "monitoring"}}))
    rule = run.one(PROMETHEUS_RULE)
    assert rule.get("metadata", "labels")["release"] == "monitoring", \
        "labels reach the rule, for a Prometheus that selects rules by label"
    [group] = rule.get("spec", "groups")
    assert [r["alert"] for r in group["rules"]] == [a.name for a in alerts.ALERTS]
    for shipped, scoped in zip(alerts.rule_groups()[0]["rules"], group["rules"]):
        assert {k: v for k, v in scoped.items() if k != "expr"} == \
            {k: v for k, v in shipped.items() if k != "expr"}
        if 'task_queue="billing"' not in scoped["expr"]:
            assert scoped["alert"] == "TemporalRequestsResourceExhausted", scoped
            assert scoped["expr"] == shipped["expr"]


def test_the_scope_quotes_a_task_queue_as_a_promql_string():
    assert alerts.task_queue_scope('a"b\\c') == 'task_queue="a\\"b\\\\c"'


def test_the_dashboard_configmap_holds_the_shipped_json_for_grafanas_sidecar_when_asked():
    assert build().of_type(CONFIG_MAP) == []
    run = build(grafana_dashboard=True)
    config_map = run.one(CONFIG_MAP)
    assert config_map.get("metadata", "labels")["grafana_dashboard"] == "1"
    assert config_map.get("metadata", "labels").items() >= pod_labels(run).items() - {
        ("app.kubernetes.io/version", None)}
    [(key, text)] = config_map.get("data").items()
    assert key.endswith(".json") and text == dashboard_json()
    assert json.loads(text)["uid"] == "temporal-worker"


def test_an_existing_pull_secret_is_referenced_by_the_pods():
    pod = build(image_pull_secret="registry-creds").one(DEPLOYMENT).get("spec", "template",
                                                                         "spec")
    assert pod["imagePullSecrets"] == [{"name": "registry-creds"}]


def test_a_namespace_the_component_creates_enforces_the_restricted_standard():
    labels = build(create_namespace=True).one(NAMESPACE).get("metadata", "labels")
    assert labels == POD_SECURITY_LABELS == {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted"}


@pytest.mark.parametrize("backlog, expected", [(0, 1), (1, 1), (5, 1), (6, 2), (47, 10),
                                               (500, 10)])
def test_desired_replicas_follow_kedas_rule(backlog, expected):
    assert desired_replicas(backlog, target_queue_size=5, minimum=1, maximum=10) == expected
