"""Policy checks on rendered pod templates: the Pod Security Standards "restricted" profile and
the kube-score / kube-linter / Polaris / checkov checks that apply to a worker Deployment.

Each function returns a list of violations (empty when compliant), so the tests can both assert
a clean render and prove each check fires on a broken copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (v1.30+)
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                           "persistentVolumeClaim", "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t",
                 "container_engine_t"}
SECRET_LIKE_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.I)
DIGEST_REF = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


def containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*pod.get("initContainers", []), *pod.get("containers", []),
            *pod.get("ephemeralContainers", [])]


def pss_restricted(pod: Mapping[str, Any]) -> list[str]:
    """Violations of the PSS baseline and restricted profiles by a pod spec."""
    problems = []
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            problems.append(f"{host} is true")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} uses {', '.join(sorted(kinds))}")
    psc = pod.get("securityContext", {})
    for sysctl in psc.get("sysctls", []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"unsafe sysctl {sysctl.get('name')}")
    if psc.get("seLinuxOptions", {}).get("type", "") not in SELINUX_TYPES:
        problems.append("pod seLinuxOptions.type is not allowed")
    if psc.get("seLinuxOptions", {}).get("user") or psc.get("seLinuxOptions", {}).get("role"):
        problems.append("pod seLinuxOptions sets user or role")
    if psc.get("appArmorProfile", {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
        problems.append("pod appArmorProfile is not RuntimeDefault or Localhost")
    if psc.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    for c in containers(pod):
        name = c.get("name")
        sc = c.get("securityContext", {})
        if sc.get("privileged"):
            problems.append(f"container {name} is privileged")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"container {name} uses hostPort {port['hostPort']}")
        caps = sc.get("capabilities", {})
        added = set(caps.get("add", [])) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"container {name} adds capabilities {sorted(added)}")
        if "ALL" not in caps.get("drop", []):
            problems.append(f"container {name} does not drop ALL capabilities")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"container {name} sets procMount")
        if sc.get("seLinuxOptions", {}).get("type", "") not in SELINUX_TYPES:
            problems.append(f"container {name} seLinuxOptions.type is not allowed")
        if sc.get("appArmorProfile", {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            problems.append(f"container {name} appArmorProfile is not allowed")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container {name} does not set allowPrivilegeEscalation: false")
        run_as_non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if run_as_non_root is not True:
            problems.append(f"container {name} does not set runAsNonRoot: true")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            problems.append(f"container {name} runs as uid 0")
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"container {name} seccompProfile is {seccomp}, not RuntimeDefault")
    return problems


def workload_checks(deployment: Mapping[str, Any]) -> list[str]:
    """The kube-score / kube-linter / Polaris / checkov checks that apply to a worker."""
    problems = []
    pod = deployment["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("automountServiceAccountToken is not false")
    for c in pod.get("containers", []):
        name = c.get("name")
        sc = c.get("securityContext", {})
        resources = c.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not resources.get(kind, {}).get(resource):
                    problems.append(f"container {name} has no {resource} {kind[:-1]}")
        liveness, readiness = c.get("livenessProbe"), c.get("readinessProbe")
        if not liveness:
            problems.append(f"container {name} has no livenessProbe")
        if not readiness:
            problems.append(f"container {name} has no readinessProbe")
        if liveness and readiness and _handler(liveness) == _handler(readiness):
            problems.append(f"container {name} liveness and readiness probes are identical")
        if not DIGEST_REF.match(c.get("image", "")):
            problems.append(f"container {name} image {c.get('image')} is not pinned by digest")
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if not isinstance(uid, int) or uid < 10000:
            problems.append(f"container {name} runAsUser {uid} is below 10000")
        if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
            problems.append(f"container {name} does not set runAsNonRoot")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"container {name} root filesystem is not read-only")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container {name} allows privilege escalation")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"container {name} does not drop ALL capabilities")
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp != "RuntimeDefault":
            problems.append(f"container {name} seccompProfile is {seccomp}, not RuntimeDefault")
    return problems


def _handler(probe: Mapping[str, Any]) -> Any:
    return {k: v for k, v in probe.items() if k in ("httpGet", "exec", "tcpSocket", "grpc")}


def literal_secrets_in_env(deployment: Mapping[str, Any], secret_values: Iterable[str]) -> list[str]:
    """Env vars that carry a secret in plain text instead of a secretKeyRef."""
    problems = []
    secrets = [s.strip() for s in secret_values if s and s.strip()]
    for c in containers(deployment["spec"]["template"]["spec"]):
        for env in c.get("env", []):
            value = env.get("value")
            if value is None:
                continue
            if any(s in value for s in secrets):
                problems.append(f"container {c.get('name')} env {env['name']} holds a secret value")
            elif SECRET_LIKE_NAME.search(env["name"]) and not env["name"].endswith(
                    ("_PATH", "_FILE")):
                problems.append(f"container {c.get('name')} env {env['name']} looks secret but "
                                "is a literal value")
    return problems


def namespace_checks(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Namespaced objects without a namespace, or in `default`."""
    problems = []
    for obj in objects:
        if obj["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding",
                           "CustomResourceDefinition", "PriorityClass", "StorageClass"):
            if obj["kind"] == "Namespace" and obj["metadata"]["name"] in ("default",):
                problems.append("the stack manages the default Namespace")
            continue
        namespace = obj["metadata"].get("namespace")
        if not namespace or namespace == "default" or namespace.startswith("kube-"):
            problems.append(f"{obj['kind']} {obj['metadata']['name']} is in namespace "
                            f"{namespace or '(none, i.e. default)'}")
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
