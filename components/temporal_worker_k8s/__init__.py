"""Pulumi components that run Temporal workers on Kubernetes.

    from temporal_worker_k8s import TemporalWorker

`TemporalWorker` and `TemporalDevServer` are ComponentResources usable from Python directly and,
through this directory's PulumiPlugin.yaml, from every Pulumi language.
"""

from importlib import metadata

from temporal_worker_k8s.enums import (Autoscaling, DefaultVersioningBehavior, LogFormat,
                                      LogLevel, PollerBehavior, ProbeMode, Rollout, SlotTuner,
                                      TolerationEffect, TolerationOperator)
from temporal_worker_k8s.temporal_dev_server import TemporalDevServer, TemporalDevServerArgs
from temporal_worker_k8s.temporal_worker import PACKAGE, TemporalWorker
from temporal_worker_k8s.worker_args import SecretKeyRef, TemporalWorkerArgs, Toleration

COMPONENTS = [TemporalWorker, TemporalDevServer]
"""What the component provider hosts."""

try:
    __version__ = metadata.version(PACKAGE)
except metadata.PackageNotFoundError:  # run from a source checkout (the Pulumi plugin)
    __version__ = "0.0.0"

__all__ = ["COMPONENTS", "PACKAGE", "Autoscaling", "DefaultVersioningBehavior", "LogFormat",
           "LogLevel", "PollerBehavior", "ProbeMode", "Rollout", "SecretKeyRef", "SlotTuner",
           "TemporalDevServer", "TemporalDevServerArgs", "TemporalWorker", "TemporalWorkerArgs", "Toleration",
           "TolerationEffect", "TolerationOperator", "__version__"]
