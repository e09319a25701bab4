"""Check a rendered worker Deployment against what the worker process and its image expect.

The component and the worker share `temporal_worker_spec`, but a literal typed on one side, a
variable read outside the spec or a moved mount only shows up when a pod starts.
`check(objects)` compares the rendered objects with the spec, the contract and
`worker/Dockerfile`, and returns every mismatch as a one-line message naming the object; an
empty list means they fit.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from temporal_worker_spec import Invalid, parse
from temporal_worker_spec.settings import SETTINGS
from policy.temporal_worker_policy import checks
from tools.render import REDACTED

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_DIR = REPO_ROOT / "worker"
DOCKERFILE = WORKER_DIR / "Dockerfile"
# temporalio.envconfig turns every TEMPORAL_GRPC_META_<NAME> into a gRPC header.
GRPC_META_PREFIX = "TEMPORAL_GRPC_META_"
WORKER_COMPONENT_LABEL = ("app.kubernetes.io/component", "worker")
# Names in these namespaces belong to the worker, its sample workload or temporalio.envconfig; a
# Deployment that sets one the worker does not read has a typo or a rename on one side.
WORKER_ENV_PREFIXES = ("TEMPORAL_", "WORKER_", "CHATGPT_")
REQUIRED_ENV = (spec.TEMPORAL_ADDRESS.env, spec.TEMPORAL_NAMESPACE.env, spec.TASK_QUEUE.env)
# Env var -> the file the contract says it names (a Secret volume must provide that file).
FILE_ENV = {
    spec.TLS_CERT.env: contract.TLS_CERT_PATH,
    spec.TLS_KEY.env: contract.TLS_KEY_PATH,
    spec.TLS_SERVER_CA.env: contract.SERVER_CA_PATH,
    spec.TEMPORAL_API_KEY_FILE.env: contract.API_KEY_PATH,
}


def worker_env_names(worker_dir: Path = WORKER_DIR) -> frozenset[str]:
    """Every env var name the worker reads, taken from its code rather than from the spec.

    That is: names written as literals, the spec's variables (and the seed aliases) when it
    calls the spec's `from_env`, and, because it hands its environment to
    `temporalio.envconfig` (`load_client_connect_config` or `ClientConfigProfile.load`), every
    TEMPORAL_* name envconfig reads.
    """
    names: set[str] = set()
    for path in worker_dir.glob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r"[\"']((?:TEMPORAL|WORKER)_[A-Z0-9_]+)[\"']", text))
        if "from_env(" in text:
            names |= {name for s in SETTINGS for name in s.env_names}
        if "load_client_connect_config" in text or "ClientConfigProfile.load" in text:
            names |= envconfig_names()
    return frozenset(names)


def envconfig_names() -> frozenset[str]:
    """TEMPORAL_* names temporalio.envconfig reads, from the sdk-core source in the wheel (the
    Python layer passes the environment to Rust); the contract's connection names if absent."""
    import temporalio

    source = (Path(temporalio.__file__).parent / "bridge" / "sdk-core" / "crates" / "common"
              / "src" / "envconfig.rs")
    if not source.exists():
        return frozenset(s.env for s in SETTINGS if s.group == spec.CONNECTION and s.env)
    # The module's tests use made-up TEMPORAL_GRPC_META_<header> names; the prefix is enough.
    return frozenset(n for n in re.findall(r'"(TEMPORAL_[A-Z0-9_]+)"', source.read_text())
                     if not n.startswith(GRPC_META_PREFIX))


