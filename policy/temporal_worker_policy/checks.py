"""The checks on a Temporal worker's Kubernetes objects, one copy of each: the policy pack runs
them for the engine, our tests and `tools.conformance` run them on rendered manifests.

Objects are in Kubernetes API form (camelCase), as rendered YAML, Pulumi mocks' inputs or the
analyzer's properties give them; any `Mapping`/`Sequence` works, so the analyzer's proxies that
raise on values unknown during a preview pass through untouched. Each check returns a list of
one-line problems (empty when the object complies). Standard library and the settings spec only.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from temporal_worker_spec import contract
from temporal_worker_spec import settings as spec
from temporal_worker_spec import values

WORKER_ENV_PREFIX = "TEMPORAL_"
WORKER_LABEL_PREFIX = "temporal.io/"
COMPONENT_LABELS = {"app.kubernetes.io/component": "worker",
                    "app.kubernetes.io/part-of": "temporal"}
"""The labels TemporalWorker puts on its pods."""

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
KEY_MATERIAL = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# A literal shorter than this is too common to call a copy of a Secret's value.
MIN_SECRET_LENGTH = 8
# Commands that succeed whenever the container runs, whatever the worker does.
ALWAYS_TRUE_COMMANDS = {"true", ":", "echo", "pwd", "date", "hostname", "whoami", "id", "env",
                        "printenv", "uname", "sleep"}
PATH_COMMANDS = {"ls", "cat", "test", "[", "stat", "file"}
# Directories that exist in every container image.
ALWAYS_PRESENT_PATHS = {"/", ".", "/bin", "/dev", "/etc", "/home", "/lib", "/opt", "/proc",
                        "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
                        "/app"}
PROBE_HANDLERS = ("httpGet", "exec", "tcpSocket", "grpc")
DNS_PORT = 53
KUBERNETES_DEFAULT_GRACE_SECONDS = 30


def integer(value: Any) -> int | None:
    """`value` as an int when it is a whole number (the engine sends every number as a
    double: 8080 arrives as 8080.0), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


# --- Recognising a worker --------------------------------------------------------------------
def pod(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    return deployment.get("spec", {}).get("template", {}).get("spec", {})


def pod_labels(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    return deployment.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})


def containers(pod_spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec.get("containers", []),
            *pod_spec.get("ephemeralContainers", [])]


def _env_names(container: Mapping[str, Any]) -> list[str]:
    return [e.get("name", "") for e in container.get("env", [])]


def worker_reason(deployment: Mapping[str, Any]) -> str | None:
    """Why `deployment` runs a Temporal worker, or None when nothing says it does.

    A container with a TEMPORAL_* variable (the SDKs' envconfig names, and the seed article's),
    a pod or Deployment label under temporal.io/ (worker versioning, temporal-worker-controller),
    or TemporalWorker's own component labels.
    """
    for container in pod(deployment).get("containers", []):
        for name in _env_names(container):
            if name.startswith(WORKER_ENV_PREFIX):
                return f"container {container.get('name')} sets {name}"
    labels = {**deployment.get("metadata", {}).get("labels", {}), **pod_labels(deployment)}
    for key in labels:
        if key.startswith(WORKER_LABEL_PREFIX):
            return f"label {key}"
    if all(labels.get(k) == v for k, v in COMPONENT_LABELS.items()):
        return "TemporalWorker's labels"
    return None


