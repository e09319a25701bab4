"""Temporal Worker Versioning for `pulumi up`: read a Worker Deployment's builds, keep its
version records trustworthy and few, and move its routing to a new build.

One module per concern: `connection` (reaching Temporal), `records` (the signed image record
of each build), `state` (reading the server's answers), `blocking` (running them from
synchronous code), `inputs` (the resources' checked inputs), `manager` (changing a deployment
as its manager), `engine` (the rollout), `upkeep` (deleting sunset versions, signing again) and
`provider` (the dynamic resources `WorkerVersions` and `WorkerRollout`). The names below are
the package's public API.
"""

from temporal_worker_k8s.versioning.blocking import describe_blocking, run_blocking
from temporal_worker_k8s.versioning.connection import (CONNECTION_FIELDS,
                                                       SECRET_CONNECTION_FIELDS, Connection,
                                                       OwnershipError, RolloutError,
                                                       UnreachableError)
from temporal_worker_k8s.versioning.engine import Rollout
from temporal_worker_k8s.versioning.inputs import (STRATEGIES, RolloutPlan, Step, UpkeepPlan,
                                                   input_problems, upkeep_problems,
                                                   worst_case_seconds)
from temporal_worker_k8s.versioning.provider import (WorkerRollout, WorkerRolloutProvider,
                                                     WorkerVersions, WorkerVersionsProvider,
                                                     stack_identity)
from temporal_worker_k8s.versioning.records import KeyRing, Recorded, Verdict, verify
from temporal_worker_k8s.versioning.state import (LIVE, RECORDING_FORMAT, DeploymentState,
                                                  Version, describe, describe_answer,
                                                  state_from_json)
from temporal_worker_k8s.versioning.upkeep import Upkeep, UpkeepResult
from temporal_worker_spec.values import build_id_of

__all__ = [
    "CONNECTION_FIELDS", "LIVE", "RECORDING_FORMAT", "SECRET_CONNECTION_FIELDS", "STRATEGIES",
    "Connection", "DeploymentState", "KeyRing", "OwnershipError", "Recorded", "Rollout",
    "RolloutError", "RolloutPlan", "Step", "UnreachableError", "Upkeep", "UpkeepPlan",
    "UpkeepResult", "Verdict", "Version", "WorkerRollout", "WorkerRolloutProvider",
    "WorkerVersions", "WorkerVersionsProvider", "build_id_of", "describe", "describe_answer",
    "describe_blocking", "input_problems", "run_blocking", "stack_identity", "state_from_json",
    "upkeep_problems", "verify", "worst_case_seconds",
]
