"""TemporalWorker: a Temporal worker Deployment, wired to the worker through the settings spec,
and the objects production needs around it.

Secrets are referenced by name, so they can come from the same program, from External Secrets or
from cert-manager; the component creates none. Its inputs are declared in `worker_args` and
checked in `worker_inputs`; those that are also settings (`temporal_worker_spec`) take their
defaults and checks from the spec.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from temporal_worker_k8s import pod, production
from temporal_worker_k8s.inputs import Checker
from temporal_worker_k8s.worker_args import (BuildVersion, SecretKeyRef, TemporalWorkerArgs,
                                             Toleration)
from temporal_worker_k8s.worker_inputs import Build, apply, checked_settings, pod_spec_of, tls_of

PACKAGE = "temporal-worker-k8s"
TYPE_TOKEN = f"{PACKAGE}:index:TemporalWorker"
# The token before the component became a package; existing stacks keep their resources.
LEGACY_TYPE_TOKEN = "temporal-worker:index:TemporalWorker"
# The args' types lived here before 2.1.0; programs that import them from here keep working.
__all__ = ["BUILD_ID_LABEL", "DEPLOYMENT_LABEL", "LEGACY_TYPE_TOKEN", "PACKAGE", "TYPE_TOKEN",
           "BuildVersion", "SecretKeyRef", "TemporalWorker", "TemporalWorkerArgs", "Toleration"]
BUILD_ID_LABEL = "temporal.io/build-id"
DEPLOYMENT_LABEL = "temporal.io/deployment-name"


class TemporalWorker(pulumi.ComponentResource):
    """A Temporal worker Deployment: restricted pod, real probes, mTLS or API key, SIGTERM drain, and what production needs around it: autoscaling, a disruption budget, spread, a NetworkPolicy and monitoring."""

    deployment_name: pulumi.Output[str]
    """Name of the (new build's) Deployment."""
    namespace: pulumi.Output[str]
    """Kubernetes namespace of the Deployment."""
    labels: pulumi.Output[dict[str, str]]
    """Labels of the Deployment and its pods."""
    service_account_name: pulumi.Output[str]
    """ServiceAccount the pods run as."""
    build_id: pulumi.Output[str]
    """Build ID of image under worker versioning; empty with the rolling strategy."""
    temporal_deployment_name: pulumi.Output[str]
    """Temporal Worker Deployment of the builds; empty with the rolling strategy."""

    def __init__(self, name: str, args: TemporalWorkerArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check = Checker(f"TemporalWorker {name}")
        settings = check.run(lambda: checked_settings(args, check))
        super().__init__(TYPE_TOKEN, name, None, pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=LEGACY_TYPE_TOKEN)]), opts))
        child = pulumi.ResourceOptions(parent=self)

        selector = pod.selector_labels(args.get("app_name", "temporal-worker"), name, "temporal")
        own = {**selector, "app.kubernetes.io/managed-by": "pulumi"}
        if args.get("version"):
            own["app.kubernetes.io/version"] = apply(args["version"], pod.label_value)
        labels = _merged(settings["labels"], own)

        own_annotations: dict[str, Any] = dict(pod.scrape_annotations())
        if args.get("restart_on"):
            # Keys the rollout checksum so that reading it reveals nothing about the Secrets.
            key = random.RandomBytes(f"{name}-rollout-key", length=32, opts=child)
            own_annotations[pod.CHECKSUM_ANNOTATION] = pod.rollout_checksum(args["restart_on"],
                                                                            key.base64)
        annotations = _merged(settings["annotations"], own_annotations)

        namespace = settings["namespace"]
        if args.get("create_namespace"):
            # Gives the worker a namespace of its own, holding every pod to the restricted
            # Pod Security Standard.
            created = k8s.core.v1.Namespace(f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace, labels=production.POD_SECURITY_LABELS), opts=child)
            namespace = created.metadata.name

        def metadata(object_name: pulumi.Input[str] = name) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace,
                                              labels=labels)

        account = args.get("service_account_name")
        if not account:
            # Gives the pods an identity of their own instead of the namespace's default one.
            account = k8s.core.v1.ServiceAccount(
                f"{name}-service-account", metadata=metadata(),
                automount_service_account_token=False, opts=child).metadata.name

        temporal_deployment = args.get("deployment_name") or pulumi.Output.concat(
            namespace, "/", name)
        deployments = [self._deployment(name, build, args, settings, selector, labels,
                                        annotations, account, temporal_deployment, namespace)
                       for build in settings["builds"]]
        self._production(name, settings, selector, metadata, deployments, temporal_deployment)

        first, new_build = deployments[0], settings["builds"][0]
        self.deployment_name = first.metadata.name
        self.namespace = first.metadata.namespace
        self.labels = pulumi.Output.from_input(labels)
        self.service_account_name = pulumi.Output.from_input(account)
        self.build_id = pulumi.Output.from_input(new_build.build_id or "")
        self.temporal_deployment_name = pulumi.Output.from_input(
            temporal_deployment if new_build.build_id else "")
        self.register_outputs({"deployment_name": self.deployment_name,
                               "namespace": self.namespace, "labels": self.labels,
                               "service_account_name": self.service_account_name,
                               "build_id": self.build_id,
                               "temporal_deployment_name": self.temporal_deployment_name})

    def _deployment(self, name: str, build: "Build", args: TemporalWorkerArgs,
                    settings: Mapping[str, Any], selector: Mapping[str, str],
                    labels: pulumi.Input[Mapping[str, Any]],
                    annotations: pulumi.Input[Mapping[str, Any]],
                    account: pulumi.Input[str], temporal_deployment: pulumi.Input[str],
                    namespace: pulumi.Input[str]) -> k8s.apps.v1.Deployment:
        """One build's Deployment: the only one with the rolling strategy, one per build when
        versioned (each polls as its version of the Temporal Worker Deployment)."""
        own_selector, own_labels, identity = dict(selector), labels, {}
        if build.build_id:
            own_selector[BUILD_ID_LABEL] = build.build_id
            own_labels = _merged(labels, {BUILD_ID_LABEL: build.build_id,
                                          DEPLOYMENT_LABEL: apply(temporal_deployment,
                                                                   pod.label_value)})
            identity = {"deploymentName": temporal_deployment, "buildId": build.build_id}
        autoscaled = settings["autoscaling"] != "off"
        reload = apply(settings["reloader"], lambda on: pod.reloader_annotations(
            settings["secretEnv"]) if on else None)
        # Runs and keeps one build's worker pods alive, rolling them on rotated secrets (and,
        # with the rolling strategy, on a new image). An autoscaler owns the count: a value
        # here would fight it on every update, unless it is a build's own count (its scale-down
        # to 0, or the wake-up of a rollback).
        return k8s.apps.v1.Deployment(
            f"{name}{build.suffix}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}{build.suffix}",
                                                namespace=namespace, labels=own_labels,
                                                annotations=reload),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=(build.replicas if build.own_count else None) if autoscaled
                else build.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=own_selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge="25%", max_unavailable="25%")),
                revision_history_limit=10,
                progress_deadline_seconds=600,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=own_labels,
                                                        annotations=annotations),
                    spec=pod_spec_of(args, {**settings, **identity, "image": build.image},
                                   selector, account)),
            ),
            opts=pulumi.ResourceOptions(parent=self))

    def _production(self, name: str, settings: Mapping[str, Any],
                    selector: Mapping[str, str], metadata,
                    deployments: Sequence[k8s.apps.v1.Deployment],
                    temporal_deployment: pulumi.Input[str]) -> None:
        """The objects around the Deployments that production needs, as the inputs ask. The
        budget, policy and monitor select every build's pods; each build gets its own
        autoscaler."""
        child = pulumi.ResourceOptions(parent=self)
        autoscaling = settings["autoscaling"]
        replicas = settings["replicas"]
        if settings["podDisruptionBudget"]:
            if autoscaling == "off" and isinstance(replicas, int) and replicas <= 1:
                pulumi.log.warn(
                    f"TemporalWorker {name}: no PodDisruptionBudget for {replicas} pod(s) "
                    "without autoscaling: it would keep nothing available and would block "
                    "node drains while the pod is unready; set replicas to 2 or more, or "
                    "podDisruptionBudget to false to silence this", resource=self)
            else:
                # Lets node drains and upgrades take down one worker pod at a time, not all.
                k8s.policy.v1.PodDisruptionBudget(
                    f"{name}-pdb", metadata=metadata(),
                    spec=production.disruption_budget(selector), opts=child)
        if settings["networkPolicy"]:
            def warn(given: list[Any]) -> None:
                secret_env, ports = given
                if secret_env and not ports:
                    pulumi.log.warn(
                        f"TemporalWorker {name}: secretEnv gives the worker credentials for "
                        "other services, but egressPorts is empty: the NetworkPolicy lets the "
                        "pods reach only DNS and Temporal; add those services' ports (443 for "
                        "HTTPS)", resource=self)

            apply([settings["secretEnv"], settings["egressPorts"]], warn)
            # Confines the pods to what they need: probes and scrapes in; DNS, Temporal and
            # the listed ports (HTTPS by default) out.
            k8s.networking.v1.NetworkPolicy(
                f"{name}-network-policy", metadata=metadata(),
                spec=production.network_policy(
                    selector, temporal_port=apply(settings["temporalAddress"],
                                                   production.temporal_port),
                    egress_ports=settings["egressPorts"],
                    metrics_namespaces=settings["metricsNamespaces"]), opts=child)
        if settings["podMonitor"]:
            # Lets a Prometheus Operator find the metrics port without annotations.
            k8s.apiextensions.CustomResource(
                f"{name}-pod-monitor", api_version=production.PROMETHEUS_API, kind="PodMonitor",
                metadata=metadata(), spec=production.pod_monitor(selector), opts=child)
        if settings["prometheusRule"]:
            # Pages on-call about this worker's task queue: Temporal's first five worker alerts
            # and the worker's own.
            k8s.apiextensions.CustomResource(
                f"{name}-prometheus-rule", api_version=production.PROMETHEUS_API,
                kind="PrometheusRule", metadata=metadata(),
                spec=production.prometheus_rule(settings["taskQueue"]), opts=child)
        if settings["grafanaDashboard"]:
            # Hands Grafana's sidecar the worker's dashboard, so nobody copies JSON by hand.
            dashboard_metadata = metadata(f"{name}-dashboard")
            dashboard_metadata.labels = {**dashboard_metadata.labels,
                                         production.GRAFANA_DASHBOARD_LABEL: "1"}
            k8s.core.v1.ConfigMap(f"{name}-grafana-dashboard", metadata=dashboard_metadata,
                                  data=production.dashboard_data(), opts=child)
        for build, deployment in zip(settings["builds"], deployments):
            target = deployment.metadata.name
            if autoscaling == "hpa" and build.scaled_down:
                # No HPA while a drained build sits at 0 pods: with the Deployment at 0 the
                # HPA would be disabled anyway, and it cannot be paused.
                continue
            if autoscaling == "hpa":
                # Scales the worker on CPU where KEDA is not installed.
                k8s.autoscaling.v2.HorizontalPodAutoscaler(
                    f"{name}{build.suffix}-hpa", metadata=metadata(target),
                    spec=production.hpa(target, minimum=settings["minReplicas"],
                                        maximum=settings["maxReplicas"],
                                        cpu_percent=settings["targetCpuUtilization"]),
                    opts=child)
            elif autoscaling == "keda":
                self._keda(name, build, settings, metadata, target, temporal_deployment)

    def _keda(self, name: str, build: "Build", settings: Mapping[str, Any], metadata,
              deployment: pulumi.Output[str], temporal_deployment: pulumi.Input[str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        auth = production.trigger_authentication(
            api_key=settings["apiKey"], tls_secret=settings["tlsSecret"],
            ca_secret=settings["serverCaSecret"])
        auth_name = None
        if auth is not None:
            # Hands KEDA the same credentials the worker uses, by Secret reference.
            auth_name = k8s.apiextensions.CustomResource(
                f"{name}{build.suffix}-trigger-auth", api_version=production.KEDA_API,
                kind="TriggerAuthentication", metadata=metadata(f"{name}{build.suffix}-temporal"),
                spec=auth, opts=child).metadata["name"]
        trigger = production.temporal_trigger(
            address=settings["temporalAddress"],
            namespace=settings["temporalNamespace"], task_queue=settings["taskQueue"],
            tls=tls_of(settings), tls_server_name=settings.get("tlsServerName"),
            target_queue_size=settings["targetQueueSize"],
            activation_target_queue_size=settings["activationTargetQueueSize"])
        if build.build_id:
            # Counts only this build's backlog, so each version scales on its own work.
            trigger.update(workerDeploymentName=temporal_deployment,
                           workerDeploymentBuildId=build.build_id)
        scaled_metadata = metadata(deployment)
        if build.scaled_down:
            # Paused at 0 pods while a drained build waits for deletion: KEDA would otherwise
            # scale it back up to minReplicas.
            scaled_metadata.annotations = {production.KEDA_PAUSED_REPLICAS: "0"}
        # Scales the worker on the Temporal task queue's backlog.
        k8s.apiextensions.CustomResource(
            f"{name}{build.suffix}-scaled-object", api_version=production.KEDA_API,
            kind="ScaledObject", metadata=scaled_metadata, spec=production.scaled_object(
                deployment, minimum=settings["minReplicas"], maximum=settings["maxReplicas"],
                authentication=auth_name, trigger=trigger),
            opts=child)


def _merged(given: pulumi.Input[Mapping[str, Any]] | None,
            own: Mapping[str, Any]) -> pulumi.Input[Mapping[str, Any]]:
    """`given` with the component's own entries over it (a dict, or an Output of one)."""
    if given is None or not isinstance(given, pulumi.Output):
        return {**(given or {}), **own}
    return pulumi.Output.all(given, pulumi.Output.from_input(own)).apply(
        lambda both: {**both[0], **both[1]})
