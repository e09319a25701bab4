"""Trust: the real `__main__.py` under mocks, with the recorded Temporal answer rewritten as a
namespace writer (or a broken tool) could rewrite it. Whatever the metadata holds, no image is
changed and no live build's Deployment dropped: the program stops before any resource, with one
message naming the build and what is wrong, or deploys only what the stack signed or adopted.
"""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Callable

import pulumi
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

import stack.rollout
from temporal_worker_k8s import versioning
from temporal_worker_k8s.versioning import records
from tests.program.helpers import DEPLOYMENT
from tests.program.test_rollout_stack import (RECORDED, STATE, at, the_rollout,
                                              worker_deployments)
from tools.mockstack import StackRun, run_stack
from tools.record_worker_deployment import RECORDING_KEY

DATA = json.loads(RECORDED.read_text())
BUILDS = {v.status: v for v in STATE.versions}
DRAINED, DRAINING, CURRENT, RAMPING, INACTIVE = (
    BUILDS[s] for s in ("DRAINED", "DRAINING", "CURRENT", "RAMPING", "INACTIVE"))
IMAGES = {v.build_id: v.record.image for v in STATE.versions if v.record}
DEPLOYMENT_NAME = STATE.deployment_name
EVIL = "evil.example/backdoor:latest"
OTHER_KEY = "someone-elses-signing-key-0123456789abcdef"
NEW_KEY = "the-rotated-signing-key-fedcba9876543210"
MESSAGE_LIMIT = 4000
"""Every refusal fits in a few lines, whatever Temporal holds (a 200,000-character image)."""


def json_payload(value) -> Payload:
    return DataConverter.default.payload_converter.to_payloads([value])[0]


def raw_payload(data: bytes, encoding: bytes = b"json/plain") -> Payload:
    return Payload(metadata={"encoding": encoding}, data=data)


def entries_of(build_id: str) -> dict:
    version = DATA["describe_worker_deployment_version"][build_id]
    return version["workerDeploymentVersionInfo"].get("metadata", {}).get("entries", {})


def signed(build_id: str, image: str, key: str = RECORDING_KEY,
           for_build: str | None = None) -> dict[str, Payload]:
    return {records.RECORD_KEY: records.encode(key, DEPLOYMENT_NAME, for_build or build_id,
                                               image)}


def rewritten(changes: dict[str, dict[str, Payload] | None]) -> versioning.DeploymentState:
    """The recording with the metadata entries of some builds replaced (None: no metadata)."""
    data = copy.deepcopy(DATA)
    for build_id, entries in changes.items():
        info = data["describe_worker_deployment_version"][build_id]["workerDeploymentVersionInfo"]
        if entries is None:
            info.pop("metadata", None)
        else:
            info["metadata"] = {"entries": {k: json_format.MessageToDict(p)
                                            for k, p in entries.items()}}
    return versioning.state_from_json(data)


@pytest.fixture
def temporal(monkeypatch) -> Callable[[versioning.DeploymentState], None]:
    """Makes the program's describe answer with the given state."""
    def answer(state: versioning.DeploymentState) -> None:
        monkeypatch.setattr(versioning, "describe_blocking", lambda *args, **kwargs: state)
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(minutes=30))
    answer(STATE)
    return answer


def run(prod_config, **settings) -> StackRun:
    return run_stack({**prod_config, "rollout": "allAtOnce", "rolloutSigningKey": RECORDING_KEY,
                      **settings}, stack="prod")


def refused(prod_config, **settings) -> str:
    """The one message the program stops with, after checking it registered nothing."""
    with pytest.raises(ValueError) as caught:
        run(prod_config, **settings)
    assert caught.value.registered_resources == ()
    assert isinstance(caught.value, pulumi.RunError), "Pulumi prints it without a traceback"
    message = str(caught.value)
    assert len(message) < MESSAGE_LIMIT, len(message)
    assert "\n" not in message
    return message