def worker_container(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    """The container that runs the worker: the one with TEMPORAL_* variables, else the one
    named `worker`, else the first."""
    found = pod(deployment).get("containers", [])
    for container in found:
        if any(n.startswith(WORKER_ENV_PREFIX) for n in _env_names(container)):
            return container
    named = [c for c in found if c.get("name") == "worker"]
    return named[0] if named else (found[0] if found else {})


def worker_deployments(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [o for o in objects if o.get("kind") == "Deployment" and worker_reason(o)]


# --- One Deployment ---------------------------------------------------------------------------
def pod_security(deployment: Mapping[str, Any]) -> list[str]:
    """Violations of the Pod Security Standards baseline and restricted profiles."""
    spec_ = pod(deployment)
    problems = []
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec_.get(host):
            problems.append(f"{host} is true")
    for volume in spec_.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume.get('name')} uses {', '.join(sorted(kinds))}")
    psc = spec_.get("securityContext", {})
    for sysctl in psc.get("sysctls", []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"unsafe sysctl {sysctl.get('name')}")
    selinux = psc.get("seLinuxOptions", {})
    if selinux.get("type", "") not in SELINUX_TYPES:
        problems.append("pod seLinuxOptions.type is not allowed")
    if selinux.get("user") or selinux.get("role"):
        problems.append("pod seLinuxOptions sets user or role")
    if psc.get("appArmorProfile", {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
        problems.append("pod appArmorProfile is not RuntimeDefault or Localhost")
    if psc.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    for c in containers(spec_):
        name = c.get("name")
        sc = c.get("securityContext", {})
        if sc.get("privileged"):
            problems.append(f"container {name} is privileged")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"container {name} uses hostPort {port.get('hostPort')}")
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
        if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
            problems.append(f"container {name} does not set runAsNonRoot: true")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            problems.append(f"container {name} runs as uid 0")
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"container {name} seccompProfile is {seccomp}, not RuntimeDefault")
    return problems


def hardening(deployment: Mapping[str, Any], min_uid: int = 10000) -> list[str]:
    """kube-score / kube-linter / Polaris / checkov checks beyond the restricted profile:
    requests and limits, a read-only root, a uid outside the host's range, no API token."""
    spec_ = pod(deployment)
    psc = spec_.get("securityContext", {})
    problems = []
    if spec_.get("automountServiceAccountToken") is not False:
        problems.append("automountServiceAccountToken is not false")
    for c in spec_.get("containers", []):
        name = c.get("name")
        sc = c.get("securityContext", {})
        resources = c.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not resources.get(kind, {}).get(resource):
                    problems.append(f"container {name} has no {resource} {kind[:-1]}")
        uid = integer(sc.get("runAsUser", psc.get("runAsUser")))
        if uid is None or uid < min_uid:
            problems.append(f"container {name} runAsUser {uid} is below {min_uid}")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"container {name} root filesystem is not read-only")
    return problems


def image_pinned(deployment: Mapping[str, Any]) -> list[str]:
    """Every container image is `repository@sha256:<digest>`: a tag can be moved."""
    return [f"container {c.get('name')} image {c.get('image')} is not pinned by digest "
            "(repository@sha256:...)" for c in containers(pod(deployment))
            if not values.pinned_by_digest(c.get("image"))]


def _handler(probe: Mapping[str, Any]) -> dict[str, Any]:
    return {k: probe.get(k) for k in PROBE_HANDLERS if k in probe}


def trivial_command(command: Sequence[str]) -> bool:
    """Whether an exec probe's command passes whenever the container runs (`ls /`, `true`,
    `sh -c "ls / && echo ok"`)."""
    words = list(command)
    if len(words) >= 3 and words[0].rsplit("/", 1)[-1] in ("sh", "bash", "ash", "dash") \
            and words[1] == "-c":
        try:
            words = shlex.split(words[2])
        except ValueError:
            return False
    steps: list[list[str]] = [[]]
    for word in words:
        if word in ("&&", ";", "||", "|"):
            steps.append([])
        else:
            steps[-1].append(word)
    return all(_always_passes(step) for step in steps)


def _always_passes(words: list[str]) -> bool:
    if not words:
        return True
    program = words[0].rsplit("/", 1)[-1]
    arguments = [w for w in words[1:] if not w.startswith("-")]
    if program in ALWAYS_TRUE_COMMANDS or (program == "exit" and arguments in ([], ["0"])):
        return True
    if program in PATH_COMMANDS:
        paths = [a for a in arguments if a != "]"]
        return all((p.rstrip("/") or "/") in ALWAYS_PRESENT_PATHS for p in paths)
    return False


def probes(deployment: Mapping[str, Any]) -> list[str]:
    """The worker container has liveness and readiness probes that test something: they
    differ, and neither runs a command that passes whenever the container runs (`ls /`)."""
    container = worker_container(deployment)
    name = container.get("name")
    problems = []
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(kind)
        if probe is None:
            if kind != "startupProbe":
                problems.append(f"container {name} has no {kind}")
            continue
        if not _handler(probe):
            problems.append(f"container {name} {kind} has no handler")
        command = probe.get("exec", {}).get("command")
        if command is not None and trivial_command(command):
            problems.append(f"container {name} {kind} runs `{shlex.join(command)}`, which "
                            "passes whenever the container runs: probe the worker's health "
                            "(an HTTP endpoint, or a heartbeat file it keeps fresh)")
    liveness, readiness = container.get("livenessProbe"), container.get("readinessProbe")
    if liveness and readiness and _handler(liveness) == _handler(readiness):
        problems.append(f"container {name} liveness and readiness probes are identical: a "
                        "Temporal outage then restarts pods instead of only unreadying them")
    return problems


