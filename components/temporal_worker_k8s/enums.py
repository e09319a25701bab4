"""The inputs with a fixed set of values, as enums: in the inferred schema they become enum
types, so TypeScript, Go and C# users get the values as constants.

Each enum's values are the settings spec's (`temporal_worker_spec`), in the same order; a test
checks them. Python programs may pass either a member or its value (`LogLevel.DEBUG` or
`"DEBUG"`); both are checked by the spec.
"""

from enum import StrEnum


class LogFormat(StrEnum):
    """Worker log format."""

    JSON = "json"
    """One JSON object per event."""
    PLAIN = "plain"
    """One plain line per event."""


class LogLevel(StrEnum):
    """Worker log level."""

    DEBUG = "DEBUG"
    """Everything, including each poll and task."""
    INFO = "INFO"
    """Start, stop, connection changes and task failures."""
    WARNING = "WARNING"
    """Only what needs attention."""
    ERROR = "ERROR"
    """Only failures."""


class PollerBehavior(StrEnum):
    """How many polls for tasks the worker keeps open."""

    AUTOSCALING = "autoscaling"
    """Between minPollers and maxPollers, following the server's feedback (server 1.28+)."""
    FIXED = "fixed"
    """Up to maxPollers."""


class SlotTuner(StrEnum):
    """How many tasks one worker pod runs at once."""

    FIXED = "fixed"
    """Up to maxConcurrentActivities and maxConcurrentWorkflowTasks."""
    RESOURCE_BASED = "resourceBased"
    """As many as keep the container under tunerTargetMemory and tunerTargetCpu."""


class DefaultVersioningBehavior(StrEnum):
    """What happens to a workflow that does not choose, under a versioned rollout."""

    AUTO_UPGRADE = "AUTO_UPGRADE"
    """It moves to the new Current build at its next workflow task."""
    PINNED = "PINNED"
    """It stays on the build it started on."""


class Rollout(StrEnum):
    """How a new image reaches production."""

    ROLLING = "rolling"
    """One Deployment, no worker versioning: a new image rolls the pods."""
    ALL_AT_ONCE = "allAtOnce"
    """A Deployment per build; the new build becomes Current once it polls."""
    PROGRESSIVE = "progressive"
    """A Deployment per build; new workflows ramp to the new build in steps."""


class ProbeMode(StrEnum):
    """How Kubernetes probes the worker."""

    HTTP = "http"
    """GET /healthz and /readyz on the health port."""
    EXEC = "exec"
    """Check the age of the heartbeat files the worker keeps fresh."""


class Autoscaling(StrEnum):
    """What scales the worker's Deployment."""

    OFF = "off"
    """Nothing: the replicas input sets the pod count."""
    KEDA = "keda"
    """A KEDA ScaledObject on the task queue's backlog."""
    HPA = "hpa"
    """An autoscaling/v2 HorizontalPodAutoscaler on CPU."""


class TolerationOperator(StrEnum):
    """How a toleration matches a taint (Kubernetes' values)."""

    EXISTS = "Exists"
    """Matches any value of the taint's key."""
    EQUAL = "Equal"
    """Matches the taint's key and value."""


class TolerationEffect(StrEnum):
    """Which taint effect a toleration matches (Kubernetes' values)."""

    NO_SCHEDULE = "NoSchedule"
    """Taints that keep new pods off the node."""
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    """Taints that keep new pods off the node when possible."""
    NO_EXECUTE = "NoExecute"
    """Taints that also evict running pods."""


BY_SETTING: dict[str, type[StrEnum]] = {
    "logFormat": LogFormat, "logLevel": LogLevel,
    "defaultVersioningBehavior": DefaultVersioningBehavior, "rollout": Rollout,
    "probeMode": ProbeMode, "autoscaling": Autoscaling, "pollerBehavior": PollerBehavior,
    "slotTuner": SlotTuner}
"""The enum of each component input the settings spec declares with a fixed set of values."""