TAMPERED = {
    "an unsigned image (1.x format)": (
        {records.LEGACY_IMAGE_KEY: json_payload(EVIL)},
        f"its image record is unsigned (it names '{EVIL}')"),
    "the image rewritten, signature kept": (
        {records.RECORD_KEY: json_payload({
            **json.loads(records.encode(RECORDING_KEY, DEPLOYMENT_NAME, "x", "y").data),
            "image": EVIL})},
        f"its image record (naming '{EVIL}') does not match its signature"),
    "another build's record copied over": (
        lambda build: signed(*next((b.build_id, IMAGES[b.build_id]) for b in (RAMPING, CURRENT)
                                   if b != build)),
        "does not match its signature: it was changed after the stack wrote it, or copied "
        "from another build"),
    "the record removed": ({}, "Temporal holds no image record for it"),
    "signed with someone else's key": (
        signed(CURRENT.build_id, EVIL, key=OTHER_KEY),
        f"signed with a key this stack does not hold (key id '{records.key_id(OTHER_KEY)}'; "
        f"rolloutSigningKey has key id {records.key_id(RECORDING_KEY)})"),
    "an unknown payload encoding": (
        {records.RECORD_KEY: raw_payload(b"\x28\xb5\x2f\xfd", b"binary/zstd")},
        "has encoding 'binary/zstd', not json/plain"),
    "bad JSON": ({records.RECORD_KEY: raw_payload(b"{not json")}, "is not valid JSON"),
    "JSON 42": ({records.RECORD_KEY: raw_payload(b"42")}, "is the number 42, not a record"),
    "a 200,000-character image": (
        {records.LEGACY_IMAGE_KEY: json_payload("r" * 200_000)},
        "is 200002 bytes long; a record is at most 4096"),
    "JSON nested 2,000 deep": (
        {records.RECORD_KEY: raw_payload(b"[" * 2000 + b"]" * 2000)}, "is not valid JSON"),
    "bytes that are not UTF-8": (
        {records.RECORD_KEY: raw_payload(b"\xff\xfe{}")}, "is not valid JSON"),
    "a newer record version": (
        {records.RECORD_KEY: json_payload({"v": 2, "image": EVIL})}, "has record version 2"),
}


@pytest.mark.parametrize("case, victim", [
    (case, victim) for case in TAMPERED for victim in ("CURRENT", "RAMPING", "DRAINING", "DRAINED")
    # A build Temporal no longer routes to that has no record at all is not ours (tested below).
    if not (case == "the record removed" and victim == "DRAINED")], ids=str)
def test_a_tampered_record_stops_the_program_before_any_resource(prod_config, temporal, case,
                                                                 victim):
    entries, expected = TAMPERED[case]
    build = BUILDS[victim]
    temporal(rewritten({build.build_id: entries(build) if callable(entries) else entries}))
    message = refused(prod_config)
    assert message.startswith("temporal-worker:rollout: cannot trust what Temporal records for "
                              "1 build(s) of Worker Deployment payments-workers/temporal-worker, "
                              "so nothing was deployed or changed: "
                              f"build {build.build_id} ({victim}): "), message
    assert expected in message, message
    assert "temporal-worker:rolloutAdopt" in message


def test_the_untouched_recording_deploys_exactly_the_signed_images(prod_config, temporal):
    found = worker_deployments(run(prod_config))
    for build in (DRAINED, DRAINING, CURRENT, RAMPING):
        assert found[f"temporal-worker-{build.build_id}"]["image"] == IMAGES[build.build_id]


def test_a_build_without_any_record_that_is_not_live_is_left_out_with_a_warning(
        prod_config, temporal):
    result = run(prod_config)
    assert f"temporal-worker-{INACTIVE.build_id}" not in worker_deployments(result)
    [warning] = [w for w in result.warnings if INACTIVE.build_id in w]
    assert "Temporal holds no image record for it" in warning, warning


def test_a_drained_build_whose_record_was_removed_loses_only_its_empty_deployment(
        prod_config, temporal):
    temporal(rewritten({DRAINED.build_id: {}}))
    result = run(prod_config)
    found = worker_deployments(result)
    assert f"temporal-worker-{DRAINED.build_id}" not in found
    for live in (DRAINING, CURRENT, RAMPING):
        assert found[f"temporal-worker-{live.build_id}"]["image"] == IMAGES[live.build_id]
    assert any(DRAINED.build_id in w and "not deployed from here" in w for w in result.warnings)


def test_a_sunset_build_needs_no_record_its_deployment_goes_anyway(prod_config, temporal,
                                                                  monkeypatch):
    temporal(rewritten({DRAINED.build_id: {records.RECORD_KEY: raw_payload(b"42")}}))
    at(monkeypatch, DRAINED.drained_since + datetime.timedelta(days=2))
    result = run(prod_config)
    assert f"temporal-worker-{DRAINED.build_id}" not in worker_deployments(result)
    assert DRAINED.build_id in the_rollout(result, ":WorkerVersions").get("delete_build_ids")