def drain_seconds(deployment: Mapping[str, Any], default: int) -> int:
    """The worker's drain after SIGTERM: its WORKER_GRACEFUL_SHUTDOWN_SECONDS, else `default`."""
    for env in worker_container(deployment).get("env", []):
        if env.get("name") == spec.GRACEFUL_SHUTDOWN_SECONDS.env:
            value = env.get("value")
            if isinstance(value, str) and value.strip().isdigit():
                return int(value)
    return default


def grace_period(deployment: Mapping[str, Any],
                 default_drain_seconds: int = spec.GRACEFUL_SHUTDOWN_SECONDS.default,
                 margin_seconds: int = contract.TERMINATION_GRACE_MARGIN_SECONDS) -> list[str]:
    """terminationGracePeriodSeconds covers the worker's drain plus a margin to exit, so
    SIGKILL never cuts a drain short."""
    drain = drain_seconds(deployment, default_drain_seconds)
    grace = integer(pod(deployment).get("terminationGracePeriodSeconds",
                                        KUBERNETES_DEFAULT_GRACE_SECONDS))
    needed = drain + margin_seconds
    if grace is None or grace < needed:
        return [f"terminationGracePeriodSeconds {grace} does not cover the worker's {drain}s "
                f"drain plus {margin_seconds}s to exit: Kubernetes kills it mid-drain; set at "
                f"least {needed}"]
    return []


def secret_values(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every value stored in a Secret among `objects` (stringData, and data decoded)."""
    values = []
    for obj in objects:
        if obj.get("kind") != "Secret":
            continue
        values += [v for v in obj.get("stringData", {}).values() if isinstance(v, str)]
        for encoded in obj.get("data", {}).values():
            try:
                values.append(base64.b64decode(encoded, validate=True).decode())
            except (binascii.Error, UnicodeDecodeError, TypeError, ValueError):
                continue
    return values


def literal_secrets(deployment: Mapping[str, Any], known_secrets: Iterable[str] = (),
                    allowed_names: Iterable[str] = ()) -> list[str]:
    """Env vars that carry a secret as a literal value instead of a secretKeyRef: the value of
    a Secret, private key material, or a secret-looking name (…KEY, …TOKEN, …PASSWORD) with a
    literal that is not a file path."""
    allowed = set(allowed_names)
    secrets = [s.strip() for s in known_secrets if s and len(s.strip()) >= MIN_SECRET_LENGTH]
    problems = []
    for c in containers(pod(deployment)):
        for env in c.get("env", []):
            name, value = env.get("name", ""), env.get("value")
            if value is None or name in allowed:
                continue
            where = f"container {c.get('name')} env {name}"
            if any(s in value for s in secrets):
                problems.append(f"{where} holds the value of a Secret as a literal; use "
                                "valueFrom.secretKeyRef")
            elif KEY_MATERIAL.search(value):
                problems.append(f"{where} holds a private key as a literal; mount it from a "
                                "Secret")
            elif SECRET_LIKE_NAME.search(name) and not value.startswith("/") and value.strip():
                problems.append(f"{where} looks secret but is a literal value; use "
                                "valueFrom.secretKeyRef (or allow the name in the policy's "
                                "config)")
    return problems


def dedicated_namespace(obj: Mapping[str, Any]) -> list[str]:
    """A namespaced object in a namespace of its own: not `default`, not a kube-* one."""
    namespace = obj.get("metadata", {}).get("namespace")
    if not namespace or namespace == "default" or namespace.startswith("kube-"):
        return [f"{obj.get('kind')} {obj.get('metadata', {}).get('name')} is in namespace "
                f"{namespace or '(none, i.e. the provider default)'}; give workers a "
                "namespace of their own"]
    return []


def strings(value: Any) -> Iterable[str]:
    """Every string inside a Kubernetes object (keys and values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, Sequence):
        for item in value:
            yield from strings(item)


# --- The objects around a Deployment ----------------------------------------------------------
def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels, matchExpressions) selects `labels`."""
    if selector is None:
        return False
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = (expression.get("key"), expression.get("operator"),
                                 expression.get("values", []))
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def port_number(container: Mapping[str, Any], port: Any) -> Any:
    """A port as a number, resolving a named container port; unresolvable names as given."""
    if integer(port) is not None:
        return integer(port)
    for declared in container.get("ports", []):
        if port == declared.get("name"):
            return integer(declared.get("containerPort"))
    return int(port) if isinstance(port, str) and port.isdigit() else port


def _admits(rules: Iterable[Mapping[str, Any]], container: Mapping[str, Any], port: int,
            protocol: str = "TCP") -> bool:
    """Whether any rule lets traffic to (ingress) or from (egress) `port` through."""
    for rule in rules:
        ports = rule.get("ports")
        if not ports:
            return True  # a rule without ports admits every port
        for allowed in ports:
            if allowed.get("protocol", "TCP") != protocol:
                continue
            start = port_number(container, allowed.get("port"))
            end = integer(allowed.get("endPort")) or start
            if start is None or (isinstance(start, int) and start <= port <= end):
                return True
    return False


def _in_namespace(objects: Iterable[Mapping[str, Any]], deployment: Mapping[str, Any],
                  kind: str) -> list[Mapping[str, Any]]:
    namespace = deployment.get("metadata", {}).get("namespace")
    return [o for o in objects
            if o.get("kind") == kind and o.get("metadata", {}).get("namespace") == namespace]


def _names_the_instance(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Meant for this worker: the selector names the worker's instance label."""
    instance = "app.kubernetes.io/instance"
    return instance in labels and (selector or {}).get("matchLabels", {}).get(
        instance) == labels.get(instance)


