"""The contract between the Kubernetes Deployment and the worker process.

Environment variable names, mount paths, health and metrics ports and paths, the security
identity and the graceful-shutdown budget live here and only here. The Pulumi component
(`components/temporal_worker.py`) and the worker (`worker/settings.py`, `worker/health.py`)
both import this module; neither copies a literal from the other. Standard library only.
"""

from __future__ import annotations

# --- Temporal connection: the standard names read by temporalio.envconfig -------------------
ENV_ADDRESS = "TEMPORAL_ADDRESS"
ENV_NAMESPACE = "TEMPORAL_NAMESPACE"
ENV_API_KEY = "TEMPORAL_API_KEY"
ENV_TLS = "TEMPORAL_TLS"
ENV_TLS_CLIENT_CERT_PATH = "TEMPORAL_TLS_CLIENT_CERT_PATH"
ENV_TLS_CLIENT_KEY_PATH = "TEMPORAL_TLS_CLIENT_KEY_PATH"
ENV_TLS_SERVER_CA_CERT_PATH = "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
ENV_TLS_SERVER_NAME = "TEMPORAL_TLS_SERVER_NAME"

# The seed article's names, accepted by the worker as aliases of the standard ones.
ALIASES: dict[str, str] = {
    "TEMPORAL_HOST_URL": ENV_ADDRESS,
    "TEMPORAL_MTLS_TLS_CERT": ENV_TLS_CLIENT_CERT_PATH,
    "TEMPORAL_MTLS_TLS_KEY": ENV_TLS_CLIENT_KEY_PATH,
}

# --- Worker settings ---------------------------------------------------------------------
ENV_TASK_QUEUE = "TEMPORAL_TASK_QUEUE"
ENV_DEPLOYMENT_NAME = "TEMPORAL_DEPLOYMENT_NAME"
ENV_BUILD_ID = "TEMPORAL_WORKER_BUILD_ID"
ENV_GRACEFUL_SHUTDOWN_SECONDS = "WORKER_GRACEFUL_SHUTDOWN_SECONDS"
ENV_HEALTH_PORT = "WORKER_HEALTH_PORT"
ENV_METRICS_PORT = "WORKER_METRICS_PORT"
ENV_LOG_FORMAT = "WORKER_LOG_FORMAT"
ENV_LOG_LEVEL = "WORKER_LOG_LEVEL"
ENV_HEARTBEAT_FILE = "WORKER_HEARTBEAT_FILE"
ENV_LIVENESS_FILE = "WORKER_LIVENESS_FILE"
ENV_CHATGPT_API_KEY = "CHATGPT_API_KEY"
ENV_CHATGPT_BASE_URL = "CHATGPT_BASE_URL"
ENV_CHATGPT_MODEL = "CHATGPT_MODEL"

DEFAULT_TASK_QUEUE = "temporal-worker"
DEFAULT_NAMESPACE = "default"
LOG_FORMATS = ("plain", "json")
DEFAULT_LOG_FORMAT = "json"

# --- Files mounted from Secrets ------------------------------------------------------------
# The kubernetes.io/tls Secret is mounted here; its standard keys become the file names.
TLS_MOUNT_DIR = "/etc/temporal/tls"
TLS_CERT_KEY = "tls.crt"
TLS_KEY_KEY = "tls.key"
TLS_CERT_PATH = f"{TLS_MOUNT_DIR}/{TLS_CERT_KEY}"
TLS_KEY_PATH = f"{TLS_MOUNT_DIR}/{TLS_KEY_KEY}"
# A private server CA (optional) is mounted separately so it can come from another Secret.
SERVER_CA_MOUNT_DIR = "/etc/temporal/server-ca"
SERVER_CA_KEY = "ca.crt"
SERVER_CA_PATH = f"{SERVER_CA_MOUNT_DIR}/{SERVER_CA_KEY}"

# --- Health, metrics -------------------------------------------------------------------------
HEALTH_PORT = 8080
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
METRICS_PORT = 9464
METRICS_PATH = "/metrics"
# File-heartbeat mode (for clusters that prefer exec probes): the worker rewrites the readiness
# file while ready and removes it when not; it touches the liveness file while its event loop
# runs, whatever Temporal's state. The probe command fails when a file is missing or too old.
DEFAULT_HEARTBEAT_FILE = "/tmp/worker-ready"
HEARTBEAT_INTERVAL_SECONDS = 5
HEARTBEAT_MAX_AGE_SECONDS = 30
DEFAULT_LIVENESS_FILE = "/tmp/worker-alive"
LIVENESS_MAX_AGE_SECONDS = 30
PROBE_MODULE = "worker.probe"

# --- Process identity and filesystem ---------------------------------------------------------
RUN_AS_UID = 10001
RUN_AS_GID = 10001
WRITABLE_DIR = "/tmp"  # the only writable path under readOnlyRootFilesystem
APP_DIR = "/app"
ENTRYPOINT = ("python", "-m", "worker")

# --- Shutdown ----------------------------------------------------------------------------------
# In-flight activities get this long to finish after SIGTERM ...
DEFAULT_GRACEFUL_SHUTDOWN_SECONDS = 30
# ... and Kubernetes waits this much longer before SIGKILL, for connection teardown and exit.
TERMINATION_GRACE_MARGIN_SECONDS = 15


def termination_grace_period_seconds(graceful_shutdown_seconds: int) -> int:
    """Pod `terminationGracePeriodSeconds` that lets the worker drain before SIGKILL."""
    return graceful_shutdown_seconds + TERMINATION_GRACE_MARGIN_SECONDS


def heartbeat_probe_command(heartbeat_file: str = DEFAULT_HEARTBEAT_FILE,
                            max_age_seconds: int = HEARTBEAT_MAX_AGE_SECONDS) -> list[str]:
    """Exec-probe command that passes only when `heartbeat_file` is fresh.

    Readiness checks DEFAULT_HEARTBEAT_FILE; liveness and startup check DEFAULT_LIVENESS_FILE
    with LIVENESS_MAX_AGE_SECONDS, so a Temporal outage makes pods unready, never restarted.
    """
    return ["python", "-m", PROBE_MODULE, "--file", heartbeat_file,
            "--max-age", str(max_age_seconds)]
