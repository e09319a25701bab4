"""TemporalWorker: one Temporal worker Deployment, wired to the worker through `worker.contract`.

The component references Secrets by name, so the Secrets can come from this stack, from External
Secrets or from cert-manager. It creates no Secret itself.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from worker import contract

TYPE_TOKEN = "temporal-worker:index:TemporalWorker"
CHECKSUM_ANNOTATION = "checksum/secrets"
HEALTH_PORT_NAME = "health"
METRICS_PORT_NAME = "metrics"
TLS_VOLUME = "temporal-tls"
SERVER_CA_VOLUME = "temporal-server-ca"
TMP_VOLUME = "tmp"
PROBE_MODES = ("http", "exec")


@dataclass(frozen=True)
class SecretKeyRef:
    """One key of a Kubernetes Secret in the worker's namespace."""

    name: pulumi.Input[str]
    """Name of the Secret."""
    key: str
    """Key inside the Secret's data."""


@dataclass(frozen=True)
class TemporalWorkerArgs:
    """Everything a TemporalWorker Deployment needs; secrets are passed by Secret name only."""

    image: pulumi.Input[str]
    """Container image, pinned by digest (`repo@sha256:...`) so only a new build rolls the pods."""
    namespace: pulumi.Input[str] = "temporal-worker"
    """Kubernetes namespace of the Deployment."""
    temporal_address: pulumi.Input[str] = "localhost:7233"
    """Temporal frontend as host:port."""
    temporal_namespace: pulumi.Input[str] = contract.DEFAULT_NAMESPACE
    """Temporal namespace the worker polls."""
    task_queue: pulumi.Input[str] = contract.DEFAULT_TASK_QUEUE
    """Task queue the worker polls."""
    tls_secret_name: Optional[pulumi.Input[str]] = None
    """`kubernetes.io/tls` Secret with the client cert and key (mTLS); None for no client cert."""
    server_ca_secret_name: Optional[pulumi.Input[str]] = None
    """Secret holding a private server CA under key `ca.crt`; None to trust the system roots."""
    tls_server_name: Optional[pulumi.Input[str]] = None
    """TLS server name (SNI) override; None to use the address host."""
    tls: Optional[bool] = None
    """Force TLS on or off; None turns it on when a client cert, server CA or API key is given."""
    api_key: Optional[SecretKeyRef] = None
    """Secret key with the Temporal Cloud API key, exposed as TEMPORAL_API_KEY."""
    secret_env: Mapping[str, SecretKeyRef] = field(default_factory=dict)
    """More env vars read from Secrets (NAME -> Secret key), e.g. CHATGPT_API_KEY."""
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Plain, non-secret env vars for the workload (e.g. CHATGPT_BASE_URL)."""
    replicas: int = 3
    """Number of worker pods."""
    cpu_request: str = "100m"
    """CPU request."""
    memory_request: str = "100Mi"
    """Memory request."""
    cpu_limit: str = "500m"
    """CPU limit."""
    memory_limit: str = "500Mi"
    """Memory limit."""
    graceful_shutdown_seconds: int = contract.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS
    """Time in-flight activities get after SIGTERM; the pod's grace period adds a margin."""
    probe_mode: str = "http"
    """`http` probes the worker's health server; `exec` checks the heartbeat file's freshness."""
    log_format: str = contract.DEFAULT_LOG_FORMAT
    """Worker log format: plain or json."""
    version: str = ""
    """Value of the app.kubernetes.io/version label (e.g. the image tag); empty leaves it out."""
    app_name: str = "temporal-worker"
    """Value of the app.kubernetes.io/name label."""
    part_of: str = "temporal"
    """Value of the app.kubernetes.io/part-of label."""
    checksum_inputs: Sequence[pulumi.Input[str]] = ()
    """Contents of the referenced Secrets; only their sha256 is stored, so rotation rolls pods."""