def temporal_address(container: Mapping[str, Any]) -> str | None:
    """The worker's Temporal address (TEMPORAL_ADDRESS, or the seed's TEMPORAL_HOST_URL)."""
    env = {e.get("name"): e.get("value") for e in container.get("env", [])}
    for name in spec.TEMPORAL_ADDRESS.env_names:
        if isinstance(env.get(name), str) and ":" in env[name]:
            return env[name]
    return None


def ingress_ports(deployment: Mapping[str, Any]) -> dict[str, int]:
    """Ports other hosts must reach: the probes' (by port name, else `probe`) and the
    metrics port (named `metrics`)."""
    container = worker_container(deployment)
    ports: dict[str, int] = {}
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(kind) or {}
        for handler in ("httpGet", "tcpSocket", "grpc"):
            if handler in probe:
                raw = probe[handler].get("port")
                number = port_number(container, raw)
                if isinstance(number, int) and not isinstance(number, bool):
                    ports.setdefault(raw if isinstance(raw, str) else "probe", number)
    for declared in container.get("ports", []):
        if declared.get("name") == "metrics" and integer(declared.get("containerPort")):
            ports["metrics"] = integer(declared.get("containerPort"))
    return ports


def network_policy(objects: Sequence[Mapping[str, Any]],
                   deployment: Mapping[str, Any]) -> list[str]:
    """A NetworkPolicy selects the worker's pods and lets through what the worker needs: in,
    its probe and metrics ports; out (when egress is restricted), DNS and Temporal's port."""
    labels = pod_labels(deployment)
    container = worker_container(deployment)
    name = deployment.get("metadata", {}).get("name")
    problems, selecting = [], []
    for policy in _in_namespace(objects, deployment, "NetworkPolicy"):
        where = f"NetworkPolicy {policy.get('metadata', {}).get('name')}"
        selector = policy.get("spec", {}).get("podSelector")
        if selects(selector, labels):
            selecting.append(policy)
        elif _names_the_instance(selector, labels):
            problems.append(f"{where}: its podSelector does not match the worker's pods")
    if not selecting:
        return problems + [f"Deployment {name}: no NetworkPolicy selects its pods, so they "
                           "may reach (and be reached from) anything"]
    types = {t for p in selecting for t in p.get("spec", {}).get("policyTypes", ["Ingress"])}
    ingress = [r for p in selecting for r in p.get("spec", {}).get("ingress", [])]
    egress = [r for p in selecting for r in p.get("spec", {}).get("egress", [])]
    where = "NetworkPolicy " + ", ".join(p.get("metadata", {}).get("name", "") for p in selecting)
    if "Ingress" in types:
        for label, port in ingress_ports(deployment).items():
            if not _admits(ingress, container, port):
                problems.append(f"{where}: no ingress to the pod's {label} port {port}")
    address = temporal_address(container)
    if "Egress" in types:
        if address is not None:
            temporal = int(address.rsplit(":", 1)[1])
            if not _admits(egress, container, temporal):
                problems.append(f"{where}: no egress to Temporal's port {temporal} "
                                f"({spec.TEMPORAL_ADDRESS.env}={address})")
        if not _admits(egress, container, DNS_PORT, "UDP"):
            problems.append(f"{where}: no egress to DNS (UDP {DNS_PORT})")
    return problems


