"""Which builds keep running during a versioned rollout, decided from what Temporal reports and
what the stack itself signed.

Pure functions: `temporal_worker_k8s.versioning.describe` asks the server, these decide. A build
Temporal still routes to (Current, Ramping) or that still has pinned workflows (Draining) keeps
its Deployment. A drained build keeps its pods for the scale-down delay, then an empty
Deployment until the delete delay, then is left out (so `pulumi up` deletes it) and its version
is deleted from Temporal by a later update.

The image of every build kept is the one its record in Temporal names only if the stack's key
verifies the record (or the stack's config adopts the build); otherwise the plan reports a
problem and the program stops before any resource, never changing an image or dropping a live
build's Deployment.
"""

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from temporal_worker_k8s.worker_args import BuildVersion
from temporal_worker_k8s.versioning.records import KeyRing, verify
from temporal_worker_spec import values as kinds

LIVE = frozenset({"CURRENT", "RAMPING", "DRAINING"})
"""Statuses whose builds keep their pods whatever the delays."""
RUNNING_WITHIN_SECONDS = 90.0
"""A build whose workers polled this recently still has pods: a running worker polls again at
least once a minute (the server ends an idle long poll after 60 s)."""


@dataclass(frozen=True)
class Plan:
    """The older builds to run beside the new one, and what else the update must do."""

    versions: list[BuildVersion]
    """Older builds with a Deployment this update (replicas 0: scale-down phase)."""
    notes: list[str] = field(default_factory=list)
    """Why each other build is or is not run (info)."""
    warnings: list[str] = field(default_factory=list)
    """Things a user should look at that do not stop the update."""
    problems: list[str] = field(default_factory=list)
    """Builds whose image cannot be trusted: the update must stop before any resource."""
    sunset: list[str] = field(default_factory=list)
    """Builds whose versions go from Temporal now: past the delete delay, no pods polling
    (their Deployments went in an earlier update), oldest first."""
    going: list[str] = field(default_factory=list)
    """Builds past the delete delay whose pods still poll: their Deployments go in this update,
    their versions in a later one (Temporal refuses to delete a version with pollers)."""
    records: list[dict] = field(default_factory=list)
    """{build_id, image} records to sign again (previous key, adopted builds)."""
    images: dict[str, str] = field(default_factory=dict)
    """The trusted image of every build with a Deployment (rollback targets)."""


