"""Small, exported builders for the worker's pod: labels, env, volumes, probes, security.

TemporalWorker composes them; teams that build their own Deployment can call them directly.
Everything that crosses to the worker process comes from `temporal_worker_spec`.
"""

import base64
import hashlib
import hmac
import inspect
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract

# PodSpec fields the component always sets, and those it has an input of its own for.
COMPONENT_POD_FIELDS = frozenset({"containers", "volumes", "automount_service_account_token",
                                  "enable_service_links", "termination_grace_period_seconds",
                                  "security_context", "service_account_name"})
DEDICATED_POD_FIELDS = ("node_selector", "tolerations", "affinity", "priority_class_name",
                        "service_account_name")
HEALTH_PORT_NAME = "health"
CHECKSUM_ANNOTATION = "checksum/secrets"
METRICS_PORT_NAME = "metrics"
TLS_VOLUME = "temporal-tls"
SERVER_CA_VOLUME = "temporal-server-ca"
API_KEY_VOLUME = "temporal-api-key"
RELOADER_ANNOTATION = "secret.reloader.stakater.com/reload"
"""Stakater Reloader rolls a Deployment's pods when one of the Secrets named here changes."""
TMP_VOLUME = "tmp"

# Variables the component always derives itself: callers cannot set them through `env`.
COMPONENT_ENV = frozenset({
    spec.TLS_CERT.env, spec.TLS_KEY.env, spec.TLS_SERVER_CA.env, spec.TEMPORAL_API_KEY_FILE.env,
    spec.HEALTH_PORT.env,
    spec.METRICS_PORT.env, spec.HEARTBEAT_FILE.env, spec.LIVENESS_FILE.env, spec.TLS.env,
    spec.DEPLOYMENT_NAME.env, spec.BUILD_ID.env,
    *(alias for s in spec.SETTINGS for alias in s.aliases),
    *(s.env for s in spec.SETTINGS if s.arg and s.env),
})


def selector_labels(app_name: str, instance: str, part_of: str) -> dict[str, str]:
    """The immutable labels a Deployment selects its pods by."""
    return {
        "app.kubernetes.io/name": app_name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": "worker",
        "app.kubernetes.io/part-of": part_of,
    }


