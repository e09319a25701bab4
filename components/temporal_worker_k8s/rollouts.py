"""Which builds keep running during a versioned rollout, decided from what Temporal reports.

Pure functions: `temporal_worker_k8s.versioning.describe` asks the server, these decide. A build
Temporal still routes to (Current, Ramping) or that still has pinned workflows (Draining) keeps
its Deployment. A drained build keeps its pods for the scale-down delay, then keeps an empty
Deployment until the delete delay, then is left out (so `pulumi up` deletes it).
"""

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from temporal_worker_k8s.temporal_worker import BuildVersion

LIVE = frozenset({"CURRENT", "RAMPING", "DRAINING"})
"""Statuses whose builds keep their pods whatever the delays."""


@dataclass(frozen=True)
class Plan:
    """The older builds to run beside the new one, and why each other build is not run."""

    versions: list[BuildVersion]
    notes: list[str]


def build_id_for_tag(tag: str) -> str:
    """An image tag made a build ID: lowercase, [a-z0-9-], at most 63, alphanumeric ends."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", tag.lower())[:63].strip("-")
    return cleaned or "build"


def plan(versions: Sequence[Any], new_build_id: str, *, now: datetime.datetime,
         scaledown_after: int, delete_after: int) -> Plan:
    """Decide, for each version Temporal reports (`versioning.Version`), whether its
    Deployment runs with pods, runs empty, or goes."""
    kept: list[BuildVersion] = []
    notes: list[str] = []
    for version in versions:
        if version.build_id == new_build_id:
            continue
        if version.image is None:
            notes.append(f"{version.build_id} ({version.status}): no image recorded for it in "
                         "Temporal, so it is not deployed from here")
            continue
        if version.status in LIVE:
            kept.append(BuildVersion(build_id=version.build_id, image=version.image))
            continue
        since = version.drained_since or version.created
        age = (now - since).total_seconds() if since else float("inf")
        if age < scaledown_after:
            kept.append(BuildVersion(build_id=version.build_id, image=version.image))
            notes.append(f"{version.build_id}: {version.status.lower()} for {_span(age)}; its "
                         f"pods go to zero after {_span(scaledown_after)}")
        elif age < delete_after:
            kept.append(BuildVersion(build_id=version.build_id, image=version.image, replicas=0))
            notes.append(f"{version.build_id}: {version.status.lower()} for {_span(age)}; no "
                         f"pods, its Deployment goes after {_span(delete_after)}")
        else:
            notes.append(f"{version.build_id}: {version.status.lower()} for {_span(age)}; its "
                         "Deployment is deleted")
    return Plan(kept, notes)


def rollback_image(versions: Sequence[Any], build_id: str,
                   deployed: Sequence[BuildVersion]) -> Optional[str]:
    """The image of the build to make Current again, if it still has a Deployment."""
    if build_id not in {v["build_id"] for v in deployed}:
        return None
    return next((v.image for v in versions if v.build_id == build_id), None)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
