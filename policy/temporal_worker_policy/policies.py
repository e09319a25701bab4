"""The pack's policies, declared once: name, what it checks, default enforcement level, the
settings a platform team may configure (with their defaults) and the check it runs.

Plain data, no `pulumi_policy`: `pack` turns it into CrossGuard policies, and the README's
table of policies is generated from it (`python -m tools.specgen`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporal_worker_spec import contract
from temporal_worker_spec import settings as spec

from . import checks

MANDATORY, ADVISORY = "mandatory", "advisory"
RESOURCE, STACK = "resource", "stack"


@dataclass(frozen=True)
class Policy:
    """One policy of the pack."""

    name: str
    description: str
    """One line: what a compliant worker has."""
    level: str
    """Default enforcement level (`mandatory` fails the update, `advisory` warns)."""
    scope: str
    """`resource`: runs on each worker Deployment as it is registered; `stack`: runs on each
    worker Deployment with every other object of the stack at hand."""
    check: Callable[..., list[str]]
    """resource: (deployment, config) -> problems; stack: (objects, deployment, config)."""
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """JSON schema of each setting, with its `default` and `description`."""

    def settings(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The policy's settings: `given` over the declared defaults (integers as int: the
        engine sends every number as a double)."""
        values = {**{k: v["default"] for k, v in self.config.items()}, **(given or {})}
        return {k: checks.integer(v) if self.config.get(k, {}).get("type") == "integer"
                and checks.integer(v) is not None else v for k, v in values.items()}


def _drain(deployment, config) -> list[str]:
    return checks.grace_period(deployment, config["drainSeconds"], config["marginSeconds"])


def _secret_env(objects, deployment, config) -> list[str]:
    return checks.literal_secrets(deployment, checks.secret_values(objects),
                                  config["allowedNames"])


POLICIES: tuple[Policy, ...] = (
    Policy("temporal-worker-pod-security",
           "The worker's pods meet the Pod Security Standards 'restricted' profile.",
           MANDATORY, RESOURCE, lambda d, c: checks.pod_security(d)),
    Policy("temporal-worker-hardening",
           "The worker's containers set CPU and memory requests and limits, run as a uid at "
           "or above minUid with a read-only root, and mount no service-account token.",
           ADVISORY, RESOURCE, lambda d, c: checks.hardening(d, c["minUid"]),
           {"minUid": {"type": "integer", "minimum": 1, "default": 10000,
                       "description": "Lowest uid a container may run as."}}),
    Policy("temporal-worker-image-digest",
           "Every image of the worker's pods is pinned by digest (repository@sha256:...).",
           MANDATORY, RESOURCE, lambda d, c: checks.image_pinned(d)),
    Policy("temporal-worker-probes",
           "The worker container has liveness and readiness probes that test the worker: "
           "distinct, and never a command that passes whenever the container runs (ls /).",
           MANDATORY, RESOURCE, lambda d, c: checks.probes(d)),
    Policy("temporal-worker-grace-period",
           "terminationGracePeriodSeconds covers the worker's drain after SIGTERM plus "
           "marginSeconds.",
           MANDATORY, RESOURCE, _drain,
           {"drainSeconds": {"type": "integer", "minimum": 0,
                             "default": spec.GRACEFUL_SHUTDOWN_SECONDS.default,
                             "description": "Drain assumed for a worker that does not set "
                                            f"{spec.GRACEFUL_SHUTDOWN_SECONDS.env}."},
            "marginSeconds": {"type": "integer", "minimum": 0,
                              "default": contract.TERMINATION_GRACE_MARGIN_SECONDS,
                              "description": "Seconds the process gets after its drain to "
                                             "close connections and exit."}}),
    Policy("temporal-worker-namespace",
           "The worker runs in a namespace of its own, not default or a kube-* namespace.",
           ADVISORY, RESOURCE, lambda d, c: checks.dedicated_namespace(d)),
    Policy("temporal-worker-secret-env",
           "No env var of the worker's pods holds a secret as a literal value: not the value "
           "of a Secret in the stack, not a private key, not a secret-looking name (KEY, "
           "TOKEN, PASSWORD, ...) with a literal.",
           MANDATORY, STACK, _secret_env,
           {"allowedNames": {"type": "array", "items": {"type": "string"}, "default": [],
                             "description": "Env var names allowed a literal value although "
                                            "they look secret."}}),
    Policy("temporal-worker-network-policy",
           "A NetworkPolicy selects the worker's pods and lets through what the worker needs: "
           "its probe and metrics ports in; DNS and Temporal's port out.",
           MANDATORY, STACK, lambda o, d, c: checks.network_policy(o, d)),
    Policy("temporal-worker-disruption-budget",
           "A PodDisruptionBudget selects the pods of a worker that runs minReplicas or more "
           "pods or is autoscaled.",
           MANDATORY, STACK, lambda o, d, c: checks.disruption_budget(o, d, c["minReplicas"]),
           {"minReplicas": {"type": "integer", "minimum": 1, "default": 2,
                            "description": "Pod count from which a budget is required."}}),
    Policy("temporal-worker-autoscaler",
           "An autoscaler of the worker scales its Deployment, watches its own task queue, and "
           "the Deployment sets no replicas to fight it.",
           ADVISORY, STACK, lambda o, d, c: checks.autoscaling(o, d)),
)
BY_NAME: Mapping[str, Policy] = {p.name: p for p in POLICIES}


def run(policy: Policy, deployment: Mapping[str, Any], objects: Sequence[Mapping[str, Any]] = (),
        given: Mapping[str, Any] | None = None) -> list[str]:
    """`policy`'s problems with `deployment` (a worker), among `objects` for stack policies."""
    settings = policy.settings(given)
    if policy.scope == RESOURCE:
        return policy.check(deployment, settings)
    return policy.check(objects, deployment, settings)