class TemporalWorker(pulumi.ComponentResource):
    """A Deployment running the Temporal worker with probes, mTLS files and a restricted pod."""

    deployment_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    labels: pulumi.Output[Mapping[str, str]]

    def __init__(self, name: str, args: TemporalWorkerArgs,
                 opts: Optional[pulumi.ResourceOptions] = None):
        _validate(args)
        super().__init__(TYPE_TOKEN, name, None, opts)

        selector = {
            "app.kubernetes.io/name": args.app_name,
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "worker",
            "app.kubernetes.io/part-of": args.part_of,
        }
        # The selector is immutable, so the changing version label is only on objects and pods.
        labels = {**selector, "app.kubernetes.io/managed-by": "pulumi"}
        if args.version:
            labels["app.kubernetes.io/version"] = _label_value(args.version)

        # Runs and keeps the worker pods alive, rolling them on a new image or rotated secrets.
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=args.namespace,
                                                labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge="25%", max_unavailable="25%"),
                ),
                revision_history_limit=10,
                progress_deadline_seconds=600,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels,
                                                        annotations=_annotations(args)),
                    spec=_pod_spec(args),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.deployment_name = deployment.metadata.name
        self.namespace = deployment.metadata.namespace
        self.labels = pulumi.Output.from_input(labels)
        self.register_outputs({
            "deployment_name": self.deployment_name,
            "namespace": self.namespace,
            "labels": self.labels,
        })


def _validate(args: TemporalWorkerArgs) -> None:
    if args.probe_mode not in PROBE_MODES:
        raise ValueError(f"probe_mode: must be one of {', '.join(PROBE_MODES)}, "
                         f"got {args.probe_mode!r}")
    if args.log_format not in contract.LOG_FORMATS:
        raise ValueError(f"log_format: must be one of {', '.join(contract.LOG_FORMATS)}")
    if args.replicas < 0:
        raise ValueError(f"replicas: must be 0 or more, got {args.replicas}")
    if args.graceful_shutdown_seconds < 1:
        raise ValueError("graceful_shutdown_seconds: must be 1 or more")
    clash = set(args.secret_env) & set(args.env)
    if clash:
        raise ValueError(f"env: {', '.join(sorted(clash))} also in secret_env")


def _label_value(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", value)[:63]
    return cleaned.strip("-._") or "unknown"


def _annotations(args: TemporalWorkerArgs) -> dict[str, pulumi.Input[str]]:
    annotations: dict[str, pulumi.Input[str]] = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(contract.METRICS_PORT),
        "prometheus.io/path": contract.METRICS_PATH,
    }
    if args.checksum_inputs:
        annotations[CHECKSUM_ANNOTATION] = secrets_checksum(args.checksum_inputs)
    return annotations


def secrets_checksum(contents: Sequence[pulumi.Input[str]]) -> pulumi.Output[str]:
    """sha256 over all contents together, as a non-secret Output.

    The digest of high-entropy material (keys, certs, API keys) does not reveal it, so it is safe
    to store in plain text; leaving it secret would make the whole Deployment spec secret.
    """
    digest = pulumi.Output.all(*contents).apply(
        lambda values: hashlib.sha256(json.dumps(list(values)).encode()).hexdigest())
    return pulumi.Output.unsecret(digest)


def _env(args: TemporalWorkerArgs) -> list[k8s.core.v1.EnvVarArgs]:
    tls = args.tls
    if tls is None:
        tls = bool(args.tls_secret_name or args.server_ca_secret_name or args.api_key)
    plain: dict[str, pulumi.Input[str]] = {
        contract.ENV_ADDRESS: args.temporal_address,
        contract.ENV_NAMESPACE: args.temporal_namespace,
        contract.ENV_TASK_QUEUE: args.task_queue,
        contract.ENV_TLS: "true" if tls else "false",
    }
    if args.tls_secret_name:
        plain[contract.ENV_TLS_CLIENT_CERT_PATH] = contract.TLS_CERT_PATH
        plain[contract.ENV_TLS_CLIENT_KEY_PATH] = contract.TLS_KEY_PATH
    if args.server_ca_secret_name:
        plain[contract.ENV_TLS_SERVER_CA_CERT_PATH] = contract.SERVER_CA_PATH
    if args.tls_server_name:
        plain[contract.ENV_TLS_SERVER_NAME] = args.tls_server_name
    plain.update({
        contract.ENV_GRACEFUL_SHUTDOWN_SECONDS: str(args.graceful_shutdown_seconds),
        contract.ENV_HEALTH_PORT: str(contract.HEALTH_PORT),
        contract.ENV_METRICS_PORT: str(contract.METRICS_PORT),
        contract.ENV_LOG_FORMAT: args.log_format,
        contract.ENV_HEARTBEAT_FILE: contract.DEFAULT_HEARTBEAT_FILE,
        contract.ENV_LIVENESS_FILE: contract.DEFAULT_LIVENESS_FILE,
    })
    plain.update(args.env)
    from_secrets = dict(args.secret_env)
    if args.api_key:
        from_secrets[contract.ENV_API_KEY] = args.api_key
    env = [k8s.core.v1.EnvVarArgs(name=n, value=v) for n, v in plain.items()]
    env += [
        k8s.core.v1.EnvVarArgs(name=n, value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=ref.name, key=ref.key)))
        for n, ref in sorted(from_secrets.items())
    ]
    return env


