"""Small, exported builders for what a worker Deployment needs around it in production:
autoscaling (KEDA on the Temporal backlog, or HPA on CPU), a disruption budget, topology
spread, a NetworkPolicy, a PodMonitor, alert rules and a dashboard, and the namespace's Pod
Security labels.

Each returns Pulumi-kubernetes argument objects (or plain dicts for custom resources); the
TemporalWorker component decides which to create.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from temporal_worker_k8s.monitoring import alerts, dashboard_json
from temporal_worker_spec import contract

DNS_PORT = 53
KEDA_API = "keda.sh/v1alpha1"
KEDA_PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
"""ScaledObject annotation: KEDA scales the target to this count and stops autoscaling it."""
PROMETHEUS_API = "monitoring.coreos.com/v1"
GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"
"""The label Grafana's sidecar (the Grafana Helm chart, kube-prometheus-stack) loads
ConfigMaps by, with the value "1"."""
DASHBOARD_KEY = "temporal-worker-dashboard.json"
# KEDA's Temporal scaler counts both kinds of backlog, as the worker polls both.
QUEUE_TYPES = "workflow,activity"
POD_SECURITY_LABELS = {f"pod-security.kubernetes.io/{mode}": "restricted"
                       for mode in ("enforce", "audit", "warn")}
"""Namespace labels that make the API server hold every pod to the restricted standard."""


def desired_replicas(backlog: int, target_queue_size: int, minimum: int, maximum: int) -> int:
    """What KEDA's Temporal scaler asks for: ceil(backlog / target), within [minimum, maximum]."""
    return max(minimum, min(maximum, math.ceil(backlog / target_queue_size)))


def temporal_port(address: str) -> int:
    """The port of a `host:port` Temporal address."""
    return int(address.rsplit(":", 1)[1])


def topology_spread(selector: Mapping[str, str]) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    """Spread pods over zones, then nodes; never leave a pod pending for it."""
    return [k8s.core.v1.TopologySpreadConstraintArgs(
        max_skew=1, topology_key=key, when_unsatisfiable="ScheduleAnyway",
        label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)))
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")]


def disruption_budget(selector: Mapping[str, str]) -> k8s.policy.v1.PodDisruptionBudgetSpecArgs:
    """At most one pod down at a time during voluntary disruptions (drains, upgrades).

    Pods that are not ready may always be evicted: readiness follows Temporal, so during a
    Temporal outage every pod is unready, and the default policy would then block every drain.
    """
    return k8s.policy.v1.PodDisruptionBudgetSpecArgs(
        max_unavailable=1, unhealthy_pod_eviction_policy="AlwaysAllow",
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)))


def network_policy(selector: Mapping[str, str], *, temporal_port: pulumi.Input[int],
                   egress_ports: pulumi.Input[Sequence[int]],
                   metrics_namespaces: pulumi.Input[Sequence[str]]
                   ) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """In: the health port (kubelet probes) and the metrics port (from `metrics_namespaces`,
    or any namespace). Out: DNS, the Temporal frontend's port and `egress_ports`, to any
    address (Temporal Cloud has no fixed IPs)."""
    def tcp(port: pulumi.Input[int]) -> k8s.networking.v1.NetworkPolicyPortArgs:
        return k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")

    def scrapers(namespaces: Sequence[str]) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
        return [k8s.networking.v1.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_expressions=[
                k8s.meta.v1.LabelSelectorRequirementArgs(
                    key="kubernetes.io/metadata.name", operator="In",
                    values=list(namespaces))]) if namespaces
            else k8s.meta.v1.LabelSelectorArgs())]

    def out(ports: Sequence[int]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
        return [tcp(temporal_port), *(tcp(port) for port in ports)]

    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        policy_types=["Ingress", "Egress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(ports=[tcp(contract.HEALTH_PORT)]),
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=_applied(metrics_namespaces, scrapers), ports=[tcp(contract.METRICS_PORT)]),
        ],
        egress=[
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=[
                k8s.networking.v1.NetworkPolicyPortArgs(port=DNS_PORT, protocol="UDP"),
                tcp(DNS_PORT)]),
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=_applied(egress_ports, out)),
        ],
    )


def _applied(value: pulumi.Input[Any], function):
    """`function(value)`, at once for a plain value, once it resolves for an Output."""
    if isinstance(value, pulumi.Output):
        return value.apply(function)
    return function(value)


