"""Fixed facts shared by the Kubernetes side and the worker process: paths, ports, identity.

Environment variable names are not here: each belongs to its setting in
`temporal_worker_spec.settings`. Standard library only.
"""

from __future__ import annotations

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
# The Temporal API key is mounted as a file (not env), so a rotated Secret reaches the running
# worker: kubelet swaps the volume's files and the worker rereads them.
API_KEY_MOUNT_DIR = "/etc/temporal/api-key"
API_KEY_FILE = "api-key"
API_KEY_PATH = f"{API_KEY_MOUNT_DIR}/{API_KEY_FILE}"

# --- Health, metrics -------------------------------------------------------------------------
HEALTH_PORT = 8080
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
METRICS_PORT = 9464
METRICS_PATH = "/metrics"
# The worker's own metrics on that endpoint, beside the SDK's (alerts are written on them). Each
# carries the `namespace` and `task_queue` labels, as the SDK's metrics do.
WORKER_READY_METRIC = "temporal_worker_ready"
"""Gauge: 1 while the worker is ready (what /readyz answers), else 0."""
CERT_EXPIRY_METRIC = "temporal_worker_client_certificate_expiry_timestamp_seconds"
"""Gauge: when the client certificate in use expires (notAfter), in seconds since the epoch."""
CREDENTIAL_RELOADS_METRIC = "temporal_worker_credential_reloads_total"
"""Counter by `credential` (tls, api_key) and `result` (applied, refused, failed)."""
CREDENTIAL_RELOAD_FAILING_METRIC = "temporal_worker_credential_reload_failing"
"""Gauge by `credential`: 1 while the files hold credentials the worker refused or could not
connect with (it keeps using the previous ones), else 0."""
# File-heartbeat mode (for clusters that prefer exec probes): the worker rewrites the readiness
# file while ready and removes it when not; it touches the liveness file while its event loop
# runs, whatever Temporal's state. The probe command fails when a file is missing or too old.
HEARTBEAT_FILE = "/tmp/worker-ready"
HEARTBEAT_MAX_AGE_SECONDS = 30
LIVENESS_FILE = "/tmp/worker-alive"
LIVENESS_MAX_AGE_SECONDS = 30
PROBE_MODULE = "worker.probe"

# --- Process identity and filesystem ---------------------------------------------------------
RUN_AS_UID = 10001
RUN_AS_GID = 10001
WRITABLE_DIR = "/tmp"  # the only writable path under readOnlyRootFilesystem
ENTRYPOINT = ("python", "-m", "worker")

# --- Rollout gate ------------------------------------------------------------------------------
# The rollout adds this key to the gate workflow's input object: which step it checks (step 0
# before any traffic, then 1..steps after each ramp step) and at what percentage.
GATE_STEP_KEY = "rollout_step"

# --- Shutdown ----------------------------------------------------------------------------------
# Kubernetes waits this much longer than the worker's drain budget before SIGKILL, for
# connection teardown and exit.
TERMINATION_GRACE_MARGIN_SECONDS = 15


def termination_grace_period_seconds(graceful_shutdown_seconds: int) -> int:
    """Pod `terminationGracePeriodSeconds` that lets the worker drain before SIGKILL."""
    return graceful_shutdown_seconds + TERMINATION_GRACE_MARGIN_SECONDS


def heartbeat_probe_command(heartbeat_file: str = HEARTBEAT_FILE,
                            max_age_seconds: int = HEARTBEAT_MAX_AGE_SECONDS) -> list[str]:
    """Exec-probe command that passes only when `heartbeat_file` is fresh.

    Readiness checks HEARTBEAT_FILE; liveness and startup check LIVENESS_FILE with
    LIVENESS_MAX_AGE_SECONDS, so a Temporal outage makes pods unready, never restarted.
    """
    return ["python", "-m", PROBE_MODULE, "--file", heartbeat_file,
            "--max-age", str(max_age_seconds)]