def dockerfile_identity(path: Path = DOCKERFILE) -> dict[str, Any]:
    """USER (uid, gid) and exec-form ENTRYPOINT of the final stage of a Dockerfile."""
    args: dict[str, str] = {}
    user: str | None = None
    entrypoint: list[str] | None = None
    text = re.sub(r"\\\n", " ", path.read_text())
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            user, entrypoint = None, None  # a new stage starts clean
        elif instruction == "ARG":
            name, has_default, default = rest.partition("=")
            if has_default or name.strip() not in args:  # `ARG X` re-declares a global X
                args[name.strip()] = default.strip().strip('"')
        elif instruction == "USER":
            user = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), rest)
        elif instruction == "ENTRYPOINT":
            entrypoint = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
    uid, _, gid = (user or "").partition(":")
    return {"uid": int(uid) if uid.isdigit() else uid or None,
            "gid": int(gid) if gid.isdigit() else gid or None,
            "entrypoint": entrypoint}


def worker_deployments(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Deployments whose pods carry the worker component label."""
    key, value = WORKER_COMPONENT_LABEL
    return [o for o in objects if o.get("kind") == "Deployment"
            and checks.pod_labels(o).get(key) == value]


worker_container = checks.worker_container


def check(objects: Iterable[Mapping[str, Any]], *,
          reads: Collection[str] | None = None,
          image: Mapping[str, Any] | None = None) -> list[str]:
    """Every mismatch between the rendered worker Deployment(s) and the worker; [] if none.

    `reads` is the set of env names the worker reads (default: `worker_env_names()`), `image`
    the Dockerfile's identity (default: `dockerfile_identity()`); tests pass altered ones to
    prove a one-sided change is caught.
    """
    objects = list(objects)
    reads = worker_env_names() if reads is None else frozenset(reads)
    if image is None:
        if not DOCKERFILE.exists():
            return [f"{DOCKERFILE.relative_to(REPO_ROOT)} is missing"]
        image = dockerfile_identity()
    secrets = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o
               for o in objects if o.get("kind") == "Secret"}
    deployments = worker_deployments(objects)
    if not deployments:
        return ["no worker Deployment (label %s=%s) in the rendered objects"
                % WORKER_COMPONENT_LABEL]
    problems: list[str] = []
    for deployment in deployments:
        problems += [f"Deployment {deployment['metadata']['name']}: {p}"
                     for p in _check_deployment(deployment, secrets, reads, image)]
        problems += checks.network_policy(objects, deployment)
        problems += checks.disruption_budget(objects, deployment)
        problems += checks.autoscaling(objects, deployment)
        problems += [f"Deployment {deployment['metadata']['name']}: {p}"
                     for p in checks.grace_period(deployment)]
    problems += checks.pull_secrets(objects, placeholders={REDACTED})
    if image.get("entrypoint") != list(contract.ENTRYPOINT):
        problems.append(f"worker/Dockerfile: ENTRYPOINT {image.get('entrypoint')} is not the "
                        f"contract's {list(contract.ENTRYPOINT)}")
    return problems


def _check_deployment(deployment: Mapping[str, Any], secrets: Mapping[tuple, Mapping[str, Any]],
                      reads: Collection[str], image: Mapping[str, Any]) -> Iterable[str]:
    namespace = deployment["metadata"].get("namespace")
    pod = deployment["spec"]["template"]["spec"]
    container = worker_container(deployment)
    env_list = container.get("env", [])
    env = {e["name"]: e.get("value") for e in env_list}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = container.get("volumeMounts", [])
    by_env = {name: s for s in SETTINGS for name in s.env_names}

    def names_of(variable: str) -> tuple[str, ...]:
        """The variable and the seed article's aliases that stand for it."""
        setting = by_env.get(variable)
        return setting.env_names if setting is not None else (variable,)

    # --- env names: set on the Deployment side <-> read on the worker side --------------------
    for name in env:
        if (name.startswith(WORKER_ENV_PREFIXES) and name not in reads
                and not name.startswith(GRPC_META_PREFIX)):
            yield f"env {name} is set but the worker does not read it"
    for name in REQUIRED_ENV:
        if name not in reads:
            yield f"the worker does not read {name}, which the Deployment must set"
        if not any(var in env for var in names_of(name)):
            yield f"env {name} is not set"
    for e in env_list:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            continue
        secret = secrets.get((namespace, ref.get("name")))
        if secret is None:
            yield f"env {e['name']}: Secret {ref.get('name')!r} is not created in {namespace}"
        elif ref.get("key") not in _secret_keys(secret):
            yield f"env {e['name']}: Secret {ref.get('name')!r} has no key {ref.get('key')!r}"

    # --- every value the worker reads passes the worker's own checks --------------------------
    for name, value in env.items():
        setting = by_env.get(name)
        if setting is not None and value is not None and not setting.file:
            try:
                parse(setting, value)
            except Invalid as err:
                yield f"env {name}: the worker would refuse it: {err.reason}"

    # --- files named by env vars exist where the Secret volume puts them ----------------------
    for name, expected in FILE_ENV.items():
        for var in names_of(name):
            if var not in env:
                continue
            path = env[var]
            if path != expected:
                yield f"env {var}={path} is not the contract's {expected}"
            provided = _file_provided(path, mounts, volumes, secrets, namespace)
            if provided is not True:
                yield f"env {var}={path}: {provided}"
    for mount in mounts:
        volume = volumes.get(mount.get("name"))
        if volume is None:
            yield f"volumeMount {mount.get('name')} has no volume"
            continue
        if "secret" in volume:
            secret_name = volume["secret"].get("secretName")
            keys = _secret_keys(secrets.get((namespace, secret_name), {}))
            wanted = {contract.TLS_MOUNT_DIR: {contract.TLS_CERT_KEY, contract.TLS_KEY_KEY},
                      contract.SERVER_CA_MOUNT_DIR: {contract.SERVER_CA_KEY},
                      contract.API_KEY_MOUNT_DIR: {contract.API_KEY_FILE}}
            if mount["mountPath"] not in wanted:
                yield (f"Secret volume {mount['name']} is mounted at {mount['mountPath']}, not at "
                       f"a contract path ({', '.join(wanted)})")
            if not mount.get("readOnly"):
                yield f"Secret volume {mount['name']} is not mounted readOnly"
            if (namespace, secret_name) not in secrets:
                yield (f"volume {mount['name']}: Secret {secret_name!r} is not created in "
                       f"{namespace}")
            elif mount["mountPath"] in wanted:
                files = _volume_files(volume, keys)
                for missing in sorted(wanted[mount["mountPath"]] - files):
                    yield f"volume {mount['name']} provides no file {missing}"

    # --- a writable /tmp under a read-only root ------------------------------------------------
    sc = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    if sc.get("readOnlyRootFilesystem"):
        writable = [m for m in mounts if m["mountPath"] == contract.WRITABLE_DIR
                    and "emptyDir" in volumes.get(m["name"], {}) and not m.get("readOnly")]
        if not writable:
            yield f"readOnlyRootFilesystem without a writable emptyDir at {contract.WRITABLE_DIR}"
    heartbeat = env.get(spec.HEARTBEAT_FILE.env)
    liveness_file = env.get(spec.LIVENESS_FILE.env)
    for name, value in ((spec.HEARTBEAT_FILE.env, heartbeat),
                        (spec.LIVENESS_FILE.env, liveness_file)):
        if value and not value.startswith(contract.WRITABLE_DIR.rstrip("/") + "/"):
            yield f"env {name}={value} is outside {contract.WRITABLE_DIR}"

    # --- probes hit the worker's health server or its heartbeat file ---------------------------
    health_port = _int(env.get(spec.HEALTH_PORT.env), contract.HEALTH_PORT)
    if health_port != contract.HEALTH_PORT:
        yield (f"env {spec.HEALTH_PORT.env}={health_port} is not the contract's "
               f"{contract.HEALTH_PORT}")
    expected_paths = {"livenessProbe": {contract.LIVENESS_PATH},
                      "readinessProbe": {contract.READINESS_PATH},
                      "startupProbe": {contract.LIVENESS_PATH, contract.READINESS_PATH}}
    for kind, paths in expected_paths.items():
        probe = container.get(kind)
        if probe is None:
            if kind != "startupProbe":
                yield f"no {kind}"
            continue
        if "httpGet" in probe:
            get = probe["httpGet"]
            if get.get("path") not in paths:
                yield f"{kind} path {get.get('path')} is not {' or '.join(sorted(paths))}"
            port = checks.port_number(container, get.get("port"))
            if port != health_port:
                yield f"{kind} port {get.get('port')} ({port}) is not the health port {health_port}"
            if get.get("scheme", "HTTP") != "HTTP":
                yield f"{kind} scheme {get.get('scheme')} but the health server speaks HTTP"
        elif "exec" in probe:
            # Readiness checks the file kept only while ready; liveness and startup check the
            # file kept while the loop runs (a Temporal outage must not restart the pod).
            var, path = ((spec.HEARTBEAT_FILE.env, heartbeat) if kind == "readinessProbe"
                         else (spec.LIVENESS_FILE.env, liveness_file))
            command = probe["exec"].get("command", [])
            want = contract.heartbeat_probe_command(path or "$" + var)
            if command[:-1] != want[:-1]:
                yield f"{kind} exec {shlex.join(command)} is not {shlex.join(want[:-1])} N"
            if not path:
                yield f"{kind} checks a heartbeat file but {var} is unset"
        else:
            yield f"{kind} uses neither httpGet nor exec"
    for port in container.get("ports", []):
        if port.get("name") == "metrics":
            metrics = _int(env.get(spec.METRICS_PORT.env), contract.METRICS_PORT)
            if port.get("containerPort") != metrics:
                yield f"metrics containerPort {port.get('containerPort')} is not {metrics}"

    # --- identity and command match the image ---------------------------------------------------
    uid, gid = sc.get("runAsUser"), sc.get("runAsGroup")
    if uid == 0 or not sc.get("runAsNonRoot"):
        yield f"runs as root or without runAsNonRoot (runAsUser={uid})"
    if uid != contract.RUN_AS_UID or uid != image.get("uid"):
        yield (f"runAsUser {uid} is not the image's USER {image.get('uid')} and the contract's "
               f"{contract.RUN_AS_UID}")
    if gid != contract.RUN_AS_GID or gid != image.get("gid"):
        yield (f"runAsGroup {gid} is not the image's group {image.get('gid')} and the contract's "
               f"{contract.RUN_AS_GID}")
    command = container.get("command") or image.get("entrypoint")
    if list(command or []) != list(contract.ENTRYPOINT) or container.get("args"):
        yield (f"command {command} args {container.get('args')} do not run "
               f"{shlex.join(contract.ENTRYPOINT)}")


def _int(value: str | None, default: int) -> int | str:
    if value is None:
        return default
    return int(value) if value.isdigit() else value


def _secret_keys(secret: Mapping[str, Any]) -> set[str]:
    return set(secret.get("data", {})) | set(secret.get("stringData", {}))


def _volume_files(volume: Mapping[str, Any], keys: set[str]) -> set[str]:
    items = volume["secret"].get("items")
    if items:
        return {i["path"] for i in items if i.get("key") in keys}
    return keys


def _file_provided(path: str, mounts: list[Mapping[str, Any]], volumes: Mapping[str, Any],
                   secrets: Mapping[tuple, Mapping[str, Any]], namespace: str | None) -> bool | str:
    """True when a Secret volume puts a file at `path`; otherwise why not."""
    best = None
    for mount in mounts:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, mount)
    if best is None:
        return "no volume is mounted at its directory"
    prefix, mount = best
    volume = volumes.get(mount["name"], {})
    if "secret" not in volume:
        return f"mounted from volume {mount['name']}, which is not a Secret"
    secret = secrets.get((namespace, volume["secret"].get("secretName")))
    if secret is None:
        return f"Secret {volume['secret'].get('secretName')!r} is not created in {namespace}"
    relative = path[len(prefix):]
    if relative not in _volume_files(volume, _secret_keys(secret)):
        return f"Secret volume {mount['name']} at {mount['mountPath']} has no file {relative}"
    return True
