"""The settings spec: every setting of the stack, the component and the worker, declared once.

Each `Setting` gives its name (the Pulumi config key and the component input), its environment
variable, kind (type, parser, bounds), default, secrecy and a one-line description. The stack's
config reading, the env the component renders, the worker's settings, `Pulumi.yaml`'s `config:`
block and the README tables all derive from this module (tools/specgen.py writes the last two;
tests check everything else against it). Standard library only: the worker image ships it.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from temporal_worker_spec import contract, pki
from temporal_worker_spec import values as kinds

DEFAULT_CHATGPT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Setting:
    """One setting, as every side sees it."""

    name: str
    """camelCase name: the Pulumi config key (`temporal-worker:<name>`) and the component input."""
    description: str
    """One line for users: README, Pulumi.yaml and the component's schema."""
    kind: kinds.Kind
    """Type, parser and bounds."""
    group: str
    """README section the setting is listed under."""
    default: Any = None
    """Value when unset; None means unset (optional) unless `required`."""
    env: str | None = None
    """Environment variable the worker reads it from; None when the worker never sees it."""
    aliases: tuple[str, ...] = ()
    """Other variable names the worker accepts (the seed article's)."""
    file: bool = False
    """The variable holds the path of a file with the value (Secrets are mounted as files)."""
    secret: bool = False
    """Set with `pulumi config set --secret`; never printed, exported or put in plain inputs."""
    config: bool = True
    """A `temporal-worker:` config key of the stack."""
    arg: bool = False
    """An input of the TemporalWorker component (snake_case in Python)."""
    required: bool = False
    """Must be set (on every side that has it)."""
    required_unless: str | None = None
    """...unless this boolean setting is true on that side."""
    worker_option: str | None = None
    """Keyword of `temporalio.worker.Worker` the worker passes the value to."""
    advise: Callable[[Any], list[str]] | None = None
    """Warnings about a valid value (e.g. a certificate that expires soon)."""

    @property
    def python_name(self) -> str:
        """snake_case, as the component's Python input names it."""
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in self.name)

    @property
    def env_names(self) -> tuple[str, ...]:
        return (self.env, *self.aliases) if self.env else ()


@dataclass(frozen=True)
class Rule:
    """A check across settings; it runs on each side that has every setting in `needs`."""

    needs: tuple[str, ...]
    check: Callable[[Mapping[str, Any]], None]
    """Raises `Invalid`; reasons name other settings as `{name}` for each side to spell out."""
    description: str


