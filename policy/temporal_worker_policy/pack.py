"""The CrossGuard policy pack: `POLICIES` as `pulumi_policy` policies, served to the engine.

Resource policies run on each `kubernetes:apps/v1:Deployment` as the engine registers it
(Analyze); stack policies run once on the whole stack (AnalyzeStack). Both look only at
Deployments that run a Temporal worker (`checks.worker_reason`), whoever made them.
"""

from __future__ import annotations

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, PolicyPack,
                           ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)

from . import checks
from .policies import POLICIES, RESOURCE, Policy

PACK_NAME = "temporal-worker"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _schema(policy: Policy) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties={k: dict(v) for k, v in policy.config.items()}) \
        if policy.config else None


def _resource(policy: Policy) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type != DEPLOYMENT:
            return
        if not checks.worker_reason(args.props):
            args.not_applicable("not a Temporal worker: no TEMPORAL_* variable, no temporal.io/ "
                                "label, no TemporalWorker labels")
        for problem in policy.check(args.props, policy.settings(args.get_config())):
            report(problem)

    return ResourceValidationPolicy(name=policy.name, description=policy.description,
                                    validate=validate,
                                    enforcement_level=EnforcementLevel(policy.level),
                                    config_schema=_schema(policy))


def _stack(policy: Policy) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        objects = [r.props for r in args.resources if r.resource_type.startswith("kubernetes:")]
        settings = policy.settings(args.get_config())
        for resource in args.resources:
            if resource.resource_type == DEPLOYMENT and checks.worker_reason(resource.props):
                for problem in policy.check(objects, resource.props, settings):
                    report(problem, resource.urn)

    return StackValidationPolicy(name=policy.name, description=policy.description,
                                 validate=validate,
                                 enforcement_level=EnforcementLevel(policy.level),
                                 config_schema=_schema(policy))


def serve() -> None:
    """Start the analyzer the engine talks to; prints its port and serves until killed."""
    PolicyPack(name=PACK_NAME,
               policies=[_resource(p) if p.scope == RESOURCE else _stack(p) for p in POLICIES])
