"""TemporalWorker: a Temporal worker Deployment, wired to the worker through the settings spec.

Secrets are referenced by name, so they can come from the same program, from External Secrets or
from cert-manager; the component creates none. Inputs that are also settings
(`temporal_worker_spec`) take their defaults and checks from the spec.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

import temporal_worker_spec as spec
from temporal_worker_k8s import pod, production
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
    """One key of a Kubernetes Secret in the worker's namespace."""

    name: pulumi.Input[str]
    """Name of the Secret."""
    key: pulumi.Input[str]
    """Key in the Secret's data."""


class Toleration(TypedDict):
    """A pod toleration, as in the Kubernetes API."""

    key: NotRequired[pulumi.Input[str]]
    """Taint key the toleration matches; empty with operator Exists matches every taint."""
    operator: NotRequired[pulumi.Input[str]]
    """Exists or Equal (the default)."""
    value: NotRequired[pulumi.Input[str]]
    """Taint value to match with operator Equal."""
    effect: NotRequired[pulumi.Input[str]]
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
    """Inputs of TemporalWorker. Settings-spec inputs default to the spec's values."""

    image: pulumi.Input[str]
    """Container image, pinned by digest (repo@sha256:...) so only a new build rolls the pods."""
    namespace: pulumi.Input[str]
    """Kubernetes namespace of the Deployment; it must exist unless createNamespace is true."""
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
    temporal_api_key: NotRequired[SecretKeyRef]
    """Secret key holding the Temporal Cloud API key; mounted as a file the worker rereads when the Secret changes (TEMPORAL_API_KEY_FILE); turns TLS on."""
    tls_secret_name: NotRequired[pulumi.Input[str]]
    """kubernetes.io/tls Secret with the mTLS client cert and key, e.g. from cert-manager."""
    server_ca_secret_name: NotRequired[pulumi.Input[str]]
    """Secret with a private server CA under key ca.crt; unset trusts the system roots."""
    secret_env: NotRequired[Mapping[str, SecretKeyRef]]
    """More env vars read from Secrets: variable name -> Secret key. Env cannot change in a running pod: see reloader."""
    env: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Plain, non-secret env vars for your workflows and activities."""
    graceful_shutdown_seconds: NotRequired[pulumi.Input[int]]
    """Seconds in-flight activities get after SIGTERM; the pod's grace period adds 15. Default: `30`."""
    max_concurrent_activities: NotRequired[pulumi.Input[int]]
    """Activities one worker pod runs at once. Default: `100`."""
    max_concurrent_workflow_tasks: NotRequired[pulumi.Input[int]]
    """Workflow tasks one worker pod runs at once (at least 2: the SDK caches workflows). Default: `100`."""
    poller_behavior: NotRequired[pulumi.Input[str]]
    """How many polls the worker keeps open per task type (workflow, activity): autoscaling follows the server's feedback between minPollers and maxPollers (server 1.28+ and Temporal Cloud); fixed keeps up to maxPollers. Default: `autoscaling`."""
    min_pollers: NotRequired[pulumi.Input[int]]
    """autoscaling: fewest polls kept open per task type. Default: `1`."""
    initial_pollers: NotRequired[pulumi.Input[int]]
    """autoscaling: polls opened per task type at start, before the server's feedback. Default: `5`."""
    max_pollers: NotRequired[pulumi.Input[int]]
    """Most polls open at once per task type (with pollerBehavior fixed, the count kept open; at least 2: workflow tasks poll a sticky and a normal queue). Default: `100`."""
    slot_tuner: NotRequired[pulumi.Input[str]]
    """fixed: up to maxConcurrentActivities and maxConcurrentWorkflowTasks tasks at once; resourceBased: as many as keep the container under tunerTargetMemory and tunerTargetCpu (those maxima still cap them; slot metrics then stop meaning much). Default: `fixed`."""
    tuner_target_memory: NotRequired[pulumi.Input[int]]
    """resourceBased: memory use to stay under, in percent of the container's limit (or the host's memory without one). Default: `80`."""
    tuner_target_cpu: NotRequired[pulumi.Input[int]]
    """resourceBased: CPU use to stay under, in percent of the container's limit (or the host's CPUs without one). Default: `90`."""
    log_format: NotRequired[pulumi.Input[str]]
    """Worker log format: one JSON object or one plain line per event. Default: `json`."""
    log_level: NotRequired[pulumi.Input[str]]
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
    probe_mode: NotRequired[str]
    """http probes /healthz and /readyz; exec checks the heartbeat files' age. Default: `http`."""
    autoscaling: NotRequired[str]
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
    """A NetworkPolicy: in only to the health and metrics ports; out only to DNS, Temporal's port and egressPorts. Default: `true`."""
    egress_ports: NotRequired[Sequence[int]]
    """More TCP ports the worker may reach on any address (the chat API's port is added when chatgptApiKey is set). Default: `[]`."""
    metrics_namespaces: NotRequired[Sequence[str]]
    """Namespaces allowed to scrape the metrics port; empty allows every namespace. Default: `[]`."""
    pod_monitor: NotRequired[bool]
    """A Prometheus Operator PodMonitor for the metrics port. Default: `false`."""
    prometheus_rule: NotRequired[bool]
    """A Prometheus Operator PrometheusRule with the worker's alerts, scoped to its task queue. Default: `false`."""
    grafana_dashboard: NotRequired[bool]
    """A ConfigMap with the worker's Grafana dashboard, labelled grafana_dashboard: "1" for the Grafana sidecar. Default: `false`."""
    reloader: NotRequired[bool]
    """Annotate the Deployment for Stakater Reloader, so a change to a secretEnv Secret rolls the pods (env cannot change in a running pod; certificates and the API key reload in place). Default: `false`."""
    default_versioning_behavior: NotRequired[pulumi.Input[str]]
    """With a versioned rollout: whether a workflow that does not say otherwise stays on the build it started on (PINNED) or moves to the new Current build (AUTO_UPGRADE). Default: `AUTO_UPGRADE`."""
    rollout: NotRequired[str]
    """rolling (one Deployment, no worker versioning), allAtOnce or progressive (a Deployment per build, Temporal Worker Versioning). Default: `rolling`."""
    build_id: NotRequired[str]
    """Build ID of image under worker versioning (label-safe, at most 63 characters); unset derives it from the image's digest."""
    deployment_name: NotRequired[pulumi.Input[str]]
    """Temporal Worker Deployment the builds belong to; unset uses <namespace>/<name>."""
    versions: NotRequired[Sequence[BuildVersion]]
    """Older builds that keep their own Deployments during a versioned rollout (those Temporal still routes to, or that are draining)."""
    image_pull_secret: NotRequired[pulumi.Input[str]]
    """Existing Secret the pods pull the image with (the stack makes one from registryUsername/registryPassword when those are set)."""
    labels: NotRequired[Mapping[str, str]]
    """Extra labels for the Deployment and its pods (not for the selector)."""
    annotations: NotRequired[Mapping[str, str]]
    """Extra annotations for the pods."""
    node_selector: NotRequired[Mapping[str, str]]
    """Node labels the pods must run on."""
    tolerations: NotRequired[Sequence[Toleration]]
    """Taints the pods tolerate."""
    affinity: NotRequired[Mapping[str, Any]]
    """Pod affinity, as the Kubernetes API's Affinity object (camelCase)."""
    priority_class_name: NotRequired[pulumi.Input[str]]
    """PriorityClass of the pods."""
    service_account_name: NotRequired[pulumi.Input[str]]
    """Existing ServiceAccount the pods run as; unset creates one for them. Its token is never mounted."""
    pod_spec: NotRequired[Mapping[str, Any]]
    """Other PodSpec fields in Kubernetes API form (e.g. hostAliases, dnsConfig); fields the component sets are refused."""
    restart_on: NotRequired[Sequence[pulumi.Input[str]]]
    """Values whose change rolls the pods, e.g. the referenced Secrets' contents; only an HMAC under a random key kept secret in state is stored."""
    version: NotRequired[str]
    """Value of the app.kubernetes.io/version label (e.g. the image tag); unset leaves it out."""
    app_name: NotRequired[str]
    """Value of the app.kubernetes.io/name label. Default: `temporal-worker`."""