class Invalid(ValueError):
    """A setting's value is refused. `reason` may name settings as `{name}` placeholders."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason

    def message(self, label: Callable[[str], str]) -> str:
        """`<label of the setting>: <reason>`, with every `{name}` of a setting labelled."""
        reason = re.sub(r"\{(\w+)\}", lambda m: label(m[1]) if m[1] in BY_NAME else m[0],
                        self.reason)
        return f"{label(self.setting)}: {reason}"


# --- The settings --------------------------------------------------------------------------
CONNECTION, WORKER, ROLLOUT, KUBERNETES, PRODUCTION, IMAGE, DEV, WORKLOAD = (
    "Temporal connection", "Worker", "Rollouts", "Kubernetes", "Production", "Image",
    "Dev server", "Sample workload")

TEMPORAL_ADDRESS = Setting(
    "temporalAddress", "Temporal frontend as host:port, e.g. ns.acct.tmprl.cloud:7233.",
    kinds.host_port(), CONNECTION, env="TEMPORAL_ADDRESS", aliases=("TEMPORAL_HOST_URL",),
    arg=True, required=True, required_unless="devServer")
TEMPORAL_NAMESPACE = Setting(
    "temporalNamespace", "Temporal namespace the worker polls.", kinds.temporal_name(),
    CONNECTION, default="default", env="TEMPORAL_NAMESPACE", arg=True)
TASK_QUEUE = Setting(
    "taskQueue", "Task queue the worker polls.", kinds.temporal_name(), CONNECTION,
    default="temporal-worker", env="TEMPORAL_TASK_QUEUE", arg=True)
TLS_CERT = Setting(
    "tlsCert", "mTLS client certificate (PEM, X.509 v3, leaf first); set with tlsKey.",
    kinds.client_certificate(), CONNECTION, env="TEMPORAL_TLS_CLIENT_CERT_PATH",
    aliases=("TEMPORAL_MTLS_TLS_CERT",), file=True, secret=True, advise=pki.expiry_warnings)
TLS_KEY = Setting(
    "tlsKey", "Unencrypted PEM private key of tlsCert.", kinds.private_key(), CONNECTION,
    env="TEMPORAL_TLS_CLIENT_KEY_PATH", aliases=("TEMPORAL_MTLS_TLS_KEY",), file=True,
    secret=True)
TLS_SERVER_CA = Setting(
    "tlsServerCa", "PEM bundle of a private server CA; unset trusts the system roots.",
    kinds.ca_bundle(), CONNECTION, env="TEMPORAL_TLS_SERVER_CA_CERT_PATH", file=True,
    advise=pki.expiry_warnings)
TLS_SERVER_NAME = Setting(
    "tlsServerName", "TLS server name (SNI) to verify; unset uses the address's host.",
    kinds.host(), CONNECTION, env="TEMPORAL_TLS_SERVER_NAME", arg=True)
TEMPORAL_API_KEY = Setting(
    "temporalApiKey", "Temporal Cloud API key; turns TLS on.", kinds.token(), CONNECTION,
    env="TEMPORAL_API_KEY", secret=True, arg=True)
TEMPORAL_API_KEY_FILE = Setting(
    "temporalApiKeyFile", "Temporal Cloud API key from a file, reread when it changes (the "
    "component mounts temporalApiKey there); turns TLS on.", kinds.token(), CONNECTION,
    env="TEMPORAL_API_KEY_FILE", file=True, secret=True, config=False)
TLS = Setting(
    "tls", "Force TLS on or off; unset turns it on with a client cert, server CA or API key.",
    kinds.boolean(), CONNECTION, env="TEMPORAL_TLS", config=False, arg=True)

GRACEFUL_SHUTDOWN_SECONDS = Setting(
    "gracefulShutdownSeconds",
    "Seconds in-flight activities get after SIGTERM; the pod's grace period adds "
    f"{contract.TERMINATION_GRACE_MARGIN_SECONDS}.",
    kinds.integer(0, 86400), WORKER, default=30, env="WORKER_GRACEFUL_SHUTDOWN_SECONDS",
    arg=True)
MAX_CONCURRENT_ACTIVITIES = Setting(
    "maxConcurrentActivities", "Activities one worker pod runs at once. The default (the SDK's "
    "is 100) lets activities that mostly wait overlap (measured in bench/README.md) and fits "
    "the default memoryLimit even with a 1 MiB chat reply in each.",
    kinds.integer(1, 10000), WORKER, default=250, env="WORKER_MAX_CONCURRENT_ACTIVITIES",
    arg=True, worker_option="max_concurrent_activities")
MAX_CONCURRENT_WORKFLOW_TASKS = Setting(
    "maxConcurrentWorkflowTasks",
    "Workflow tasks one worker pod runs at once (at least 2: the SDK caches workflows).",
    kinds.integer(2, 10000), WORKER, default=100, env="WORKER_MAX_CONCURRENT_WORKFLOW_TASKS",
    arg=True, worker_option="max_concurrent_workflow_tasks")
POLLER_BEHAVIOR = Setting(
    "pollerBehavior", "How many polls the worker keeps open per task type (workflow, activity): "
    "autoscaling follows the server's feedback between minPollers and maxPollers (server 1.28+ "
    "and Temporal Cloud); fixed keeps up to maxPollers.", kinds.choice("autoscaling", "fixed"),
    WORKER, default="autoscaling", env="WORKER_POLLER_BEHAVIOR", arg=True)
MIN_POLLERS = Setting(
    "minPollers", "autoscaling: fewest polls kept open per task type.", kinds.integer(1, 1000),
    WORKER, default=1, env="WORKER_MIN_POLLERS", arg=True)
INITIAL_POLLERS = Setting(
    "initialPollers", "autoscaling: polls opened per task type at start, before the server's "
    "feedback.", kinds.integer(1, 1000), WORKER, default=5, env="WORKER_INITIAL_POLLERS",
    arg=True)
MAX_POLLERS = Setting(
    "maxPollers", "Most polls open at once per task type (with pollerBehavior fixed, the count "
    "kept open; at least 2: workflow tasks poll a sticky and a normal queue).",
    kinds.integer(2, 1000), WORKER, default=100, env="WORKER_MAX_POLLERS", arg=True)
SLOT_TUNER = Setting(
    "slotTuner", "fixed: up to maxConcurrentActivities and maxConcurrentWorkflowTasks tasks at "
    "once; resourceBased: as many as keep the container under tunerTargetMemory and "
    "tunerTargetCpu (those maxima still cap them; slot metrics then stop meaning much).",
    kinds.choice("fixed", "resourceBased"), WORKER, default="fixed", env="WORKER_SLOT_TUNER",
    arg=True)
TUNER_TARGET_MEMORY = Setting(
    "tunerTargetMemory", "resourceBased: memory use to stay under, in percent of the "
    "container's limit (or the host's memory without one).", kinds.integer(1, 100), WORKER,
    default=80, env="WORKER_TUNER_TARGET_MEMORY", arg=True)
TUNER_TARGET_CPU = Setting(
    "tunerTargetCpu", "resourceBased: CPU use to stay under, in percent of the container's "
    "limit (or the host's CPUs without one).", kinds.integer(1, 100), WORKER, default=90,
    env="WORKER_TUNER_TARGET_CPU", arg=True)
LOG_FORMAT = Setting(
    "logFormat", "Worker log format: one JSON object or one plain line per event.",
    kinds.choice("json", "plain"), WORKER, default="json", env="WORKER_LOG_FORMAT", arg=True)
LOG_LEVEL = Setting(
    "logLevel", "Worker log level.", kinds.choice("DEBUG", "INFO", "WARNING", "ERROR"), WORKER,
    default="INFO", env="WORKER_LOG_LEVEL", arg=True)
HEALTH_PORT = Setting(
    "healthPort", "Port of the /healthz and /readyz server; 0 turns it off.",
    kinds.integer(0, 65535), WORKER, default=contract.HEALTH_PORT, env="WORKER_HEALTH_PORT",
    config=False)
METRICS_PORT = Setting(
    "metricsPort", "Port of the Prometheus /metrics endpoint; 0 turns it off.",
    kinds.integer(0, 65535), WORKER, default=contract.METRICS_PORT, env="WORKER_METRICS_PORT",
    config=False)
HEARTBEAT_FILE = Setting(
    "heartbeatFile", "File rewritten while ready, for exec readiness probes; unset: none.",
    kinds.file_path(), WORKER, env="WORKER_HEARTBEAT_FILE", config=False)
LIVENESS_FILE = Setting(
    "livenessFile", "File touched while the event loop runs, for exec liveness probes.",
    kinds.file_path(), WORKER, env="WORKER_LIVENESS_FILE", config=False)
DEPLOYMENT_NAME = Setting(
    "deploymentName", "Worker Deployment name for worker versioning; set with buildId.",
    kinds.worker_deployment_name(), WORKER, env="TEMPORAL_DEPLOYMENT_NAME", config=False)
BUILD_ID = Setting(
    "buildId", "Build ID for worker versioning; set with deploymentName.",
    kinds.string(max_length=255), WORKER, env="TEMPORAL_WORKER_BUILD_ID", config=False)

DEFAULT_VERSIONING_BEHAVIOR = Setting(
    "defaultVersioningBehavior", "With a versioned rollout: whether a workflow that does not "
    "say otherwise stays on the build it started on (PINNED) or moves to the new Current "
    "build (AUTO_UPGRADE).", kinds.choice("AUTO_UPGRADE", "PINNED"), ROLLOUT,
    default="AUTO_UPGRADE", env="WORKER_DEFAULT_VERSIONING_BEHAVIOR", arg=True)
ROLLOUT_STRATEGY = Setting(
    "rollout", "rolling (one Deployment, no worker versioning), allAtOnce or progressive "
    "(a Deployment per build, Temporal Worker Versioning).",
    kinds.choice("rolling", "allAtOnce", "progressive"), ROLLOUT, default="rolling", arg=True)
RAMP_STEPS = Setting(
    "rampSteps", "progressive: the ramp before the new build becomes Current: increasing "
    "percentages of new workflows, each a number (held for rampPause) or "
    '{"percent": 10, "pause": "15m"}.', kinds.ramp_steps(), ROLLOUT, default=[10, 50])
RAMP_PAUSE = Setting(
    "rampPause", "progressive: how long a ramp step without a pause of its own lasts.",
    kinds.duration(86400), ROLLOUT, default=300)
GATE_WORKFLOW = Setting(
    "gateWorkflow", "Workflow type run on a new build before it gets traffic and after every "
    "ramp step; if it fails, the ramp is removed, the old build keeps all traffic and the "
    "update fails.", kinds.string(max_length=200), ROLLOUT)
GATE_INPUT = Setting(
    "gateInput", f"JSON object the gate workflow gets, with `{contract.GATE_STEP_KEY}` added "
    "(which step it checks).", kinds.json_object(), ROLLOUT)
GATE_TIMEOUT = Setting(
    "gateTimeout", "How long one run of the gate workflow may take before it counts as failed.",
    kinds.duration(86400), ROLLOUT, default=600)
ROLLOUT_TIMEOUT = Setting(
    "rolloutTimeout", "Longest a versioned rollout may hold the update (pollers, gates, ramp "
    "pauses); a plan that could take longer is refused at preview.", kinds.duration(86400),
    ROLLOUT, default=3600)
ROLLOUT_SIGNING_KEY = Setting(
    "rolloutSigningKey", "Secret key (32+ characters) the rollout signs each build's image "
    "record in Temporal with; only images it signed are deployed again. Required with a "
    "versioned rollout.", kinds.signing_key(), ROLLOUT, secret=True)
ROLLOUT_PREVIOUS_SIGNING_KEY = Setting(
    "rolloutPreviousSigningKey", "The signing key before a rotation: records it signed are "
    "still trusted, and signed again with rolloutSigningKey.", kinds.signing_key(), ROLLOUT,
    secret=True)
ROLLOUT_ADOPT = Setting(
    "rolloutAdopt", "JSON object build ID -> image pinned by digest: trust these images for "
    "builds whose record in Temporal is unsigned (written by 1.x) or cannot be verified, and "
    "sign them again.", kinds.build_images(), ROLLOUT)
ROLLOUT_TAKE_OVER = Setting(
    "rolloutTakeOver", "Take the Worker Deployment's manager identity from whoever holds it "
    "(a person or another tool) instead of stopping.", kinds.boolean(), ROLLOUT, default=False)
MAX_VERSIONS = Setting(
    "maxVersions", "Temporal's cap on versions per Worker Deployment (the server's "
    "matching.maxVersionsInDeployment, 100 unless changed); a rollout that would need more is "
    "refused at preview.", kinds.integer(2, 10000), ROLLOUT, default=100)
SUNSET_SCALEDOWN_DELAY = Setting(
    "sunsetScaledownDelay", "How long a drained build keeps its pods before they go to zero.",
    kinds.duration(90 * 86400), ROLLOUT, default=3600)
SUNSET_DELETE_DELAY = Setting(
    "sunsetDeleteDelay", "How long a drained build's Deployment stays (at zero pods) before "
    "it is deleted.", kinds.duration(365 * 86400), ROLLOUT, default=86400)
CURRENT_BUILD = Setting(
    "currentBuildId", "Make this build Current instead of the new image's: rollback to a "
    "build whose Deployment still exists.", kinds.build_id(), ROLLOUT)

K8S_NAMESPACE = Setting(
    "k8sNamespace", "Kubernetes namespace the stack creates for the worker.",
    kinds.k8s_namespace(), KUBERNETES, default="temporal-worker")
REPLICAS = Setting(
    "replicas", "Number of worker pods.", kinds.integer(0, 2**31 - 1), KUBERNETES, default=3,
    arg=True)
CPU_REQUEST = Setting(
    "cpuRequest", "CPU request of the worker container. The default is about what the worker "
    "on its defaults uses for 12 workflows/s (~20 ms of CPU each, bench/README.md).",
    kinds.quantity(), KUBERNETES, default="250m", arg=True)
MEMORY_REQUEST = Setting(
    "memoryRequest", "Memory request of the worker container. The default covers the worker's "
    "peak resident memory under load on its defaults (bench/README.md).", kinds.quantity(),
    KUBERNETES, default="192Mi", arg=True)
CPU_LIMIT = Setting(
    "cpuLimit", "CPU limit of the worker container.", kinds.quantity(), KUBERNETES,
    default="500m", arg=True)
MEMORY_LIMIT = Setting(
    "memoryLimit", "Memory limit of the worker container.", kinds.quantity(), KUBERNETES,
    default="500Mi", arg=True)
PROBE_MODE = Setting(
    "probeMode", "http probes /healthz and /readyz; exec checks the heartbeat files' age.",
    kinds.choice("http", "exec"), KUBERNETES, default="http", arg=True)
AUTOSCALING = Setting(
    "autoscaling", "off, keda (scale on the task queue's backlog) or hpa (scale on CPU); with "
    "either, the Deployment leaves replicas to the autoscaler.",
    kinds.choice("off", "keda", "hpa"), PRODUCTION, default="off", arg=True)
MIN_REPLICAS = Setting(
    "minReplicas", "Fewest pods when autoscaling; 0 (KEDA only) scales to zero.",
    kinds.integer(0, 2**31 - 1), PRODUCTION, default=1, arg=True)
MAX_REPLICAS = Setting(
    "maxReplicas", "Most pods when autoscaling.", kinds.integer(1, 2**31 - 1), PRODUCTION,
    default=10, arg=True)
TARGET_QUEUE_SIZE = Setting(
    "targetQueueSize", "KEDA: task-queue backlog per pod to aim for.",
    kinds.integer(1, 1_000_000), PRODUCTION, default=5, arg=True)
ACTIVATION_TARGET_QUEUE_SIZE = Setting(
    "activationTargetQueueSize", "KEDA: backlog that wakes a queue scaled to zero (used only "
    "when minReplicas is 0).", kinds.integer(0, 1_000_000), PRODUCTION, default=0, arg=True)
TARGET_CPU_UTILIZATION = Setting(
    "targetCpuUtilization", "HPA: average CPU use, in percent of the request, to aim for.",
    kinds.integer(1, 1000), PRODUCTION, default=70, arg=True)
POD_DISRUPTION_BUDGET = Setting(
    "podDisruptionBudget", "A PodDisruptionBudget with maxUnavailable 1 (left out for a "
    "single pod without autoscaling).", kinds.boolean(), PRODUCTION, default=True, arg=True)
TOPOLOGY_SPREAD = Setting(
    "topologySpread", "Spread pods over zones and nodes (ScheduleAnyway).", kinds.boolean(),
    PRODUCTION, default=True, arg=True)
NETWORK_POLICY = Setting(
    "networkPolicy", "A NetworkPolicy: in only to the health and metrics ports; out only to "
    "DNS, Temporal's port and egressPorts (443 by default).", kinds.boolean(), PRODUCTION,
    default=True, arg=True)
EGRESS_PORTS = Setting(
    "egressPorts", "TCP ports the worker may reach on any address besides DNS and Temporal's "
    "port: 443 lets activities call HTTPS APIs; [] narrows egress to DNS and Temporal (the chat "
    "API's port is added when chatgptApiKey is set).", kinds.ports(), PRODUCTION, default=[443],
    arg=True)
METRICS_NAMESPACES = Setting(
    "metricsNamespaces", "Namespaces allowed to scrape the metrics port; empty allows every "
    "namespace.", kinds.namespaces(), PRODUCTION, default=[], arg=True)
POD_MONITOR = Setting(
    "podMonitor", "A Prometheus Operator PodMonitor for the metrics port.", kinds.boolean(),
    PRODUCTION, default=False, arg=True)
PROMETHEUS_RULE = Setting(
    "prometheusRule", "A Prometheus Operator PrometheusRule with the worker's alerts, scoped to "
    "its task queue.", kinds.boolean(), PRODUCTION, default=False, arg=True)
GRAFANA_DASHBOARD = Setting(
    "grafanaDashboard", 'A ConfigMap with the worker\'s Grafana dashboard, labelled '
    'grafana_dashboard: "1" for the Grafana sidecar.', kinds.boolean(), PRODUCTION,
    default=False, arg=True)
RELOADER = Setting(
    "reloader", "Annotate the Deployment for Stakater Reloader, so a change to a secretEnv "
    "Secret rolls the pods (env cannot change in a running pod; certificates and the API key "
    "reload in place).", kinds.boolean(), PRODUCTION, default=False, arg=True)
IMAGE_PULL_SECRET = Setting(
    "imagePullSecret", "Existing Secret the pods pull the image with (the stack makes one from "
    "registryUsername/registryPassword when those are set).", kinds.dns_subdomain(), PRODUCTION,
    arg=True)

SECRET_ENV = Setting(
    "secretEnv", "More secret env vars for the worker, as a JSON object NAME -> value.",
    kinds.env_map(lambda: reserved_env_names()), KUBERNETES, secret=True)

IMAGE_REPOSITORY = Setting(
    "imageRepository", "Repository the worker image is pushed to, without tag.",
    kinds.image_repository(), IMAGE, default="localhost:5001/temporal-worker")
IMAGE_TAG = Setting(
    "imageTag", "Image tag; unset derives src-<hash of the build context>. The Deployment "
    "always uses the pushed digest.", kinds.image_tag(), IMAGE)
IMAGE_PLATFORM = Setting(
    "imagePlatform", "Platform the image is built for.", kinds.platform(), IMAGE,
    default="linux/amd64")
REGISTRY_SERVER = Setting(
    "registryServer", "Registry to log in to for the push; unset uses the repository's host.",
    kinds.host(), IMAGE)
REGISTRY_USERNAME = Setting(
    "registryUsername", "Registry user for the push, with registryPassword; unset uses "
    "Docker's own credentials.", kinds.string(max_length=255), IMAGE)
REGISTRY_PASSWORD = Setting(
    "registryPassword", "Registry password or token for the push.", kinds.token(), IMAGE,
    secret=True)

DEV_SERVER = Setting(
    "devServer", "Also deploy an in-cluster Temporal dev server and use it without TLS.",
    kinds.boolean(), DEV, default=False)
DEV_SERVER_IMAGE = Setting(
    "devServerImage", "Image of the in-cluster dev server (the Temporal CLI image).",
    kinds.image_reference(), DEV, default="temporalio/temporal:1.9.1")

CHATGPT_API_KEY = Setting(
    "chatgptApiKey", "API key of the sample chat workflow's OpenAI-compatible API.",
    kinds.token(), WORKLOAD, env="CHATGPT_API_KEY", secret=True)
CHATGPT_BASE_URL = Setting(
    "chatgptBaseUrl", "Base URL of the OpenAI-compatible API the sample chat workflow calls.",
    kinds.url(), WORKLOAD, default=DEFAULT_CHATGPT_BASE_URL, env="CHATGPT_BASE_URL")
CHATGPT_MODEL = Setting(
    "chatgptModel", "Model the sample chat workflow asks for.", kinds.string(max_length=200),
    WORKLOAD, default="gpt-4o-mini", env="CHATGPT_MODEL")

SETTINGS: tuple[Setting, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Setting))
BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


def reserved_env_names() -> frozenset[str]:
    """Variables the spec gives a meaning; `secretEnv` may not shadow them."""
    return frozenset(name for s in SETTINGS for name in s.env_names)


# --- Rules across settings -----------------------------------------------------------------
def _together(first: str, second: str, why: str) -> Rule:
    def check(values: Mapping[str, Any]) -> None:
        if (values.get(first) is None) != (values.get(second) is None):
            missing = second if values.get(second) is None else first
            other = first if missing == second else second
            raise Invalid(missing, f"required when {{{other}}} is set ({why})")
    return Rule((first, second), check, f"`{first}` and `{second}` are set together ({why}).")


def _not_above(request: str, limit: str) -> Rule:
    def check(values: Mapping[str, Any]) -> None:
        if kinds.parse_quantity(values[request]) > kinds.parse_quantity(values[limit]):
            raise Invalid(request, f"{values[request]} must not exceed {{{limit}}} "
                                   f"({values[limit]})")
    return Rule((request, limit), check, f"`{request}` is at most `{limit}`.")


def _client_pair(values: Mapping[str, Any]) -> None:
    if values.get("tlsCert") is not None and values.get("tlsKey") is not None:
        try:
            pki.check_pair(values["tlsCert"], values["tlsKey"])
        except ValueError as err:
            raise Invalid("tlsKey", str(err)) from None


_REMOTE_ONLY = ("temporalAddress", "temporalApiKey", "tlsCert", "tlsKey", "tlsServerCa",
                "tlsServerName")


def _dev_server_is_local(values: Mapping[str, Any]) -> None:
    if values.get("devServer"):
        for name in _REMOTE_ONLY:
            if values.get(name) is not None:
                raise Invalid(name, "must not be set with {devServer}=true: the worker talks to "
                                    "the in-cluster dev server without TLS or API key")


def _ports_differ(values: Mapping[str, Any]) -> None:
    if values["healthPort"] and values["healthPort"] == values["metricsPort"]:
        raise Invalid("metricsPort", f"must differ from {{healthPort}} ({values['healthPort']})")


def _api_key_needs_tls(key: str) -> Callable[[Mapping[str, Any]], None]:
    def check(values: Mapping[str, Any]) -> None:
        if values.get(key) is not None and values.get("tls") is False:
            raise Invalid("tls", f"is false while {{{key}}} is set: the API key would be sent "
                                 "in cleartext; turn TLS on (or leave it unset) or remove the "
                                 "key")
    return check


def _one_api_key(values: Mapping[str, Any]) -> None:
    if values.get("temporalApiKey") is not None and values.get("temporalApiKeyFile") is not None:
        raise Invalid("temporalApiKeyFile", "must not be set with {temporalApiKey}: set the key "
                                            "one way (the file is reread when it changes)")


def _chat_key_needs_https(values: Mapping[str, Any]) -> None:
    url = values.get("chatgptBaseUrl")
    if values.get("chatgptApiKey") is None or not url or not url.startswith("http://"):
        return
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise Invalid("chatgptBaseUrl", f"is http:// to {host}, not this machine, while "
                                        "{chatgptApiKey} is set: the key would be sent in "
                                        "cleartext; use https://")


def _one_pull_secret(values: Mapping[str, Any]) -> None:
    if values.get("imagePullSecret") and values.get("registryUsername"):
        raise Invalid("imagePullSecret", "must not be set with {registryUsername}: the stack "
                                         "makes the pull Secret from the registry credentials")


def _sunset_order(values: Mapping[str, Any]) -> None:
    if values["sunsetDeleteDelay"] < values["sunsetScaledownDelay"]:
        raise Invalid("sunsetDeleteDelay", "must not be shorter than {sunsetScaledownDelay}: a "
                                           "build's pods go to zero before its Deployment goes")


def _reachable_for_rollouts(values: Mapping[str, Any]) -> None:
    if values.get("devServer") and values["rollout"] != "rolling":
        raise Invalid("rollout", "must be rolling with {devServer}: a versioned rollout asks "
                                 "Temporal which builds are live from where pulumi runs, and "
                                 "the in-cluster dev server cannot be reached from there")


def _versioned_only(values: Mapping[str, Any]) -> None:
    if values["rollout"] == "rolling":
        for name in ("gateWorkflow", "currentBuildId", "rolloutAdopt"):
            if values.get(name) is not None:
                raise Invalid(name, "needs {rollout} allAtOnce or progressive (worker "
                                    "versioning); rolling has no builds to choose between")


def _versioned_needs_signing_key(values: Mapping[str, Any]) -> None:
    if values["rollout"] != "rolling" and values.get("rolloutSigningKey") is None:
        raise Invalid("rolloutSigningKey", "required with {rollout} allAtOnce or progressive: "
                                           "the rollout signs each build's image record with "
                                           "it, so a namespace writer cannot choose what is "
                                           "deployed; create one with `openssl rand -base64 32 "
                                           "| pulumi config set --secret rolloutSigningKey`")


def _previous_key_differs(values: Mapping[str, Any]) -> None:
    previous = values.get("rolloutPreviousSigningKey")
    if previous is not None and previous == values.get("rolloutSigningKey"):
        raise Invalid("rolloutPreviousSigningKey", "is the same as {rolloutSigningKey}; set it "
                                                   "to the key used before the rotation")


def _keda_api_key_needs_public_ca(values: Mapping[str, Any]) -> None:
    if (values["autoscaling"] == "keda" and values.get("temporalApiKey") is not None
            and values.get("tlsServerCa") is not None and values.get("tlsCert") is None):
        raise Invalid("autoscaling", KEDA_API_KEY_PRIVATE_CA)


KEDA_API_KEY_PRIVATE_CA = (
    "keda cannot scale a worker that uses {temporalApiKey} with a private {tlsServerCa} and no "
    "{tlsCert}: KEDA's Temporal scaler uses a CA only together with a client certificate and "
    "key, so with an API key alone it checks the server against the system roots and its TLS "
    "fails; add mTLS ({tlsCert} and its key), use a server certificate from a public CA, or "
    "autoscaling hpa")
"""Why `autoscaling: keda` is refused with an API key and a private server CA but no client
certificate (the component raises it too, naming its own inputs)."""


def _poller_bounds(values: Mapping[str, Any]) -> None:
    if values["pollerBehavior"] != "autoscaling":
        return
    low, start, high = values["minPollers"], values["initialPollers"], values["maxPollers"]
    if low > high:
        raise Invalid("minPollers", f"{low} must not exceed {{maxPollers}} ({high})")
    if not low <= start <= high:
        raise Invalid("initialPollers", f"{start} must be between {{minPollers}} ({low}) and "
                                        f"{{maxPollers}} ({high})")


def _scaling_bounds(values: Mapping[str, Any]) -> None:
    if values["minReplicas"] > values["maxReplicas"]:
        raise Invalid("minReplicas", f"{values['minReplicas']} must not exceed {{maxReplicas}} "
                                     f"({values['maxReplicas']})")
    if values["minReplicas"] == 0 and values["autoscaling"] != "keda":
        raise Invalid("minReplicas", "0 needs {autoscaling}=keda: only KEDA scales a "
                                     "Deployment to zero and back (on the backlog, with "
                                     "{activationTargetQueueSize})")


RULES: tuple[Rule, ...] = (
    _together("tlsCert", "tlsKey", "mTLS needs both"),
    Rule(("tlsCert", "tlsKey"), _client_pair, "`tlsKey` is the key of `tlsCert`'s leaf."),
    _not_above("cpuRequest", "cpuLimit"),
    _not_above("memoryRequest", "memoryLimit"),
    _together("registryUsername", "registryPassword", "the push logs in with both"),
    Rule(("devServer", *_REMOTE_ONLY), _dev_server_is_local,
         "With `devServer`, no remote connection setting may be set."),
    Rule(("healthPort", "metricsPort"), _ports_differ, "Health and metrics ports differ."),
    _together("deploymentName", "buildId", "worker versioning needs both"),
    Rule(("sunsetScaledownDelay", "sunsetDeleteDelay"), _sunset_order,
         "`sunsetDeleteDelay` is at least `sunsetScaledownDelay`."),
    Rule(("devServer", "rollout"), _reachable_for_rollouts,
         "A versioned `rollout` needs a Temporal the program can reach (not `devServer`)."),
    Rule(("imagePullSecret", "registryUsername"), _one_pull_secret,
         "`imagePullSecret` or `registryUsername`: the stack makes the pull Secret from the "
         "latter."),
    Rule(("rollout", "rolloutSigningKey"), _versioned_needs_signing_key,
         "A versioned `rollout` needs `rolloutSigningKey`."),
    Rule(("rolloutSigningKey", "rolloutPreviousSigningKey"), _previous_key_differs,
         "`rolloutPreviousSigningKey` differs from `rolloutSigningKey`."),
    Rule(("rollout", "gateWorkflow", "currentBuildId", "rolloutAdopt"), _versioned_only,
         "`gateWorkflow`, `currentBuildId` and `rolloutAdopt` need a versioned `rollout`."),
    Rule(("autoscaling", "temporalApiKey", "tlsServerCa", "tlsCert"),
         _keda_api_key_needs_public_ca,
         "`autoscaling` keda is refused with `temporalApiKey` and a private `tlsServerCa` but "
         "no `tlsCert` (KEDA uses a CA only with a client certificate)."),
    Rule(("minReplicas", "maxReplicas", "autoscaling"), _scaling_bounds,
         "`minReplicas` is at most `maxReplicas`; 0 only with `autoscaling` keda."),
    Rule(("pollerBehavior", "minPollers", "initialPollers", "maxPollers"), _poller_bounds,
         "With `pollerBehavior` autoscaling, `minPollers` <= `initialPollers` <= `maxPollers`."),
    Rule(("temporalApiKey", "tls"), _api_key_needs_tls("temporalApiKey"),
         "`temporalApiKey` is never sent without TLS (`tls` false is refused with it)."),
    Rule(("temporalApiKeyFile", "tls"), _api_key_needs_tls("temporalApiKeyFile"),
         "`temporalApiKeyFile` is never sent without TLS either."),
    Rule(("temporalApiKey", "temporalApiKeyFile"), _one_api_key,
         "`temporalApiKey` or `temporalApiKeyFile`, not both."),
    Rule(("chatgptApiKey", "chatgptBaseUrl"), _chat_key_needs_https,
         "`chatgptApiKey` is sent only over https:// (http:// only to this machine's loopback)."),
)

ALIASES: Mapping[str, str] = {alias: s.env for s in SETTINGS for alias in s.aliases if s.env}
"""The seed article's variable names -> the standard ones they stand for."""