def autoscalers(objects: Sequence[Mapping[str, Any]],
                deployment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """HPAs and KEDA ScaledObjects that scale `deployment` (or are named after it)."""
    name = deployment.get("metadata", {}).get("name")
    return [s for kind in ("HorizontalPodAutoscaler", "ScaledObject")
            for s in _in_namespace(objects, deployment, kind)
            if s.get("spec", {}).get("scaleTargetRef", {}).get("name") == name
            or s.get("metadata", {}).get("name") == name]


def disruption_budget(objects: Sequence[Mapping[str, Any]], deployment: Mapping[str, Any],
                      min_replicas: int = 2) -> list[str]:
    """A PodDisruptionBudget selects the pods of a worker that runs `min_replicas` or more
    pods (or is autoscaled), so a node drain cannot take them all at once."""
    labels = pod_labels(deployment)
    name = deployment.get("metadata", {}).get("name")
    problems, selecting = [], []
    for budget in _in_namespace(objects, deployment, "PodDisruptionBudget"):
        selector = budget.get("spec", {}).get("selector")
        if selects(selector, labels):
            selecting.append(budget)
        elif _names_the_instance(selector, labels):
            problems.append(f"PodDisruptionBudget {budget.get('metadata', {}).get('name')}: its "
                            "selector does not match the worker's pods")
    replicas = integer(deployment.get("spec", {}).get("replicas", 1))
    scaled = autoscalers(objects, deployment)
    if not selecting and (scaled or (replicas is not None and replicas >= min_replicas)):
        pods = f"autoscaled by {scaled[0].get('kind')}" if scaled else f"{replicas} pods"
        problems.append(f"Deployment {name} ({pods}): no PodDisruptionBudget selects its pods, "
                        "so a node drain may evict them all at once")
    return problems


def autoscaling(objects: Sequence[Mapping[str, Any]], deployment: Mapping[str, Any]) -> list[str]:
    """An autoscaler scales this Deployment, watches its task queue, and is not fought by a
    replica count on the Deployment."""
    name = deployment.get("metadata", {}).get("name")
    env = {e.get("name"): e.get("value") for e in worker_container(deployment).get("env", [])}
    problems = []
    scalers = autoscalers(objects, deployment)
    for scaler in scalers:
        where = f"{scaler.get('kind')} {scaler.get('metadata', {}).get('name')}"
        target = scaler.get("spec", {}).get("scaleTargetRef", {})
        if (target.get("name"), target.get("kind", "Deployment")) != (name, "Deployment"):
            problems.append(f"{where}: scales {target.get('kind')} {target.get('name')}, not "
                            f"Deployment {name}")
        for trigger in scaler.get("spec", {}).get("triggers", []):
            if trigger.get("type") != "temporal":
                continue
            meta = trigger.get("metadata", {})
            for key, setting in (("taskQueue", spec.TASK_QUEUE),
                                 ("namespace", spec.TEMPORAL_NAMESPACE),
                                 ("endpoint", spec.TEMPORAL_ADDRESS)):
                value = next((env[n] for n in setting.env_names if n in env), None)
                if meta.get(key) != value:
                    problems.append(f"{where}: trigger {key} {meta.get(key)!r} is not the "
                                    f"worker's {setting.env} {value!r}")
    if scalers and "replicas" in deployment.get("spec", {}):
        problems.append(f"Deployment {name}: sets replicas although {scalers[0].get('kind')} "
                        f"{scalers[0].get('metadata', {}).get('name')} scales it; every update "
                        "would fight the autoscaler")
    return problems


def pull_secrets(objects: Sequence[Mapping[str, Any]],
                 placeholders: Collection[str] = ()) -> list[str]:
    """Every image pull Secret is used by some pod in its namespace, and its content appears
    in no object but itself. `placeholders`: what a redacted render writes wherever it
    withheld a value (the same text in a Secret and, say, an annotation is no leak)."""
    problems = []
    for secret in objects:
        if secret.get("kind") != "Secret" or secret.get("type") != \
                "kubernetes.io/dockerconfigjson":
            continue
        meta = secret.get("metadata", {})
        users = [d for d in objects if d.get("kind") == "Deployment"
                 and d.get("metadata", {}).get("namespace") == meta.get("namespace")
                 and meta.get("name") in {r.get("name")
                                          for r in pod(d).get("imagePullSecrets", [])}]
        if not users:
            problems.append(f"Secret {meta.get('name')}: a pull Secret no pod in its namespace "
                            "references in imagePullSecrets")
        values = [v for v in secret_values([secret])
                  if len(v) > MIN_SECRET_LENGTH and v not in placeholders]
        for other in objects:
            if other.get("kind") != "Secret" and any(
                    v in text for text in strings(other) for v in values):
                problems.append(f"{other.get('kind')} {other.get('metadata', {}).get('name')}: "
                                f"holds the pull Secret {meta.get('name')}'s content")
    return problems