def label_value(value: str) -> str:
    """`value` made a valid label value (at most 63 of [A-Za-z0-9._-], alphanumeric ends)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", value)[:63]
    return cleaned.strip("-._") or "unknown"


def worker_env(settings: Mapping[str, pulumi.Input[Any]], *, tls: pulumi.Input[bool],
               tls_secret: bool, server_ca_secret: bool,
               extra: pulumi.Input[Mapping[str, pulumi.Input[str]]],
               secret_refs: pulumi.Input[Mapping[str, Mapping[str, pulumi.Input[str]]]],
               api_key_file: bool = False) -> pulumi.Input[list[k8s.core.v1.EnvVarArgs]]:
    """The container's env: spec settings (name -> value), the contract's paths and ports,
    `extra` plain variables, then `secret_refs` (variable -> {name, key}) as secretKeyRefs.
    `api_key_file`: the API key is mounted (see `volumes`), so the worker rereads it.
    An Output when `extra` or `secret_refs` is one (their names are known only then)."""
    plain: dict[str, pulumi.Input[str]] = {}
    for s in spec.SETTINGS:
        value = settings.get(s.name)
        if s.env and not s.secret and value is not None:  # secrets arrive as secret_refs
            plain[s.env] = pulumi.Output.from_input(value).apply(s.kind.text) \
                if isinstance(value, pulumi.Output) else s.kind.text(value)
    plain[spec.TLS.env] = pulumi.Output.from_input(tls).apply(spec.TLS.kind.text)
    if tls_secret:
        plain[spec.TLS_CERT.env] = contract.TLS_CERT_PATH
        plain[spec.TLS_KEY.env] = contract.TLS_KEY_PATH
    if server_ca_secret:
        plain[spec.TLS_SERVER_CA.env] = contract.SERVER_CA_PATH
    if api_key_file:
        plain[spec.TEMPORAL_API_KEY_FILE.env] = contract.API_KEY_PATH
    plain[spec.HEALTH_PORT.env] = str(contract.HEALTH_PORT)
    plain[spec.METRICS_PORT.env] = str(contract.METRICS_PORT)
    plain[spec.HEARTBEAT_FILE.env] = contract.HEARTBEAT_FILE
    plain[spec.LIVENESS_FILE.env] = contract.LIVENESS_FILE

    def build(extra: Mapping[str, Any], refs: Mapping[str, Mapping[str, Any]]
              ) -> list[k8s.core.v1.EnvVarArgs]:
        values = {**plain, **extra}
        env = [k8s.core.v1.EnvVarArgs(name=n, value=v) for n, v in values.items()]
        env += [k8s.core.v1.EnvVarArgs(name=n, value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=ref["name"],
                                                                     key=ref["key"])))
                for n, ref in sorted(refs.items())]
        return env

    if isinstance(extra, pulumi.Output) or isinstance(secret_refs, pulumi.Output):
        return pulumi.Output.all(pulumi.Output.from_input(extra),
                                 pulumi.Output.from_input(secret_refs)).apply(
            lambda both: build(both[0], both[1]))
    return build(extra, secret_refs)


def volumes(tls_secret_name: Optional[pulumi.Input[str]],
            server_ca_secret_name: Optional[pulumi.Input[str]],
            api_key: Optional[pulumi.Input[Mapping[str, pulumi.Input[str]]]] = None
            ) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
    """A writable /tmp under the read-only root, and the TLS Secrets and the API key's Secret
    key ({name, key}) as read-only files. Kubelet updates mounted Secrets in place (no
    `subPath`, which would freeze them), and the worker rereads them."""
    vols = [k8s.core.v1.VolumeArgs(
        name=TMP_VOLUME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi"))]
    mounts = [k8s.core.v1.VolumeMountArgs(name=TMP_VOLUME, mount_path=contract.WRITABLE_DIR)]
    if tls_secret_name:
        vols.append(k8s.core.v1.VolumeArgs(
            name=TLS_VOLUME, secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=tls_secret_name, default_mode=0o440)))
        mounts.append(k8s.core.v1.VolumeMountArgs(name=TLS_VOLUME,
                                                  mount_path=contract.TLS_MOUNT_DIR,
                                                  read_only=True))
    if server_ca_secret_name:
        vols.append(k8s.core.v1.VolumeArgs(
            name=SERVER_CA_VOLUME, secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=server_ca_secret_name, default_mode=0o440,
                items=[k8s.core.v1.KeyToPathArgs(key=contract.SERVER_CA_KEY,
                                                 path=contract.SERVER_CA_KEY)])))
        mounts.append(k8s.core.v1.VolumeMountArgs(name=SERVER_CA_VOLUME,
                                                  mount_path=contract.SERVER_CA_MOUNT_DIR,
                                                  read_only=True))
    if api_key is not None:
        ref = pulumi.Output.from_input(api_key) if isinstance(api_key, pulumi.Output) else api_key
        vols.append(k8s.core.v1.VolumeArgs(
            name=API_KEY_VOLUME, secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=ref["name"], default_mode=0o440,
                items=[k8s.core.v1.KeyToPathArgs(key=ref["key"], path=contract.API_KEY_FILE)])))
        mounts.append(k8s.core.v1.VolumeMountArgs(name=API_KEY_VOLUME,
                                                  mount_path=contract.API_KEY_MOUNT_DIR,
                                                  read_only=True))
    return vols, mounts


def reloader_annotations(secret_refs: pulumi.Input[Mapping[str, pulumi.Input[Mapping[str, Any]]]]
                         ) -> pulumi.Input[Optional[dict[str, str]]]:
    """Deployment annotations for Stakater Reloader naming the Secrets read as env
    (`secret_refs`: variable -> {name, key}, each maybe an Output); None when there are none.

    Env cannot change inside a running pod, so only a new pod sees a rotated value; mounted
    Secrets (certificates, the API key) are left out because the worker rereads them without
    a restart."""
    def of(refs: Mapping[str, Any]) -> Optional[pulumi.Output[dict[str, str]]]:
        names = [ref["name"] for ref in refs.values()]
        if not names:
            return None
        return pulumi.Output.all(*names).apply(
            lambda values: {RELOADER_ANNOTATION: ",".join(sorted(set(values)))})

    if isinstance(secret_refs, pulumi.Output):
        return secret_refs.apply(of)
    return of(secret_refs)


def probes(probe_mode: str) -> dict[str, k8s.core.v1.ProbeArgs]:
    """Startup, liveness and readiness probes: over HTTP, or heartbeat files for `exec`."""
    if probe_mode == "exec":
        # Readiness follows Temporal (the file is removed when not ready); liveness only follows
        # the event loop, so a Temporal outage makes pods unready but never restarts them.
        ready = k8s.core.v1.ExecActionArgs(command=contract.heartbeat_probe_command())
        alive = k8s.core.v1.ExecActionArgs(command=contract.heartbeat_probe_command(
            contract.LIVENESS_FILE, contract.LIVENESS_MAX_AGE_SECONDS))
        handlers = {"startup": {"exec_": alive}, "liveness": {"exec_": alive},
                    "readiness": {"exec_": ready}}
    else:
        def get(path: str) -> k8s.core.v1.HTTPGetActionArgs:
            return k8s.core.v1.HTTPGetActionArgs(path=path, port=HEALTH_PORT_NAME)
        handlers = {"startup": {"http_get": get(contract.LIVENESS_PATH)},
                    "liveness": {"http_get": get(contract.LIVENESS_PATH)},
                    "readiness": {"http_get": get(contract.READINESS_PATH)}}
    return {
        # Up to 2 minutes to import, connect and start polling before liveness takes over.
        "startup": k8s.core.v1.ProbeArgs(**handlers["startup"], period_seconds=2,
                                         timeout_seconds=2, failure_threshold=60),
        "liveness": k8s.core.v1.ProbeArgs(**handlers["liveness"], period_seconds=10,
                                          timeout_seconds=2, failure_threshold=3),
        "readiness": k8s.core.v1.ProbeArgs(**handlers["readiness"], period_seconds=5,
                                           timeout_seconds=2, failure_threshold=2,
                                           success_threshold=1),
    }


def scrape_annotations() -> dict[str, str]:
    """Where Prometheus (without the Operator) finds the worker's metrics."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(contract.METRICS_PORT),
            "prometheus.io/path": contract.METRICS_PATH}


