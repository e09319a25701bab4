"""Ownership against a real dev server: a rollout claims the Worker Deployment's manager identity,
so a person's `temporal worker deployment` change is refused by the server; a person who takes
the identity with the CLI makes the next rollout stop naming them, unless it may take over."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from temporal_worker_k8s.versioning import OwnershipError, WorkerRolloutProvider
from tests.rollouts.conftest import IDENTITY, TwoBuilds
from tools.devserver import temporal_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
OPERATOR = "ops-alice@laptop"


def cli(builds: TwoBuilds, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [temporal_cli(), "worker", "deployment", *args, "--deployment-name",
         builds.deployment_name, "--address", builds.server.address, "--namespace", "default"],
        capture_output=True, text=True, timeout=60)


async def test_a_person_taking_the_manager_identity_stops_the_next_rollout_naming_them(
        builds: TwoBuilds) -> None:
    provider = WorkerRolloutProvider()
    v1, v2 = builds.build("v1"), builds.build("v2")
    created = await asyncio.to_thread(provider.create, builds.props("v1"))
    assert (await builds.state()).manager_identity == IDENTITY

    # While the stack manages it, a hand-made routing change is refused by the server.
    refused = cli(builds, "set-current-version", "--build-id", v2, "--yes")
    assert refused.returncode != 0
    assert f"ManagerIdentity '{IDENTITY}' is set" in refused.stderr + refused.stdout
    assert (await builds.state()).current_build_id == v1

    taken = cli(builds, "manager-identity", "set", "--manager-identity", OPERATOR, "--yes")
    assert taken.returncode == 0, taken.stderr
    with pytest.raises(OwnershipError) as raised:
        await asyncio.to_thread(provider.update, created.id, created.outs, builds.props("v2"))
    message = str(raised.value)
    print(f"\nanother manager: {message}")
    assert raised.value.holder == OPERATOR
    assert f"is managed by '{OPERATOR}' (its manager identity), not by this stack " \
           f"('{IDENTITY}'); nothing was changed" in message
    assert f"manager-identity unset --deployment-name {builds.deployment_name}" in message
    state = await builds.state()
    assert state.current_build_id == v1 and state.manager_identity == OPERATOR

    # With take_over the rollout claims it back and goes ahead.
    updated = await asyncio.to_thread(provider.update, created.id, created.outs,
                                      builds.props("v2", take_over=True))
    assert updated.outs["current_build_id"] == v2
    state = await builds.state()
    assert state.current_build_id == v2 and state.manager_identity == IDENTITY