class TemporalWorker(pulumi.ComponentResource):
    """A Temporal worker Deployment: restricted pod, real probes, mTLS or API key, SIGTERM drain, and what production needs around it: autoscaling, a disruption budget, spread, a NetworkPolicy and monitoring."""

    deployment_name: pulumi.Output[str]
    """Name of the Deployment."""
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
        settings = _settings(name, args)
        super().__init__(TYPE_TOKEN, name, None, pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=LEGACY_TYPE_TOKEN)]), opts))
        child = pulumi.ResourceOptions(parent=self)

        selector = pod.selector_labels(args.get("app_name", "temporal-worker"), name, "temporal")
        labels = {**args.get("labels", {}), **selector, "app.kubernetes.io/managed-by": "pulumi"}
        if args.get("version"):
            labels["app.kubernetes.io/version"] = pod.label_value(args["version"])

        annotations = {**args.get("annotations", {}), **pod.scrape_annotations()}
        if args.get("restart_on"):
            # Keys the rollout checksum so that reading it reveals nothing about the Secrets.
            key = random.RandomBytes(f"{name}-rollout-key", length=32, opts=child)
            annotations[pod.CHECKSUM_ANNOTATION] = pod.rollout_checksum(args["restart_on"],
                                                                        key.base64)

        namespace = args["namespace"]
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
        self._production(name, args, settings, selector, metadata, deployments,
                         temporal_deployment)

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
                    labels: Mapping[str, Any], annotations: Mapping[str, Any],
                    account: pulumi.Input[str], temporal_deployment: pulumi.Input[str],
                    namespace: pulumi.Input[str]) -> k8s.apps.v1.Deployment:
        """One build's Deployment: the only one with the rolling strategy, one per build when
        versioned (each polls as its version of the Temporal Worker Deployment)."""
        own_selector, own_labels, identity = dict(selector), dict(labels), {}
        if build.build_id:
            own_selector[BUILD_ID_LABEL] = build.build_id
            own_labels.update({BUILD_ID_LABEL: build.build_id,
                               DEPLOYMENT_LABEL: pulumi.Output.from_input(
                                   temporal_deployment).apply(pod.label_value)})
            identity = {"deploymentName": temporal_deployment, "buildId": build.build_id}
        autoscaled = settings["autoscaling"] != "off"
        reload = pod.reloader_annotations(args.get("secret_env", {})) \
            if settings["reloader"] else {}
        # Runs and keeps one build's worker pods alive, rolling them on rotated secrets (and,
        # with the rolling strategy, on a new image). An autoscaler owns the count: a value
        # here would fight it on every update, unless it is a build's own count (its scale-down
        # to 0, or the wake-up of a rollback).
        return k8s.apps.v1.Deployment(
            f"{name}{build.suffix}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}{build.suffix}",
                                                namespace=namespace, labels=own_labels,
                                                annotations=reload or None),
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
                    spec=_pod_spec({**args, "image": build.image},
                                   {**settings, **identity}, selector, account)),
            ),
            opts=pulumi.ResourceOptions(parent=self))

    def _production(self, name: str, args: TemporalWorkerArgs, settings: Mapping[str, Any],
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
            # Confines the pods to what they need: probes and scrapes in; DNS, Temporal and
            # the listed ports out.
            k8s.networking.v1.NetworkPolicy(
                f"{name}-network-policy", metadata=metadata(),
                spec=production.network_policy(
                    selector, temporal_port=pulumi.Output.from_input(
                        args["temporal_address"]).apply(production.temporal_port),
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
                self._keda(name, build, args, settings, metadata, target, temporal_deployment)

    def _keda(self, name: str, build: "_Build", args: TemporalWorkerArgs,
              settings: Mapping[str, Any], metadata, deployment: pulumi.Output[str],
              temporal_deployment: pulumi.Input[str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        auth = production.trigger_authentication(
            api_key=args.get("temporal_api_key"), tls_secret=args.get("tls_secret_name"),
            ca_secret=args.get("server_ca_secret_name"))
        auth_name = None
        if auth is not None:
            # Hands KEDA the same credentials the worker uses, by Secret reference.
            auth_name = k8s.apiextensions.CustomResource(
                f"{name}{build.suffix}-trigger-auth", api_version=production.KEDA_API,
                kind="TriggerAuthentication", metadata=metadata(f"{name}{build.suffix}-temporal"),
                spec=auth, opts=child).metadata["name"]
        trigger = production.temporal_trigger(
            address=args["temporal_address"],
            namespace=settings["temporalNamespace"], task_queue=settings["taskQueue"],
            tls=_tls(args, settings), tls_server_name=settings.get("tlsServerName"),
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


def _tls(args: TemporalWorkerArgs, settings: Mapping[str, Any]) -> pulumi.Input[bool]:
    """TLS as set, or on whenever a client certificate, server CA or API key is given."""
    tls = settings.get("tls")
    if tls is None:
        tls = bool(args.get("tls_secret_name") or args.get("server_ca_secret_name")
                   or args.get("temporal_api_key"))
    return tls


def _settings(name: str, args: TemporalWorkerArgs) -> dict[str, Any]:
    """The spec-backed inputs with defaults applied, checked like the worker checks them.

    Plain values are checked now; Outputs when they resolve, before the Deployment is sent.
    """
    try:
        return _checked_settings(args)
    except (spec.Invalid, ValueError) as err:
        message = err.message(str) if isinstance(err, spec.Invalid) else str(err)
        raise ValueError(f"TemporalWorker {name}: {message}") from None


def _checked_settings(args: TemporalWorkerArgs) -> dict[str, Any]:
    for required in ("image", "namespace"):
        if not args.get(required):
            raise ValueError(f"{required}: required")
    given = {s.name: args.get(s.python_name) for s in spec.SETTINGS
             if spec.on_side(s, "arg") and args.get(s.python_name) is not None}
    unknown = frozenset(n for n, v in given.items() if isinstance(v, pulumi.Output))
    references = frozenset(s.name for s in spec.SETTINGS
                           if s.arg and s.secret and args.get(s.python_name))
    resolved = spec.resolve({n: s.kind.text(given[n]) for n, s in spec.BY_NAME.items()
                             if n in given and n not in unknown}, "arg", unknown,
                            references).values
    for setting_name in unknown:
        setting = spec.BY_NAME[setting_name]
        resolved[setting_name] = given[setting_name].apply(
            lambda v, s=setting: spec.parse(s, s.kind.text(v)))
    taken = set(args.get("env", {})) & set(args.get("secret_env", {}))
    for variable in sorted(taken | (set(args.get("env", {})) | set(args.get("secret_env", {})))
                           & pod.COMPONENT_ENV):
        raise ValueError(f"env: {variable} is set by the component; use its own input")
    for variable in sorted(taken):
        raise ValueError(f"env: {variable} is also in secretEnv")
    clash = set(args.get("labels", {})) & set(pod.selector_labels("", "", ""))
    for label in sorted(clash):
        raise ValueError(f"labels: {label} is set by the component")
    if resolved["autoscaling"] == "keda" and args.get("temporal_api_key") \
            and args.get("server_ca_secret_name") and not args.get("tls_secret_name"):
        raise ValueError(spec.Invalid("autoscaling", KEDA_API_KEY_PRIVATE_CA).message(
            lambda n: _KEDA_INPUTS.get(n, spec.BY_NAME[n].python_name)))
    pod.pod_spec_fields(args.get("pod_spec", {}), _taken_pod_fields(resolved))
    resolved["builds"] = _builds(args, resolved)
    return resolved


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
        return [_Build(None, args["image"], settings["replicas"])]
    build_id = args.get("build_id") or _build_id_of(args["image"])
    builds = [_Build(_checked_build_id("buildId", build_id), args["image"],
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
    tls_secret, ca_secret = args.get("tls_secret_name"), args.get("server_ca_secret_name")
    api_key = args.get("temporal_api_key")
    tls = _tls(args, settings)
    vols, mounts = pod.volumes(tls_secret, ca_secret, api_key)
    probes = pod.probes(settings["probeMode"])
    container = k8s.core.v1.ContainerArgs(
        name="worker",
        image=args["image"],
        image_pull_policy="IfNotPresent",
        command=list(contract.ENTRYPOINT),
        env=pod.worker_env({n: v for n, v in settings.items() if n != "tls"}, tls=tls,
                           tls_secret=bool(tls_secret), server_ca_secret=bool(ca_secret),
                           extra=args.get("env", {}), secret_refs=args.get("secret_env", {}),
                           api_key_file=bool(api_key)),
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