def build_id_for_tag(tag: str) -> str:
    """An image tag made a build ID: lowercase, [a-z0-9-], at most 63, alphanumeric ends."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", tag.lower())[:63].strip("-")
    return cleaned or "build"


def plan(versions: Sequence[Any], new_build_id: str, *, deployment_name: str, keys: KeyRing,
         now: datetime.datetime, scaledown_after: int, delete_after: int,
         adopt: Optional[Mapping[str, str]] = None,
         running_within: float = RUNNING_WITHIN_SECONDS) -> Plan:
    """Decide, for each version Temporal reports (`versioning.Version`), whether its
    Deployment runs with pods, runs empty, or goes (and its version with it)."""
    adopt = dict(adopt or {})
    result = Plan([])
    for version in versions:
        if version.build_id == new_build_id:
            continue
        since = version.drained_since or version.created
        age = (now - since).total_seconds() if since else float("inf")
        live = version.status in LIVE
        if not live and age >= delete_after:
            polled = version.last_polled
            if polled is not None and (now - polled).total_seconds() < running_within:
                result.going.append(version.build_id)
                image = verify(version.record, keys, deployment_name, version.build_id).image
                if image is not None:
                    result.images[version.build_id] = image
                result.notes.append(f"{version.build_id}: {version.status.lower()} for "
                                    f"{_span(age)}; its Deployment is deleted, and its version "
                                    "in Temporal by a later update, once its pods have stopped")
            else:
                result.sunset.append(version.build_id)
                result.notes.append(f"{version.build_id}: {version.status.lower()} for "
                                    f"{_span(age)}; no pods: its version in Temporal is "
                                    "deleted")
            continue
        image = _trusted_image(version, deployment_name, keys, adopt, result)
        if image is None:
            continue
        result.images[version.build_id] = image
        if live or age < scaledown_after:
            result.versions.append(BuildVersion(build_id=version.build_id, image=image))
            if not live:
                result.notes.append(f"{version.build_id}: {version.status.lower()} for "
                                    f"{_span(age)}; its pods go to zero after "
                                    f"{_span(scaledown_after)}")
        else:
            result.versions.append(BuildVersion(build_id=version.build_id, image=image,
                                                replicas=0))
            result.notes.append(f"{version.build_id}: {version.status.lower()} for {_span(age)}; "
                                f"no pods, its Deployment goes after {_span(delete_after)}")
    for build_id in sorted(set(adopt) - {v.build_id for v in versions}):
        result.warnings.append(f"rolloutAdopt names build {build_id}, which Temporal does not "
                               "list; remove it from rolloutAdopt")
    return result


def _trusted_image(version: Any, deployment_name: str, keys: KeyRing, adopt: dict[str, str],
                   result: Plan) -> Optional[str]:
    """The image to deploy for `version`, or None (with a problem or warning recorded)."""
    build_id, status = version.build_id, version.status
    label_problem = _label_problem(build_id)
    verdict = verify(version.record, keys, deployment_name, build_id)
    if build_id in adopt:
        adopted = adopt[build_id]
        if verdict.image is not None and verdict.image != adopted:
            result.problems.append(
                f"build {build_id} ({status}): rolloutAdopt names {adopted}, but the stack's "
                f"own signed record names {verdict.image}; remove the rolloutAdopt entry (or "
                "correct it)")
            return None
        if verdict.image is None or verdict.resign:
            result.records.append({"build_id": build_id, "image": adopted})
            reason = verdict.problem or "its record is signed with the previous key"
            result.warnings.append(f"build {build_id} ({status}): {reason}; deploying "
                                   f"{adopted} as rolloutAdopt says, and signing its record "
                                   "again")
        else:
            result.warnings.append(f"build {build_id}: its record is signed with the current "
                                   "key; its rolloutAdopt entry is no longer needed")
        return adopted if not label_problem else _refuse(result, version, label_problem)
    if verdict.image is None:
        if version.record is None and status not in LIVE:
            result.warnings.append(f"build {build_id} ({status}): Temporal holds no image record "
                                   "for it (no rollout of this stack made it Current or "
                                   "Ramping), so it is not deployed from here")
            return None
        return _refuse(result, version, verdict.problem)
    if verdict.resign:
        result.records.append({"build_id": build_id, "image": verdict.image})
        result.notes.append(f"build {build_id}: its record is signed with "
                            "rolloutPreviousSigningKey; it is signed again with "
                            "rolloutSigningKey")
    if label_problem:
        return _refuse(result, version, label_problem)
    return verdict.image


def _refuse(result: Plan, version: Any, problem: Optional[str]) -> None:
    result.problems.append(f"build {version.build_id} ({version.status}): {problem}")
    return None


def _label_problem(build_id: str) -> Optional[str]:
    try:
        kinds.build_id().parse(build_id)
    except ValueError as err:
        return f"its build ID {err}"
    return None


def room_needed(versions: Sequence[Any], new_build_id: str, decided: Plan, limit: int) -> int:
    """How many sunset versions Temporal must delete before the new build can register under
    a cap of `limit` versions.

    ValueError when even deleting every version past the delete delay is not enough. `Wait`
    when it would be enough, but some of them still have pods polling (their Deployments go
    in this update): the new build's version cannot be registered in this update.
    """
    listed = len(versions)
    adding = 0 if any(v.build_id == new_build_id for v in versions) else 1
    needed = max(0, listed + adding - limit)
    if needed <= len(decided.sunset):
        return needed
    if needed <= len(decided.sunset) + len(decided.going):
        raise Wait(
            f"the new build's version cannot be registered yet: Temporal lists {listed} "
            f"versions and allows {limit} per Worker Deployment, and the old builds that can "
            f"go ({', '.join(decided.going)}) still have pods polling, so Temporal refuses to "
            "delete their versions. This update scales them to zero and keeps the Current "
            "build as it is; run the update again in about 5 minutes (Temporal forgets a "
            "stopped worker's pollers about 5 minutes after its last poll)")
    kept = listed - len(decided.sunset) - len(decided.going)
    raise ValueError(
        f"the new build needs room for its version, but {kept} of the {listed} versions "
        f"Temporal lists are still live or inside sunsetDeleteDelay, and Temporal allows "
        f"{limit} per Worker Deployment; nothing was changed. Shorten sunsetScaledownDelay "
        "and sunsetDeleteDelay, wait for pinned workflows on old builds to finish, or raise "
        "the server's matching.maxVersionsInDeployment (and maxVersions with it)")


class Wait(Exception):
    """The new build must wait for a later update: its version would exceed Temporal's cap
    until builds whose pods this update stops are deleted."""


def rollback_image(decided: Plan, build_id: str) -> Optional[str]:
    """The trusted image of the build to make Current again, if it still has a Deployment."""
    if build_id not in {v["build_id"] for v in decided.versions}:
        return None
    return decided.images.get(build_id)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
