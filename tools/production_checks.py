"""Check the objects around a rendered worker Deployment against the Deployment itself.

A NetworkPolicy that forgets the metrics port, a PodDisruptionBudget or autoscaler that selects
other pods, a replica count an autoscaler would fight, or a pull Secret nobody uses all render
and apply fine, and only fail in production. `check(objects)` returns each such mismatch as a
one-line message naming the object; `tools.conformance.check` includes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import temporal_worker_spec.settings as spec
from temporal_worker_k8s.production import DNS_PORT, temporal_port
from temporal_worker_spec import contract
from tools.render import REDACTED

def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels, matchExpressions In/NotIn/Exists) selects labels."""
    if selector is None:
        return False
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get(
            "values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _port_number(container: Mapping[str, Any], port: Any) -> Any:
    for declared in container.get("ports", []):
        if port in (declared.get("name"), declared.get("containerPort")):
            return declared["containerPort"]
    return port


def _admits(rules: Iterable[Mapping[str, Any]], container: Mapping[str, Any], port: int) -> bool:
    """Whether any rule lets TCP traffic to (ingress) or from (egress) `port` through."""
    for rule in rules:
        ports = rule.get("ports")
        if not ports:
            return True  # a rule without ports admits every port
        for allowed in ports:
            if allowed.get("protocol", "TCP") != "TCP":
                continue
            start = _port_number(container, allowed.get("port"))
            end = allowed.get("endPort", start)
            if start is None or (isinstance(start, int) and start <= port <= end):
                return True
    return False


def check(objects: Iterable[Mapping[str, Any]], deployment: Mapping[str, Any],
          container: Mapping[str, Any]) -> list[str]:
    """Mismatches between `deployment` (its worker `container`) and the objects around it."""
    objects = list(objects)
    namespace = deployment["metadata"].get("namespace")
    name = deployment["metadata"]["name"]
    labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    problems: list[str] = []
    around = [o for o in objects if o["metadata"].get("namespace") == namespace]

    def of_kind(kind: str) -> list[Mapping[str, Any]]:
        return [o for o in around if o.get("kind") == kind]

    def ours(selector: Mapping[str, Any] | None) -> bool:
        """Meant for this worker: it names the worker's instance label."""
        instance = "app.kubernetes.io/instance"
        return (selector or {}).get("matchLabels", {}).get(instance) == labels.get(instance)

    for policy in of_kind("NetworkPolicy"):
        where = f"NetworkPolicy {policy['metadata']['name']}"
        if not _selects(policy["spec"].get("podSelector"), labels):
            if ours(policy["spec"].get("podSelector")):
                problems.append(f"{where}: its podSelector does not match the worker's pods")
            continue
        spec_ = policy["spec"]
        types = spec_.get("policyTypes", ["Ingress"])
        for port_name, port in (("health", contract.HEALTH_PORT),
                                ("metrics", contract.METRICS_PORT)):
            declared = _port_number(container, port_name)
            if "Ingress" in types and not _admits(spec_.get("ingress", []), container,
                                                    declared if isinstance(declared, int)
                                                    else port):
                problems.append(f"{where}: no ingress to the pod's {port_name} port {port}")
        address = env.get(spec.TEMPORAL_ADDRESS.env) or ""
        if "Egress" in types and ":" in address:
            temporal = temporal_port(address)
            if not _admits(spec_.get("egress", []), container, temporal):
                problems.append(f"{where}: no egress to Temporal's port {temporal} "
                                f"({spec.TEMPORAL_ADDRESS.env}={address})")
            dns = [r for r in spec_.get("egress", [])
                   if any(p.get("port") == DNS_PORT and p.get("protocol") == "UDP"
                          for p in r.get("ports", []))]
            if not dns:
                problems.append(f"{where}: no egress to DNS (UDP {DNS_PORT})")

    for budget in of_kind("PodDisruptionBudget"):
        selector = budget["spec"].get("selector")
        if ours(selector) and not _selects(selector, labels):
            problems.append(f"PodDisruptionBudget {budget['metadata']['name']}: its selector "
                            "does not match the worker's pods")

    scalers = []
    for scaler in of_kind("HorizontalPodAutoscaler") + of_kind("ScaledObject"):
        target = scaler["spec"].get("scaleTargetRef", {})
        if target.get("name") == name or scaler["metadata"]["name"] == name:
            scalers.append(scaler)
            if (target.get("name"), target.get("kind", "Deployment")) != (name, "Deployment"):
                problems.append(f"{scaler['kind']} {scaler['metadata']['name']}: scales "
                                f"{target.get('kind')} {target.get('name')}, not Deployment "
                                f"{name}")
    for scaler in scalers:
        if scaler["kind"] == "ScaledObject":
            for trigger in scaler["spec"].get("triggers", []):
                meta = trigger.get("metadata", {})
                for key, variable in (("taskQueue", spec.TASK_QUEUE.env),
                                      ("namespace", spec.TEMPORAL_NAMESPACE.env),
                                      ("endpoint", spec.TEMPORAL_ADDRESS.env)):
                    if trigger.get("type") == "temporal" and meta.get(key) != env.get(variable):
                        problems.append(f"ScaledObject {scaler['metadata']['name']}: trigger "
                                        f"{key} {meta.get(key)!r} is not the worker's "
                                        f"{variable} {env.get(variable)!r}")
    if scalers and "replicas" in deployment["spec"]:
        problems.append(f"Deployment {name}: sets replicas although "
                        f"{scalers[0]['kind']} {scalers[0]['metadata']['name']} scales it; "
                        "every update would fight the autoscaler")

    pulls = {r.get("name") for r in pod.get("imagePullSecrets", [])}
    for secret in of_kind("Secret"):
        if secret.get("type") != "kubernetes.io/dockerconfigjson":
            continue
        if secret["metadata"]["name"] not in pulls:
            problems.append(f"Secret {secret['metadata']['name']}: a pull Secret the worker's "
                            "pods do not reference in imagePullSecrets")
        # A redacted render holds the same placeholder wherever a value was withheld.
        values = [v for v in {**secret.get("stringData", {}), **secret.get("data", {})}.values()
                  if isinstance(v, str) and len(v) > 8 and v != REDACTED]
        for other in objects:
            if other.get("kind") != "Secret" and any(v in repr(other) for v in values):
                problems.append(f"{other['kind']} {other['metadata']['name']}: holds the pull "
                                f"Secret {secret['metadata']['name']}'s content")
    return problems
