"""TemporalDevServer: an in-cluster `temporal server start-dev` for dev stacks (no account, no TLS).

State lives in memory: a restart loses workflow history. Never use it for production.
"""

from typing import NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s

import temporal_worker_spec as spec
from temporal_worker_k8s.pod import container_security_context, pod_security_context
from temporal_worker_spec import contract

TYPE_TOKEN = "temporal-worker-k8s:index:TemporalDevServer"
LEGACY_TYPE_TOKEN = "temporal-worker:index:TemporalDevServer"
FRONTEND_PORT = 7233
UI_PORT = 8233
# Enough for a dev server holding a few thousand workflows in memory.
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"},
             "limits": {"cpu": "1", "memory": "512Mi"}}


class TemporalDevServerArgs(TypedDict):
    """Inputs of TemporalDevServer."""

    namespace: pulumi.Input[str]
    """Kubernetes namespace of the Deployment and Service (it must exist)."""
    image: NotRequired[str]
    """The Temporal CLI image (its entrypoint is `temporal`), pinned to a release. Default: `temporalio/temporal:1.9.1`."""
    temporal_namespace: NotRequired[str]
    """Temporal namespace the server creates at start, so workers can poll it at once. Default: `default`."""


class TemporalDevServer(pulumi.ComponentResource):
    """One dev-server pod behind a ClusterIP Service; `address` is what workers dial."""

    address: pulumi.Output[str]
    """host:port workers dial (the Service's cluster DNS name)."""
    service_name: pulumi.Output[str]
    """Name of the Service."""
    deployment_name: pulumi.Output[str]
    """Name of the Deployment."""

    def __init__(self, name: str, args: TemporalDevServerArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        try:
            image = spec.parse(spec.BY_NAME["devServerImage"], args.get("image"))
            temporal_namespace = spec.parse(spec.BY_NAME["temporalNamespace"],
                                            args.get("temporal_namespace"))
        except spec.Invalid as err:
            raise ValueError(f"TemporalDevServer {name}: {err.message(str)}") from None
        super().__init__(TYPE_TOKEN, name, None, pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=LEGACY_TYPE_TOKEN)]), opts))
        labels = {
            "app.kubernetes.io/name": "temporal-dev-server",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "temporal-server",
            "app.kubernetes.io/part-of": "temporal",
        }
        frontend = k8s.core.v1.TCPSocketActionArgs(port="grpc")

        # Gives dev stacks a Temporal server without an account, certificates or API keys.
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name, namespace=args["namespace"],
                labels={**labels, "app.kubernetes.io/managed-by": "pulumi"}),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                # In-memory state: two servers at once would split the history.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                revision_history_limit=10,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=pod_security_context(),
                        containers=[k8s.core.v1.ContainerArgs(
                            name="temporal",
                            image=image,
                            args=_server_args(temporal_namespace),
                            ports=[
                                k8s.core.v1.ContainerPortArgs(name="grpc",
                                                              container_port=FRONTEND_PORT),
                                k8s.core.v1.ContainerPortArgs(name="ui", container_port=UI_PORT),
                            ],
                            env=[k8s.core.v1.EnvVarArgs(name="HOME",
                                                        value=contract.WRITABLE_DIR)],
                            resources=k8s.core.v1.ResourceRequirementsArgs(**RESOURCES),
                            startup_probe=k8s.core.v1.ProbeArgs(
                                tcp_socket=frontend, period_seconds=2, failure_threshold=30),
                            readiness_probe=k8s.core.v1.ProbeArgs(
                                tcp_socket=frontend, period_seconds=5),
                            liveness_probe=k8s.core.v1.ProbeArgs(
                                tcp_socket=frontend, period_seconds=10, failure_threshold=6),
                            security_context=container_security_context(),
                            volume_mounts=[k8s.core.v1.VolumeMountArgs(
                                name="tmp", mount_path=contract.WRITABLE_DIR)],
                        )],
                        volumes=[k8s.core.v1.VolumeArgs(
                            name="tmp",
                            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi"))],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        # Gives workers a stable DNS name for the server, whichever pod runs it.
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=args["namespace"],
                                                labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=labels,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="grpc", port=FRONTEND_PORT,
                                                target_port="grpc"),
                    k8s.core.v1.ServicePortArgs(name="ui", port=UI_PORT, target_port="ui"),
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
        )

        self.deployment_name = deployment.metadata.name
        self.service_name = service.metadata.name
        self.address = pulumi.Output.format("{0}.{1}.svc.cluster.local:{2}",
                                            service.metadata.name, service.metadata.namespace,
                                            FRONTEND_PORT)
        self.register_outputs({
            "address": self.address,
            "service_name": self.service_name,
            "deployment_name": self.deployment_name,
        })


def _server_args(temporal_namespace: str) -> list[str]:
    args = ["server", "start-dev", "--ip", "0.0.0.0", "--port", str(FRONTEND_PORT),
            "--ui-port", str(UI_PORT)]
    # start-dev always creates `default`; any other namespace must be asked for.
    if temporal_namespace != spec.BY_NAME["temporalNamespace"].default:
        args += ["--namespace", temporal_namespace]
    return args
