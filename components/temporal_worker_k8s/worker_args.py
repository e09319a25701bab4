"""TemporalWorker's inputs as types: the args and the objects inside them. Pulumi's SDK infers
the package schema from these annotations and docstrings, so each docstring is what users of
every language read about that input.
"""

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from temporal_worker_k8s.enums import (Autoscaling, DefaultVersioningBehavior, LogFormat,
                                      LogLevel, PollerBehavior, ProbeMode, Rollout, SlotTuner,
                                      TolerationEffect, TolerationOperator)


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
    topologySpread, networkPolicy, podMonitor, prometheusRule, grafanaDashboard, appName):
    Pulumi must know those when the program runs; and podSpec, whose field names are checked then (its values may be Outputs).
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
    """Activities one worker pod runs at once. The default (the SDK's is 100) lets activities that mostly wait overlap (measured in bench/README.md) and fits the default memoryLimit even with a 1 MiB chat reply in each. Default: `250`."""
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
    """CPU request of the worker container. The default is about what the worker on its defaults uses for 12 workflows/s (~20 ms of CPU each, bench/README.md). Default: `250m`."""
    memory_request: NotRequired[pulumi.Input[str]]
    """Memory request of the worker container. The default covers the worker's peak resident memory under load on its defaults (bench/README.md). Default: `192Mi`."""
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
