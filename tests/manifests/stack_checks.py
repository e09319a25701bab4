"""Checks on a whole rendered stack that only our tests run: every object in a namespace of its
own, selectors and Services that reach real pods, in-cluster addresses that name a Service.

The checks on a worker Deployment itself (pod security, probes, digest, grace period, literal
secrets, the NetworkPolicy and budget around it) live in `policy/temporal_worker_policy/checks.py`,
shared with the policy pack. Each function returns a list of violations (empty when compliant).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from policy.temporal_worker_policy import checks


def namespace_checks(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Namespaced objects without a namespace, or in `default`."""
    problems = []
    for obj in objects:
        if obj["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding",
                           "CustomResourceDefinition", "PriorityClass", "StorageClass"):
            if obj["kind"] == "Namespace" and obj["metadata"]["name"] in ("default",):
                problems.append("the stack manages the default Namespace")
            continue
        problems += checks.dedicated_namespace(obj)
    return problems


def selector_checks(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """kube-linter's mismatching-selector and dangling-service: every Deployment selects its own
    pods, every Service selects some pod and targets a port that pod declares."""
    objects = list(objects)
    problems = []
    pods = []
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        labels = obj["spec"]["template"].get("metadata", {}).get("labels", {})
        selector = obj["spec"].get("selector", {}).get("matchLabels", {})
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append(f"Deployment {obj['metadata']['name']} selector {selector} does not "
                            f"match its pod labels")
        pods.append((obj["metadata"].get("namespace"), labels, obj["spec"]["template"]["spec"]))
    for svc in (o for o in objects if o["kind"] == "Service"):
        selector = svc["spec"].get("selector", {})
        targets = [pod for ns, labels, pod in pods if ns == svc["metadata"].get("namespace")
                   and selector and all(labels.get(k) == v for k, v in selector.items())]
        if not targets:
            problems.append(f"Service {svc['metadata']['name']} selects no pod")
            continue
        for port in svc["spec"].get("ports", []):
            target = port.get("targetPort", port.get("port"))
            declared = [(p.get("name"), p.get("containerPort")) for pod in targets
                        for c in pod["containers"] for p in c.get("ports", [])]
            if not any(target in pair for pair in declared):
                problems.append(f"Service {svc['metadata']['name']} targets port {target}, "
                                f"which its pods do not declare")
    return problems


def in_cluster_address_checks(objects: Iterable[Mapping[str, Any]], env_name: str) -> list[str]:
    """An env var holding `<svc>.<ns>.svc[.cluster.local]:<port>` names a rendered Service that
    exposes that port."""
    objects = list(objects)
    services = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o
                for o in objects if o["kind"] == "Service"}
    problems = []
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        for c in obj["spec"]["template"]["spec"]["containers"]:
            for env in c.get("env", []):
                match = re.fullmatch(r"([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)",
                                     env.get("value") or "")
                if env["name"] != env_name or not match:
                    continue
                name, namespace, port = match.group(1), match.group(2), int(match.group(3))
                service = services.get((namespace, name))
                if service is None:
                    problems.append(f"{env_name}={env['value']}: no Service {name} in {namespace}")
                elif port not in [p.get("port") for p in service["spec"].get("ports", [])]:
                    problems.append(f"{env_name}={env['value']}: Service {name} has no port {port}")
    return problems