def _probes(args: TemporalWorkerArgs) -> dict[str, k8s.core.v1.ProbeArgs]:
    if args.probe_mode == "exec":
        # Readiness follows Temporal (the file is removed when not ready); liveness only follows
        # the event loop, so a Temporal outage makes pods unready but never restarts them.
        ready = k8s.core.v1.ExecActionArgs(command=contract.heartbeat_probe_command())
        alive = k8s.core.v1.ExecActionArgs(command=contract.heartbeat_probe_command(
            contract.DEFAULT_LIVENESS_FILE, contract.LIVENESS_MAX_AGE_SECONDS))
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


def _pod_spec(args: TemporalWorkerArgs) -> k8s.core.v1.PodSpecArgs:
    volumes = [k8s.core.v1.VolumeArgs(
        name=TMP_VOLUME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi"))]
    mounts = [k8s.core.v1.VolumeMountArgs(name=TMP_VOLUME, mount_path=contract.WRITABLE_DIR)]
    if args.tls_secret_name:
        volumes.append(k8s.core.v1.VolumeArgs(
            name=TLS_VOLUME, secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=args.tls_secret_name, default_mode=0o440)))
        mounts.append(k8s.core.v1.VolumeMountArgs(
            name=TLS_VOLUME, mount_path=contract.TLS_MOUNT_DIR, read_only=True))
    if args.server_ca_secret_name:
        volumes.append(k8s.core.v1.VolumeArgs(
            name=SERVER_CA_VOLUME, secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=args.server_ca_secret_name, default_mode=0o440,
                items=[k8s.core.v1.KeyToPathArgs(key=contract.SERVER_CA_KEY,
                                                 path=contract.SERVER_CA_KEY)])))
        mounts.append(k8s.core.v1.VolumeMountArgs(
            name=SERVER_CA_VOLUME, mount_path=contract.SERVER_CA_MOUNT_DIR, read_only=True))

    probes = _probes(args)
    container = k8s.core.v1.ContainerArgs(
        name="worker",
        image=args.image,
        image_pull_policy="IfNotPresent",
        command=list(contract.ENTRYPOINT),
        env=_env(args),
        ports=[
            k8s.core.v1.ContainerPortArgs(name=HEALTH_PORT_NAME,
                                          container_port=contract.HEALTH_PORT),
            k8s.core.v1.ContainerPortArgs(name=METRICS_PORT_NAME,
                                          container_port=contract.METRICS_PORT),
        ],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": args.cpu_request, "memory": args.memory_request},
            limits={"cpu": args.cpu_limit, "memory": args.memory_limit},
        ),
        startup_probe=probes["startup"],
        liveness_probe=probes["liveness"],
        readiness_probe=probes["readiness"],
        volume_mounts=mounts,
        security_context=container_security_context(),
    )
    return k8s.core.v1.PodSpecArgs(
        containers=[container],
        volumes=volumes,
        automount_service_account_token=False,
        enable_service_links=False,
        termination_grace_period_seconds=contract.termination_grace_period_seconds(
            args.graceful_shutdown_seconds),
        security_context=pod_security_context(),
    )


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
