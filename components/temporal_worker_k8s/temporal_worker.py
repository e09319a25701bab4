"""TemporalWorker: a Temporal worker Deployment, wired to the worker through the settings spec.

Secrets are referenced by name, so they can come from the same program, from External Secrets or
from cert-manager; the component creates none. Inputs that are also settings
(`temporal_worker_spec`) take their defaults and checks from the spec.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

import temporal_worker_spec as spec
from temporal_worker_k8s import pod, production
from temporal_worker_k8s.enums import (Autoscaling, DefaultVersioningBehavior, LogFormat,
                                      LogLevel, PollerBehavior, ProbeMode, Rollout, SlotTuner,
                                      TolerationEffect, TolerationOperator)
from temporal_worker_k8s.inputs import (Checker, known, reference, refuse_unknown_keys,
                                       schema_name)
from temporal_worker_spec import values as spec_values
from temporal_worker_spec import contract
from temporal_worker_spec.settings import KEDA_API_KEY_PRIVATE_CA

PACKAGE = "temporal-worker-k8s"
TYPE_TOKEN = f"{PACKAGE}:index:TemporalWorker"
# The token before the component became a package; existing stacks keep their resources.
LEGACY_TYPE_TOKEN = "temporal-worker:index:TemporalWorker"
BUILD_ID_LABEL = "temporal.io/build-id"
DEPLOYMENT_LABEL = "temporal.io/deployment-name"
BUILD_ID_KIND = spec_values.build_id()


class SecretKeyRef(TypedDict):
    """One key of a Kubernetes Secret in the worker's namespace: the Secret by name or as the
    resource itself (one of the two), and the key."""

    name: NotRequired[pulumi.Input[str]]
    """Name of the Secret."""
    secret: NotRequired[k8s.core.v1.Secret]
    """The Secret resource itself, instead of its name."""
    key: pulumi.Input[str]
    """Key in the Secret's data."""


class Toleration(TypedDict):
    """A pod toleration, as in the Kubernetes API."""

    key: NotRequired[pulumi.Input[str]]
    """Taint key the toleration matches; empty with operator Exists matches every taint."""
    operator: NotRequired[pulumi.Input[TolerationOperator]]
    """Exists or Equal (the default)."""
    value: NotRequired[pulumi.Input[str]]
    """Taint value to match with operator Equal."""
    effect: NotRequired[pulumi.Input[TolerationEffect]]
    """NoSchedule, PreferNoSchedule or NoExecute; empty matches all effects."""
    toleration_seconds: NotRequired[pulumi.Input[int]]
    """How long a NoExecute taint is tolerated before eviction."""


class BuildVersion(TypedDict):
    """An older build that keeps running beside the new one during a versioned rollout."""

    build_id: str
    """Its build ID, as Temporal knows it (label-safe, at most 63 characters)."""
    image: pulumi.Input[str]
    """Its image, pinned by digest."""
    replicas: NotRequired[pulumi.Input[int]]
    """Its pod count; 0 keeps the Deployment without pods (a drained build waiting for deletion; under autoscaling its autoscaler is removed, or paused at 0 with KEDA). Under autoscaling a count here is set once, to wake a build scaled to zero. Default: the replicas input, or the autoscaler's count."""