def pod_monitor(selector: Mapping[str, str]) -> dict[str, Any]:
    """PodMonitor spec: scrape the pods' `metrics` port at the contract's path."""
    return {"selector": {"matchLabels": dict(selector)},
            "podMetricsEndpoints": [{"port": "metrics", "path": contract.METRICS_PATH}]}


def prometheus_rule(task_queue: pulumi.Input[str]) -> pulumi.Output[dict[str, Any]]:
    """PrometheusRule spec: the worker's alerts (`monitoring.alerts`), scoped to its task
    queue."""
    return pulumi.Output.from_input(task_queue).apply(
        lambda queue: {"groups": alerts.rule_groups(alerts.task_queue_scope(queue))})


def dashboard_data() -> dict[str, str]:
    """ConfigMap data with the worker's Grafana dashboard (`monitoring`'s JSON, as shipped)."""
    return {DASHBOARD_KEY: dashboard_json()}


def hpa(deployment: pulumi.Input[str], *, minimum: pulumi.Input[int],
        maximum: pulumi.Input[int], cpu_percent: pulumi.Input[int]
        ) -> k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs:
    """Scale the Deployment on average CPU use, for clusters without KEDA."""
    return k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
        scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
            api_version="apps/v1", kind="Deployment", name=deployment),
        min_replicas=minimum, max_replicas=maximum,
        metrics=[k8s.autoscaling.v2.MetricSpecArgs(
            type="Resource", resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                name="cpu", target=k8s.autoscaling.v2.MetricTargetArgs(
                    type="Utilization", average_utilization=cpu_percent)))])


def scaled_object(deployment: pulumi.Input[str], *, minimum: pulumi.Input[int],
                  maximum: pulumi.Input[int], trigger: Mapping[str, pulumi.Input[str]],
                  authentication: Optional[pulumi.Input[str]]) -> dict[str, Any]:
    """ScaledObject spec: one `temporal` trigger, scaling the Deployment on the backlog."""
    spec_trigger: dict[str, Any] = {"type": "temporal", "metadata": dict(trigger)}
    if authentication is not None:
        spec_trigger["authenticationRef"] = {"name": authentication}
    return {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": deployment},
            "minReplicaCount": minimum, "maxReplicaCount": maximum,
            "triggers": [spec_trigger]}


def temporal_trigger(*, address: pulumi.Input[str], namespace: pulumi.Input[str],
                     task_queue: pulumi.Input[str], tls: pulumi.Input[bool],
                     tls_server_name: Optional[pulumi.Input[str]],
                     target_queue_size: pulumi.Input[int],
                     activation_target_queue_size: pulumi.Input[int]
                     ) -> dict[str, pulumi.Input[str]]:
    """The trigger's metadata (all strings), from the same values that configure the worker."""
    def text(value: pulumi.Input[Any]) -> pulumi.Input[str]:
        return pulumi.Output.from_input(value).apply(
            lambda v: ("true" if v else "false") if isinstance(v, bool) else str(v))

    metadata: dict[str, pulumi.Input[str]] = {
        "endpoint": address, "namespace": namespace, "taskQueue": task_queue,
        "queueTypes": QUEUE_TYPES, "targetQueueSize": text(target_queue_size),
        "activationTargetQueueSize": text(activation_target_queue_size),
        "enableTLS": text(tls)}
    if tls_server_name:
        metadata["tlsServerName"] = tls_server_name
    return metadata


def trigger_authentication(*, api_key: Optional[pulumi.Input[Mapping[str, pulumi.Input[str]]]],
                           tls_secret: Optional[pulumi.Input[str]],
                           ca_secret: Optional[pulumi.Input[str]]) -> Optional[dict[str, Any]]:
    """TriggerAuthentication spec from the Secrets the worker uses; None when it uses none."""
    refs: list[dict[str, Any]] = []
    if api_key:
        ref = pulumi.Output.from_input(api_key) if isinstance(api_key, pulumi.Output) else api_key
        refs.append({"parameter": "apiKey", "name": ref["name"], "key": ref["key"]})
    if tls_secret:
        refs += [{"parameter": "cert", "name": tls_secret, "key": contract.TLS_CERT_KEY},
                 {"parameter": "key", "name": tls_secret, "key": contract.TLS_KEY_KEY}]
    if ca_secret:
        refs.append({"parameter": "ca", "name": ca_secret, "key": contract.SERVER_CA_KEY})
    return {"secretTargetRef": refs} if refs else None