def test_every_problem_is_named_in_the_one_message(prod_config, temporal):
    temporal(rewritten({CURRENT.build_id: {}, RAMPING.build_id: {
        records.RECORD_KEY: raw_payload(b"[]")}}))
    message = refused(prod_config)
    assert "for 2 build(s)" in message
    assert f"build {CURRENT.build_id} (CURRENT): Temporal holds no image record" in message
    assert f"build {RAMPING.build_id} (RAMPING): its image record cannot be read: metadata " \
           f"'{records.RECORD_KEY}' is an array, not a record object" in message


def test_a_rotated_key_needs_the_previous_one_then_signs_the_records_again(prod_config,
                                                                          temporal):
    message = refused(prod_config, rolloutSigningKey=NEW_KEY)
    assert f"rolloutSigningKey has key id {records.key_id(NEW_KEY)}" in message
    assert "set temporal-worker:rolloutPreviousSigningKey to the old key" in message
    result = run(prod_config, rolloutSigningKey=NEW_KEY, rolloutPreviousSigningKey=RECORDING_KEY)
    found = worker_deployments(result)
    kept = (DRAINED, DRAINING, CURRENT, RAMPING)
    for build in kept:
        assert found[f"temporal-worker-{build.build_id}"]["image"] == IMAGES[build.build_id]
    upkeep = the_rollout(result, ":WorkerVersions")
    assert upkeep.get("records") == [{"build_id": b.build_id, "image": IMAGES[b.build_id]}
                                     for b in kept]
    assert upkeep.get("signing_key") == NEW_KEY and upkeep.is_secret("signing_key")
    assert the_rollout(result).get("signing_key") == NEW_KEY


def test_records_from_1x_are_adopted_only_with_the_images_the_config_names(prod_config,
                                                                          temporal):
    # A 1.x stack: unsigned `image` entries, one of them rewritten by an attacker.
    legacy = {b.build_id: {records.LEGACY_IMAGE_KEY: json_payload(IMAGES[b.build_id])}
              for b in (DRAINED, DRAINING, CURRENT, RAMPING)}
    legacy[CURRENT.build_id] = {records.LEGACY_IMAGE_KEY: json_payload(EVIL)}
    temporal(rewritten(legacy))
    message = refused(prod_config)
    assert "for 4 build(s)" in message and "unsigned" in message
    adopt = {b.build_id: IMAGES[b.build_id] for b in (DRAINED, DRAINING, CURRENT, RAMPING)}
    result = run(prod_config, rolloutAdopt=json.dumps(adopt))
    found = worker_deployments(result)
    assert found[f"temporal-worker-{CURRENT.build_id}"]["image"] == IMAGES[CURRENT.build_id]
    assert EVIL not in json.dumps([d.inputs for d in result.of_type(DEPLOYMENT)])
    assert the_rollout(result, ":WorkerVersions").get("records") == [
        {"build_id": b, "image": i} for b, i in adopt.items()]
    assert any(CURRENT.build_id in w and "as rolloutAdopt says" in w for w in result.warnings)


def test_an_adoption_that_contradicts_the_stacks_own_record_is_refused(prod_config, temporal):
    other = "registry.example.com/team/temporal-worker@sha256:" + "e" * 64
    message = refused(prod_config, rolloutAdopt=json.dumps({CURRENT.build_id: other}))
    assert f"rolloutAdopt names {other}, but the stack's own signed record names " \
           f"{IMAGES[CURRENT.build_id]}" in message


def test_a_versioned_rollout_without_a_signing_key_is_refused_with_how_to_make_one(prod_config,
                                                                                  temporal):
    config = {**prod_config, "rollout": "progressive"}
    with pytest.raises(ValueError) as caught:
        run_stack(config, stack="prod")
    message = str(caught.value)
    assert message.startswith("temporal-worker:rolloutSigningKey: required with "
                              "temporal-worker:rollout allAtOnce or progressive"), message
    assert "openssl rand -base64 32 | pulumi config set --secret rolloutSigningKey" in message
    assert caught.value.registered_resources == ()


def test_the_refusal_never_prints_the_stacks_key(prod_config, temporal):
    temporal(rewritten({CURRENT.build_id: signed(CURRENT.build_id, EVIL, key=OTHER_KEY)}))
    message = refused(prod_config)
    assert RECORDING_KEY not in message and OTHER_KEY not in message
    assert issubclass(stack.rollout.Refused, stack.config.ConfigError)