class TemporalWorkerArgs(TypedDict):
    """Inputs of TemporalWorker. Settings-spec inputs default to the spec's values.

    Every input takes an Output (`pulumi.Input`) except those that decide which Kubernetes
    objects exist (createNamespace, autoscaling, rollout, buildId, versions, podDisruptionBudget,
    topologySpread, networkPolicy, podMonitor, appName): Pulumi must know those when the
    program runs; and podSpec, whose field names are checked then (its values may be Outputs).
    Values known when the program runs are checked before anything is registered; the others
    are checked, with the same messages, once they resolve.
    """

    image: pulumi.Input[str]
    """Container image, pinned by digest (repo@sha256:...) so only a new build rolls the pods; a tag is accepted with a warning."""
    namespace: NotRequired[pulumi.Input[str]]
    """Kubernetes namespace of the Deployment; it must exist unless createNamespace is true. Give it or namespaceResource."""
    namespace_resource: NotRequired[k8s.core.v1.Namespace]
    """The Namespace resource itself, instead of its name."""
    create_namespace: NotRequired[bool]
    """Create the namespace too. Default: false (use an existing one)."""
    temporal_address: pulumi.Input[str]
    """Temporal frontend as host:port, e.g. ns.acct.tmprl.cloud:7233."""
    temporal_namespace: NotRequired[pulumi.Input[str]]
    """Temporal namespace the worker polls. Default: `default`."""
    task_queue: NotRequired[pulumi.Input[str]]
    """Task queue the worker polls. Default: `temporal-worker`."""
    tls_server_name: NotRequired[pulumi.Input[str]]
    """TLS server name (SNI) to verify; unset uses the address's host."""
    tls: NotRequired[pulumi.Input[bool]]
    """Force TLS on or off; unset turns it on with a client cert, server CA or API key."""
    temporal_api_key: NotRequired[pulumi.Input[SecretKeyRef]]
    """Secret key holding the Temporal Cloud API key; mounted as a file the worker rereads when the Secret changes (TEMPORAL_API_KEY_FILE); turns TLS on."""
    tls_secret_name: NotRequired[pulumi.Input[str]]
    """kubernetes.io/tls Secret with the mTLS client cert and key, e.g. from cert-manager. Give it or tlsSecret."""
    tls_secret: NotRequired[k8s.core.v1.Secret]
    """The kubernetes.io/tls Secret resource itself, instead of its name."""
    server_ca_secret_name: NotRequired[pulumi.Input[str]]
    """Secret with a private server CA under key ca.crt; unset trusts the system roots. Give it or serverCaSecret."""
    server_ca_secret: NotRequired[k8s.core.v1.Secret]
    """The server CA Secret resource itself, instead of its name."""
    secret_env: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[SecretKeyRef]]]]
    """More env vars read from Secrets: variable name -> Secret key. Their API's port must be in egressPorts (443 is, by default). Env cannot change in a running pod: see reloader."""
    env: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Plain, non-secret env vars for your workflows and activities."""
    graceful_shutdown_seconds: NotRequired[pulumi.Input[int]]
    """Seconds in-flight activities get after SIGTERM; the pod's grace period adds 15. Default: `30`."""
    max_concurrent_activities: NotRequired[pulumi.Input[int]]
    """Activities one worker pod runs at once. Default: `100`."""
    max_concurrent_workflow_tasks: NotRequired[pulumi.Input[int]]
    """Workflow tasks one worker pod runs at once (at least 2: the SDK caches workflows). Default: `100`."""
    poller_behavior: NotRequired[pulumi.Input[PollerBehavior]]
    """How many polls the worker keeps open per task type (workflow, activity): autoscaling follows the server's feedback between minPollers and maxPollers (server 1.28+ and Temporal Cloud); fixed keeps up to maxPollers. Default: `autoscaling`."""
    min_pollers: NotRequired[pulumi.Input[int]]
    """autoscaling: fewest polls kept open per task type. Default: `1`."""
    initial_pollers: NotRequired[pulumi.Input[int]]
    """autoscaling: polls opened per task type at start, before the server's feedback. Default: `5`."""
    max_pollers: NotRequired[pulumi.Input[int]]
    """Most polls open at once per task type (with pollerBehavior fixed, the count kept open; at least 2: workflow tasks poll a sticky and a normal queue). Default: `100`."""
    slot_tuner: NotRequired[pulumi.Input[SlotTuner]]
    """fixed: up to maxConcurrentActivities and maxConcurrentWorkflowTasks tasks at once; resourceBased: as many as keep the container under tunerTargetMemory and tunerTargetCpu (those maxima still cap them; slot metrics then stop meaning much). Default: `fixed`."""
    tuner_target_memory: NotRequired[pulumi.Input[int]]
    """resourceBased: memory use to stay under, in percent of the container's limit (or the host's memory without one). Default: `80`."""
    tuner_target_cpu: NotRequired[pulumi.Input[int]]
    """resourceBased: CPU use to stay under, in percent of the container's limit (or the host's CPUs without one). Default: `90`."""
    log_format: NotRequired[pulumi.Input[LogFormat]]
    """Worker log format: one JSON object or one plain line per event. Default: `json`."""
    log_level: NotRequired[pulumi.Input[LogLevel]]
    """Worker log level. Default: `INFO`."""
    replicas: NotRequired[pulumi.Input[int]]
    """Number of worker pods. Default: `3`."""
    cpu_request: NotRequired[pulumi.Input[str]]
    """CPU request of the worker container. Default: `100m`."""
    memory_request: NotRequired[pulumi.Input[str]]
    """Memory request of the worker container. Default: `100Mi`."""
    cpu_limit: NotRequired[pulumi.Input[str]]
    """CPU limit of the worker container. Default: `500m`."""
    memory_limit: NotRequired[pulumi.Input[str]]
    """Memory limit of the worker container. Default: `500Mi`."""
    probe_mode: NotRequired[pulumi.Input[ProbeMode]]
    """http probes /healthz and /readyz; exec checks the heartbeat files' age. Default: `http`."""
    autoscaling: NotRequired[Autoscaling]
    """off, keda (scale on the task queue's backlog) or hpa (scale on CPU); with either, the Deployment leaves replicas to the autoscaler. Default: `off`."""
    min_replicas: NotRequired[pulumi.Input[int]]
    """Fewest pods when autoscaling; 0 (KEDA only) scales to zero. Default: `1`."""
    max_replicas: NotRequired[pulumi.Input[int]]
    """Most pods when autoscaling. Default: `10`."""
    target_queue_size: NotRequired[pulumi.Input[int]]
    """KEDA: task-queue backlog per pod to aim for. Default: `5`."""
    activation_target_queue_size: NotRequired[pulumi.Input[int]]
    """KEDA: backlog that wakes a queue scaled to zero (used only when minReplicas is 0). Default: `0`."""
    target_cpu_utilization: NotRequired[pulumi.Input[int]]
    """HPA: average CPU use, in percent of the request, to aim for. Default: `70`."""
    pod_disruption_budget: NotRequired[bool]
    """A PodDisruptionBudget with maxUnavailable 1 (left out for a single pod without autoscaling). Default: `true`."""
    topology_spread: NotRequired[bool]
    """Spread pods over zones and nodes (ScheduleAnyway). Default: `true`."""
    network_policy: NotRequired[bool]
    """A NetworkPolicy: in only to the health and metrics ports; out only to DNS, Temporal's port and egressPorts (443 by default). Default: `true`."""
    egress_ports: NotRequired[pulumi.Input[Sequence[int]]]
    """TCP ports the worker may reach on any address besides DNS and Temporal's port: 443 lets activities call HTTPS APIs; [] narrows egress to DNS and Temporal (the chat API's port is added when chatgptApiKey is set). Default: `[443]`."""
    metrics_namespaces: NotRequired[pulumi.Input[Sequence[str]]]
    """Namespaces allowed to scrape the metrics port; empty allows every namespace. Default: `[]`."""
    pod_monitor: NotRequired[bool]
    """A Prometheus Operator PodMonitor for the metrics port. Default: `false`."""
    prometheus_rule: NotRequired[bool]
    """A Prometheus Operator PrometheusRule with the worker's alerts, scoped to its task queue. Default: `false`."""
    grafana_dashboard: NotRequired[bool]
    """A ConfigMap with the worker's Grafana dashboard, labelled grafana_dashboard: "1" for the Grafana sidecar. Default: `false`."""
    reloader: NotRequired[pulumi.Input[bool]]
    """Annotate the Deployment for Stakater Reloader, so a change to a secretEnv Secret rolls the pods (env cannot change in a running pod; certificates and the API key reload in place). Default: `false`."""
    default_versioning_behavior: NotRequired[pulumi.Input[DefaultVersioningBehavior]]
    """With a versioned rollout: whether a workflow that does not say otherwise stays on the build it started on (PINNED) or moves to the new Current build (AUTO_UPGRADE). Default: `AUTO_UPGRADE`."""
    rollout: NotRequired[Rollout]
    """rolling (one Deployment, no worker versioning), allAtOnce or progressive (a Deployment per build, Temporal Worker Versioning). Default: `rolling`."""
    build_id: NotRequired[str]
    """Build ID of image under worker versioning (label-safe, at most 63 characters); unset derives it from the image's digest."""
    deployment_name: NotRequired[pulumi.Input[str]]
    """Temporal Worker Deployment the builds belong to; unset uses <namespace>/<name>."""
    versions: NotRequired[Sequence[BuildVersion]]
    """Older builds that keep their own Deployments during a versioned rollout (those Temporal still routes to, or that are draining)."""
    image_pull_secret: NotRequired[pulumi.Input[str]]
    """Existing Secret the pods pull the image with (the stack makes one from registryUsername/registryPassword when those are set)."""
    image_pull_secret_resource: NotRequired[k8s.core.v1.Secret]
    """The image pull Secret resource itself, instead of its name (imagePullSecret)."""
    labels: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Extra labels for the Deployment and its pods (not for the selector)."""
    annotations: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Extra annotations for the pods."""
    node_selector: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Node labels the pods must run on."""
    tolerations: NotRequired[pulumi.Input[Sequence[pulumi.Input[Toleration]]]]
    """Taints the pods tolerate."""
    affinity: NotRequired[pulumi.Input[Mapping[str, Any]]]
    """Pod affinity, as the Kubernetes API's Affinity object (camelCase)."""
    priority_class_name: NotRequired[pulumi.Input[str]]
    """PriorityClass of the pods."""
    service_account_name: NotRequired[pulumi.Input[str]]
    """Existing ServiceAccount the pods run as; unset creates one for them. Its token is never mounted."""
    pod_spec: NotRequired[Mapping[str, Any]]
    """Other PodSpec fields in Kubernetes API form (e.g. hostAliases, dnsConfig); fields the component sets are refused."""
    restart_on: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """Values whose change rolls the pods, e.g. the referenced Secrets' contents; only an HMAC under a random key kept secret in state is stored."""
    version: NotRequired[pulumi.Input[str]]
    """Value of the app.kubernetes.io/version label (e.g. the image tag); unset leaves it out."""
    app_name: NotRequired[str]
    """Value of the app.kubernetes.io/name label. Default: `temporal-worker`."""


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
        settings = check.run(lambda: _checked_settings(args, check))
        super().__init__(TYPE_TOKEN, name, None, pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=LEGACY_TYPE_TOKEN)]), opts))
        child = pulumi.ResourceOptions(parent=self)

        selector = pod.selector_labels(args.get("app_name", "temporal-worker"), name, "temporal")
        own = {**selector, "app.kubernetes.io/managed-by": "pulumi"}
        if args.get("version"):
            own["app.kubernetes.io/version"] = _apply(args["version"], pod.label_value)
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

    def _deployment(self, name: str, build: "_Build", args: TemporalWorkerArgs,
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
                                          DEPLOYMENT_LABEL: _apply(temporal_deployment,
                                                                   pod.label_value)})
            identity = {"deploymentName": temporal_deployment, "buildId": build.build_id}
        autoscaled = settings["autoscaling"] != "off"
        reload = _apply(settings["reloader"], lambda on: pod.reloader_annotations(
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
                    spec=_pod_spec(args, {**settings, **identity, "image": build.image},
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

            _apply([settings["secretEnv"], settings["egressPorts"]], warn)
            # Confines the pods to what they need: probes and scrapes in; DNS, Temporal and
            # the listed ports (HTTPS by default) out.
            k8s.networking.v1.NetworkPolicy(
                f"{name}-network-policy", metadata=metadata(),
                spec=production.network_policy(
                    selector, temporal_port=_apply(settings["temporalAddress"],
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

    def _keda(self, name: str, build: "_Build", settings: Mapping[str, Any], metadata,
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
            tls=_tls(settings), tls_server_name=settings.get("tlsServerName"),
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


def _apply(value: pulumi.Input[Any], function) -> Any:
    """`function(value)` now when `value` is known, else once it resolves."""
    return function(value) if known(value) else pulumi.Output.from_input(value).apply(function)


def _merged(given: pulumi.Input[Mapping[str, Any]] | None,
            own: Mapping[str, Any]) -> pulumi.Input[Mapping[str, Any]]:
    """`given` with the component's own entries over it (a dict, or an Output of one)."""
    if given is None or not isinstance(given, pulumi.Output):
        return {**(given or {}), **own}
    return pulumi.Output.all(given, pulumi.Output.from_input(own)).apply(
        lambda both: {**both[0], **both[1]})


def _tls(settings: Mapping[str, Any]) -> pulumi.Input[bool]:
    """TLS as set, or on whenever a client certificate, server CA or API key is given."""
    tls = settings.get("tls")
    if tls is None:
        tls = bool(settings["tlsSecret"] or settings["serverCaSecret"] or settings["apiKey"])
    return tls


STRUCTURAL = frozenset({"create_namespace", "autoscaling", "rollout", "build_id", "versions",
                        "pod_disruption_budget", "topology_spread", "network_policy",
                        "pod_monitor", "prometheus_rule", "grafana_dashboard",
                        "app_name"})
"""Inputs that decide which Kubernetes objects exist: plain values, never Outputs."""
PLAIN_INPUTS = STRUCTURAL | {"pod_spec"}
"""Inputs the schema marks plain: STRUCTURAL, and podSpec, whose field names are checked
against PodSpec when the program runs (its values may be Outputs)."""
SECRET_KEY_REF_KEYS = frozenset(SecretKeyRef.__annotations__)
TOLERATION_KEYS = frozenset(Toleration.__annotations__)
ENV_NAMES = spec_values.env_map(lambda: pod.COMPONENT_ENV)
"""The settings spec's check of variable names (secretEnv's), with the variables the
component sets itself as the reserved ones."""


def _checked_settings(args: TemporalWorkerArgs, check: Checker) -> dict[str, Any]:
    """Every input checked and resolved: the spec-backed ones parsed (with defaults), names
    of referenced objects, Secret references as {name, key}, the builds. Known values are
    checked now; Outputs when they resolve, with the same messages."""
    refuse_unknown_keys(args, TemporalWorkerArgs.__annotations__)
    for key in sorted(STRUCTURAL & set(args)):
        if not known(args[key]):
            raise ValueError(f"{schema_name(key)}: must be a plain value, not an Output: it "
                             "decides which Kubernetes objects exist, which Pulumi must know "
                             "when the program runs")
    if not args.get("image"):
        raise ValueError("image: required")
    namespace = reference(args, "namespace", "namespace_resource", k8s.core.v1.Namespace)
    if not namespace:
        raise ValueError("namespace: required (the namespace's name, or namespaceResource)")
    if args.get("create_namespace") and args.get("namespace_resource") is not None:
        raise ValueError("createNamespace: not with namespaceResource, which exists already")
    inputs = {**args, "image_pull_secret": reference(
        args, "image_pull_secret", "image_pull_secret_resource", k8s.core.v1.Secret,
        namespace=namespace, check=check)}
    given = {s.name: inputs.get(s.python_name) for s in spec.SETTINGS
             if spec.on_side(s, "arg") and inputs.get(s.python_name) is not None}
    unknown = frozenset(n for n, v in given.items() if not known(v))
    references = frozenset(s.name for s in spec.SETTINGS
                           if s.arg and s.secret and args.get(s.python_name))
    resolved = spec.resolve({n: s.kind.text(given[n]) for n, s in spec.BY_NAME.items()
                             if n in given and n not in unknown}, "arg", unknown,
                            references).values
    for setting_name in unknown:
        setting = spec.BY_NAME[setting_name]
        resolved[setting_name] = pulumi.Output.from_input(given[setting_name]).apply(
            lambda v, s=setting: check.run(lambda: spec.parse(s, s.kind.text(v))))
    resolved["image"] = check.checked(args["image"], lambda image: _image(check, image))
    resolved["namespace"] = namespace
    resolved["tlsSecret"] = reference(args, "tls_secret_name", "tls_secret", k8s.core.v1.Secret,
                                      namespace=namespace, check=check)
    resolved["serverCaSecret"] = reference(args, "server_ca_secret_name", "server_ca_secret",
                                           k8s.core.v1.Secret, namespace=namespace,
                                           check=check)
    resolved["apiKey"] = _secret_key_ref(check, args.get("temporal_api_key"), "temporalApiKey",
                                         namespace)
    resolved["secretEnv"] = _secret_env(check, args.get("secret_env"), namespace)
    resolved["env"] = check.checked(args.get("env") or {}, lambda env: _env(env, args))
    resolved["labels"] = check.checked(args.get("labels") or {}, _labels)
    resolved["annotations"] = args.get("annotations") or {}
    for index, toleration in enumerate(args.get("tolerations") or []
                                       if known(args.get("tolerations") or []) else []):
        refuse_unknown_keys(toleration, TOLERATION_KEYS, f"tolerations[{index}].")
    # Whether each Secret is given is known now, even when its name is an Output.
    if resolved["autoscaling"] == "keda" and resolved["apiKey"] is not None \
            and resolved["serverCaSecret"] is not None and resolved["tlsSecret"] is None:
        raise ValueError(spec.Invalid("autoscaling", KEDA_API_KEY_PRIVATE_CA).message(
            lambda n: _KEDA_INPUTS.get(n, spec.BY_NAME[n].python_name)))
    pod.pod_spec_fields(args.get("pod_spec", {}), _taken_pod_fields(resolved))
    resolved["builds"] = _builds(args, resolved)
    return resolved


def _image(check: Checker, image: str) -> None:
    try:
        spec_values.image_reference().parse(image)
    except ValueError as err:
        raise ValueError(f"image: {err}") from None
    if not spec_values.pinned_by_digest(image):
        pulumi.log.warn(f"{check.label}: image: {image} is not pinned by digest: the tag can "
                        "be moved to other content, and pods would not roll when it is; use "
                        "repository@sha256:<digest>")


def _secret_key_ref(check: Checker, ref: Any, where: str, namespace: pulumi.Input[str]) -> Any:
    """{name, key} of a Secret reference given by name or as the Secret (in `namespace`), or
    None."""
    if ref is None:
        return None

    def resolve(value: Mapping[str, Any]) -> Any:
        refuse_unknown_keys(value, SECRET_KEY_REF_KEYS, f"{where}.")
        name = reference(value, "name", "secret", k8s.core.v1.Secret, namespace=namespace,
                         check=check, where=f"{where}.secret")
        if not name or not value.get("key"):
            raise ValueError(f"{where}: needs key and name (or secret)")
        return {"name": name, "key": value["key"]}

    if isinstance(ref, pulumi.Output):
        return ref.apply(lambda value: pulumi.Output.from_input(check.run(lambda: resolve(value))))
    return resolve(ref)


def _secret_env(check: Checker, given: Any, namespace: pulumi.Input[str]) -> Any:
    """secretEnv with checked names and each reference as {name, key}."""
    if given is None:
        return {}

    def resolve(value: Mapping[str, Any]) -> dict[str, Any]:
        _names("secretEnv", value)
        return {n: _secret_key_ref(check, ref, f"secretEnv.{n}", namespace)
                for n, ref in value.items()}

    if isinstance(given, pulumi.Output):
        return given.apply(lambda value: pulumi.Output.from_input(check.run(lambda: resolve(value))))
    return resolve(given)


def _names(where: str, variables: Mapping[str, Any]) -> None:
    """Variable names as the settings spec checks secretEnv's, and none the component sets."""
    try:
        ENV_NAMES.parse(json.dumps({name: "set" for name in variables}))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _env(env: Mapping[str, Any], args: TemporalWorkerArgs) -> None:
    _names("env", env)
    secret_env = args.get("secret_env")
    if known(secret_env or {}):
        for variable in sorted(set(env) & set(secret_env or {})):
            raise ValueError(f"env: {variable} is also in secretEnv")


def _labels(labels: Mapping[str, Any]) -> None:
    for label in sorted(set(labels) & set(pod.selector_labels("", "", ""))):
        raise ValueError(f"labels: {label} is set by the component")


@dataclass(frozen=True)
class _Build:
    """One build the component runs: the new image, or an older version kept while routed to."""

    build_id: Optional[str]
    """None with the rolling strategy (no worker versioning)."""
    image: pulumi.Input[str]
    replicas: pulumi.Input[int]
    own_count: bool = False
    """The count was given for this build (an older version), not taken from the inputs."""

    @property
    def scaled_down(self) -> bool:
        """A drained build kept at 0 pods until its Deployment goes."""
        return self.own_count and isinstance(self.replicas, int) and self.replicas == 0

    @property
    def suffix(self) -> str:
        """What tells this build's objects apart: nothing for the one rolling Deployment."""
        return f"-{self.build_id}" if self.build_id else ""


def _builds(args: TemporalWorkerArgs, settings: Mapping[str, Any]) -> list[_Build]:
    """The new build first, then the older versions still to run (versioned rollouts only)."""
    if settings["rollout"] == "rolling":
        if args.get("versions"):
            raise ValueError("versions: needs rollout allAtOnce or progressive")
        return [_Build(None, settings["image"], settings["replicas"])]
    build_id = args.get("build_id") or _build_id_of(args["image"])
    builds = [_Build(_checked_build_id("buildId", build_id), settings["image"],
                     settings["replicas"])]
    for index, version in enumerate(args.get("versions", [])):
        older = _checked_build_id(f"versions[{index}].buildId", version.get("build_id"))
        if older in {b.build_id for b in builds}:
            raise ValueError(f"versions[{index}].buildId: {older} is listed twice (or is the "
                             "new build)")
        builds.append(_Build(older, version["image"],
                             version.get("replicas", settings["replicas"]),
                             own_count="replicas" in version))
    return builds


def _build_id_of(image: pulumi.Input[str]) -> str:
    try:
        return spec_values.build_id_of(image)
    except ValueError:
        raise ValueError("buildId: required with a versioned rollout unless image is a plain "
                         "reference pinned by digest (repo@sha256:...)") from None


def _checked_build_id(where: str, build_id: Any) -> str:
    try:
        return BUILD_ID_KIND.parse(build_id if isinstance(build_id, str) else repr(build_id))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


_KEDA_INPUTS = {"tlsServerCa": "server_ca_secret_name", "tlsCert": "tls_secret_name"}
"""Spec settings the component takes under other input names (a Secret, not the PEM)."""


def _taken_pod_fields(settings: Mapping[str, Any]) -> frozenset[str]:
    """PodSpec fields podSpec may not set: the component's, those with inputs of their own."""
    taken = {"image_pull_secrets"} if settings.get("imagePullSecret") else set()
    if settings.get("topologySpread"):
        taken.add("topology_spread_constraints")
    return frozenset(taken)


def _pod_spec(args: TemporalWorkerArgs, settings: Mapping[str, Any],
              selector: Mapping[str, str], account: pulumi.Input[str]) -> k8s.core.v1.PodSpecArgs:
    tls_secret, ca_secret = settings["tlsSecret"], settings["serverCaSecret"]
    api_key = settings["apiKey"]
    vols, mounts = pod.volumes(tls_secret, ca_secret, api_key)
    probes = {kind: _apply(settings["probeMode"], lambda mode, kind=kind: pod.probes(mode)[kind])
              for kind in ("startup", "liveness", "readiness")}
    container = k8s.core.v1.ContainerArgs(
        name="worker",
        image=settings["image"],
        image_pull_policy="IfNotPresent",
        command=list(contract.ENTRYPOINT),
        env=pod.worker_env({n: v for n, v in settings.items() if n != "tls"},
                           tls=_tls(settings), tls_secret=tls_secret is not None,
                           server_ca_secret=ca_secret is not None, extra=settings["env"],
                           secret_refs=settings["secretEnv"], api_key_file=api_key is not None),
        ports=[k8s.core.v1.ContainerPortArgs(name=pod.HEALTH_PORT_NAME,
                                             container_port=contract.HEALTH_PORT),
               k8s.core.v1.ContainerPortArgs(name=pod.METRICS_PORT_NAME,
                                             container_port=contract.METRICS_PORT)],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": settings["cpuRequest"], "memory": settings["memoryRequest"]},
            limits={"cpu": settings["cpuLimit"], "memory": settings["memoryLimit"]}),
        startup_probe=probes["startup"],
        liveness_probe=probes["liveness"],
        readiness_probe=probes["readiness"],
        volume_mounts=mounts,
        security_context=pod.container_security_context(),
    )
    grace = pulumi.Output.from_input(settings["gracefulShutdownSeconds"]).apply(
        contract.termination_grace_period_seconds)
    fields: dict[str, Any] = {
        "containers": [container],
        "volumes": vols,
        "automount_service_account_token": False,
        "enable_service_links": False,
        "termination_grace_period_seconds": grace,
        "security_context": pod.pod_security_context(),
        "service_account_name": account,
    }
    for arg in pod.DEDICATED_POD_FIELDS:
        if args.get(arg) and arg not in fields:
            fields[arg] = args[arg]
    if settings["topologySpread"]:
        fields["topology_spread_constraints"] = production.topology_spread(selector)
    if settings.get("imagePullSecret"):
        fields["image_pull_secrets"] = [
            k8s.core.v1.LocalObjectReferenceArgs(name=settings["imagePullSecret"])]
    fields.update(pod.pod_spec_fields(args.get("pod_spec", {}), _taken_pod_fields(settings)))
    return k8s.core.v1.PodSpecArgs(**fields)