def pod_security_context() -> k8s.core.v1.PodSecurityContextArgs:
    """The restricted Pod Security Standard at pod level, as the worker image's user."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=contract.RUN_AS_UID,
        run_as_group=contract.RUN_AS_GID,
        fs_group=contract.RUN_AS_GID,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context() -> k8s.core.v1.SecurityContextArgs:
    """The restricted Pod Security Standard at container level, read-only root filesystem."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=contract.RUN_AS_UID,
        run_as_group=contract.RUN_AS_GID,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def rollout_checksum(contents: pulumi.Input[Sequence[pulumi.Input[str]]],
                     key: pulumi.Input[str]) -> pulumi.Output[str]:
    """HMAC-SHA256 of all contents together under `key` (base64), as a non-secret Output.

    Anyone allowed to read Deployments can read the annotation. A plain hash of a guessable
    value (a 4-digit PIN in a Secret) is reversed by trying every candidate; keyed with a random
    key kept secret in the stack's state, it reveals nothing, and any change still changes it.
    Leaving it secret instead would make the whole Deployment spec secret.
    """
    digest = pulumi.Output.all(key, pulumi.Output.from_input(contents)).apply(
        lambda values: hmac.new(base64.b64decode(values[0]),
                                json.dumps(list(values[1])).encode(),
                                hashlib.sha256).hexdigest())
    return pulumi.Output.unsecret(digest)


def pod_spec_fields(extra: Mapping[str, Any], taken: frozenset[str] = frozenset()
                    ) -> dict[str, Any]:
    """`extra` PodSpec fields (API names, camelCase) as PodSpecArgs keywords; ValueError for a
    field PodSpec does not have, or one the component sets (always, or `taken` this time) or
    has a dedicated input for."""
    known = set(inspect.signature(k8s.core.v1.PodSpecArgs).parameters)
    fields = {}
    for api_name, value in extra.items():
        python_name = re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m[1].lower(), api_name)
        if python_name not in known:
            raise ValueError(f"podSpec: {api_name!r} is not a PodSpec field")
        if python_name in COMPONENT_POD_FIELDS | taken or python_name in DEDICATED_POD_FIELDS:
            raise ValueError(f"podSpec: {api_name} is set by the component or by its own "
                             "input")
        fields[python_name] = value
    return fields
