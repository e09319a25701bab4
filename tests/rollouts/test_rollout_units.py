"""The rollout modules without a server: build IDs from digests, the recorded server answer, the
provider's diff and checks, and what WorkerRollout registers (credentials and key secret)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pulumi
import pytest

from temporal_worker_k8s.versioning import (CONNECTION_FIELDS, Connection, KeyRing,
                                            RolloutError, RolloutPlan, UpkeepPlan, WorkerRollout,
                                            WorkerRolloutProvider, WorkerVersions,
                                            WorkerVersionsProvider, build_id_of, records,
                                            state_from_json, verify)
from tests.program.helpers import plain_text_hits
from tools.mockstack import run_program
from tools.record_worker_deployment import RECORDING_IDENTITY, RECORDING_KEY

RECORDED = Path(__file__).resolve().parents[1] / "data" / "temporal" / "worker_deployment.json"
DIGEST = "0123456789abcdef" * 4
LABEL_VALUE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
API_KEY = "tmprl-unit-api-key-5b1a4c2e8f6d0b9a"
CLIENT_CERT = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n"
CLIENT_KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAkeymaterial\n-----END PRIVATE KEY-----\n"
SIGNING_KEY = "unit-signing-key-3f9a1c5e7b2d4f6a8c0e"
ROLLOUT_TYPE = "pulumi-python:dynamic/temporal:WorkerRollout"
STEPS = [{"percent": 10, "pause_seconds": 300}, {"percent": 50, "pause_seconds": 300}]


def props(**overrides):
    values = {"address": "temporal:7233", "namespace": "default", "tls": False,
              "deployment_name": "orders", "build_id": "sha256-" + DIGEST[:32],
              "image": f"repo/worker@sha256:{DIGEST}", "task_queue": "orders",
              "strategy": "progressive", "steps": STEPS,
              "gate_workflow": None, "gate_input": None, "rollback": False,
              "poller_timeout_seconds": 300, "gate_timeout_seconds": 600,
              "rollout_timeout_seconds": 3600, "manager_identity": "pulumi:org/p/s",
              "take_over": False, "signing_key": SIGNING_KEY}
    values.update(overrides)
    return values


def resource_kwargs(values: dict) -> dict:
    """WorkerRollout's keyword arguments for provider properties `values`."""
    kwargs = {k: v for k, v in values.items() if k not in CONNECTION_FIELDS}
    kwargs["steps"] = [(s["percent"], s["pause_seconds"]) for s in kwargs["steps"]]
    kwargs["connection"] = {k: v for k, v in values.items() if k in CONNECTION_FIELDS}
    return kwargs


def test_build_id_of_a_digest_is_a_short_label_value() -> None:
    build_id = build_id_of(f"registry.example.com:5000/team/worker@sha256:{DIGEST}")
    assert build_id == "sha256-" + DIGEST[:32]
    assert LABEL_VALUE.fullmatch(build_id) and len(build_id) <= 63
    assert build_id_of(f"worker@sha256:{DIGEST}") == build_id  # the repository does not count


@pytest.mark.parametrize("image", [
    "registry.example.com/team/worker:1.2.3",
    "registry.example.com/team/worker",
    f"worker@sha256:{DIGEST[:-1]}",
    f"worker@sha256:{DIGEST.upper()}",
    f"worker@sha512:{DIGEST}{DIGEST}",
    f"worker@sha256:{DIGEST}\n",
    f"@sha256:{DIGEST}",
    "",
])
def test_build_id_of_refuses_an_image_not_pinned_by_digest(image: str) -> None:
    with pytest.raises(ValueError, match="not pinned by digest"):
        build_id_of(image)


def test_the_recorded_server_answer_parses_into_every_status() -> None:
    data = json.loads(RECORDED.read_text())
    state = state_from_json(data)
    builds = data["recorded_with"]["builds"]
    by_label = {label: state.version(b["build_id"]) for label, b in builds.items()}

    keys = KeyRing(RECORDING_KEY)

    assert state.deployment_name == "payments-workers/temporal-worker"
    assert state.manager_identity == RECORDING_IDENTITY
    assert {label: v.status for label, v in by_label.items()} == {
        "b1": "DRAINED", "b2": "DRAINING", "b3": "CURRENT", "b4": "RAMPING", "b5": "INACTIVE"}
    assert state.current_build_id == builds["b3"]["build_id"]
    assert state.ramping_build_id == builds["b4"]["build_id"]
    assert by_label["b4"].ramp_percentage == 25
    assert all(v.ramp_percentage == 0 for label, v in by_label.items() if label != "b4")
    assert by_label["b1"].drained_since is not None
    assert by_label["b1"].drained_since > by_label["b1"].created
    assert all(v.drained_since is None for label, v in by_label.items() if label != "b1")
    for label in ("b1", "b2", "b3", "b4"):
        verdict = verify(by_label[label].record, keys, state.deployment_name, by_label[label].build_id)
        assert verdict.image == builds[label]["image"] and verdict.problem is None
        assert build_id_of(verdict.image) == by_label[label].build_id
    assert by_label["b5"].record is None  # polled, never rolled out
    assert [v.build_id for v in state.versions] == [b["build_id"] for b in builds.values()]


def test_a_deployment_that_does_not_exist_has_no_versions() -> None:
    state = state_from_json({"deployment_name": "orders", "describe_worker_deployment": None})
    assert state.versions == () and state.current_build_id is None


@pytest.mark.parametrize("change, updates", [
    ({}, False),
    ({"task_queue": "other"}, False),
    ({"strategy": "allAtOnce"}, False),
    ({"steps": [{"percent": 5, "pause_seconds": 60}, {"percent": 75, "pause_seconds": 9}]},
     False),
    ({"signing_key": "another-signing-key-0123456789abcdef"}, False),
    ({"gate_workflow": "SmokeTestWorkflow", "gate_input": "{}"}, False),
    ({"address": "elsewhere:7233", "namespace": "other"}, False),
    ({"poller_timeout_seconds": 30}, False),
    ({"build_id": "sha256-" + "f" * 32}, True),
    ({"image": "repo/worker@sha256:" + "f" * 64}, True),
    ({"rollback": True}, True),
])
def test_only_build_image_and_rollback_make_an_update_never_a_replace(change, updates) -> None:
    olds = {**props(), "current_build_id": props()["build_id"], "previous_build_id": None}
    diff = WorkerRolloutProvider().diff("default/orders", olds, props(**change))
    assert diff.changes is updates
    assert diff.replaces == [] and diff.delete_before_replace is False


@pytest.mark.parametrize("change, named", [
    ({"strategy": "canary"}, "strategy"),
    ({"steps": [{"percent": 50, "pause_seconds": 1}, {"percent": 10, "pause_seconds": 1}]},
     "steps"),
    ({"steps": [{"percent": 0, "pause_seconds": 1}]}, "steps"),
    ({"steps": [{"percent": 100, "pause_seconds": 1}]}, "steps"),
    ({"steps": [10, 50]}, "steps"),
    ({"gate_input": "{not json"}, "gate_input"),
    ({"gate_input": "[1]", "gate_workflow": "G"}, "gate_input"),  # not an object
    ({"gate_input": "{}"}, "gate_input"),  # without gate_workflow
    ({"signing_key": "short"}, "signing_key"),
    ({"manager_identity": " "}, "manager_identity"),
    ({"rollout_timeout_seconds": 600}, "rollout_timeout_seconds"),  # the plan needs 900 s
    ({"poller_timeout_seconds": 0}, "poller_timeout_seconds"),
    ({"deployment_name": " "}, "deployment_name"),
    ({"deployment_name": "orders.v2"}, "deployment_name"),  # the server refuses '.'
    ({"build_id": ""}, "build_id"),
    ({"address": "temporal"}, "address"),
])
def test_bad_inputs_are_refused_before_anything_runs(change, named) -> None:
    failures = WorkerRolloutProvider().check({}, props(**change)).failures
    assert [f.property for f in failures] == [named]
    with pytest.raises(RolloutError, match=f"inputs are invalid: {named} "):
        RolloutPlan.from_props(props(**change))
    if named == "steps" and not isinstance(change["steps"][0], dict):
        return  # the resource takes (percent, pause) pairs; nothing else to build
    kwargs = resource_kwargs(props(**change))
    kwargs["connection"]["api_key"] = API_KEY

    def program() -> None:
        WorkerRollout("orders", **kwargs)

    with pytest.raises(ValueError, match=f"WorkerRollout orders: {named} ") as raised:
        run_program(program)
    assert API_KEY not in str(raised.value)


def test_unknown_or_missing_connection_keys_are_refused() -> None:
    others = resource_kwargs(props())
    del others["connection"]
    with pytest.raises(ValueError, match=r"connection: unknown key\(s\) \['apiKey'\]"):
        run_program(lambda: WorkerRollout("orders", connection={
            "address": "temporal:7233", "namespace": "default", "apiKey": API_KEY}, **others))
    with pytest.raises(ValueError, match="connection: namespace required"):
        run_program(lambda: WorkerRollout("orders", connection={"address": "t:7233"}, **others))
    with pytest.raises(ValueError, match="unknown key"):
        Connection.from_mapping({"address": "a:1", "namespace": "n", "password": API_KEY})


def test_worker_rollout_registers_credentials_as_secrets() -> None:
    connection = {"address": "my-ns.a1b2c.tmprl.cloud:7233", "namespace": "my-ns.a1b2c",
                  "tls": True, "api_key": API_KEY, "client_cert": CLIENT_CERT,
                  "client_key": CLIENT_KEY, "server_ca": None, "server_name": None}

    made: list[WorkerRollout] = []

    def program() -> None:
        kwargs = resource_kwargs(props(gate_workflow="SmokeTestWorkflow",
                                       gate_input='{"items": 3}'))
        kwargs["connection"] = connection
        made.append(WorkerRollout("orders", **kwargs))

    run = run_program(program)
    rollout = run.one(ROLLOUT_TYPE, "orders")
    for name in ("api_key", "client_cert", "client_key"):
        assert rollout.is_secret(name), name
        assert rollout.get(name) == connection[name]
    assert rollout.is_secret("signing_key") and rollout.get("signing_key") == SIGNING_KEY
    assert set(rollout.secret_outputs) == {"api_key", "client_cert", "client_key",
                                           "signing_key"}
    for name in ("address", "namespace", "tls"):
        assert not rollout.is_secret(name), name
        assert rollout.get(name) == connection[name]
    assert rollout.is_secret("__provider")  # the pickled provider, as Pulumi always does
    assert not rollout.is_secret("build_id") and not rollout.is_secret("image")
    assert rollout.get("strategy") == "progressive" and rollout.get("steps") == STEPS
    assert isinstance(made[0].current_build_id, pulumi.Output)
    assert isinstance(made[0].previous_build_id, pulumi.Output)

    # No credential anywhere outside the secret paths.
    leaked = [path for path, _ in plain_text_hits(
        rollout, (API_KEY, "keymaterial", "MIIBcert", SIGNING_KEY))]
    assert leaked == []


def test_a_connection_never_shows_its_credentials() -> None:
    connection = Connection("temporal:7233", "default", api_key=API_KEY,
                            client_cert=CLIENT_CERT, client_key=CLIENT_KEY)
    assert API_KEY not in repr(connection) and "keymaterial" not in repr(connection)
    assert connection.uses_tls  # an API key is never sent in cleartext
    text = connection.scrub(f"refused {API_KEY} with {CLIENT_KEY}")
    assert API_KEY not in text and "MIGHAgEAkeymaterial" not in text


def upkeep_props(**overrides):
    values = {"address": "temporal:7233", "namespace": "default", "tls": False,
              "deployment_name": "orders", "signing_key": SIGNING_KEY,
              "manager_identity": "pulumi:org/p/s", "take_over": False,
              "delete_build_ids": ["b1"], "room_needed": 0, "records": [], "wait_seconds": 330}
    values.update(overrides)
    return values


def test_the_version_upkeep_knows_what_the_last_update_left_pending() -> None:
    plan = UpkeepPlan.from_props(upkeep_props(), olds={"pending_build_ids": ["b1"]})
    assert plan.pending == ("b1",) and plan.delete_build_ids == ("b1",)
    provider = WorkerVersionsProvider()
    assert provider.diff("id", {}, upkeep_props()).changes
    assert provider.diff("id", {"pending_build_ids": ["b0"]},
                         upkeep_props(delete_build_ids=[])).changes
    assert not provider.diff("id", {"pending_build_ids": []},
                             upkeep_props(delete_build_ids=[])).changes


@pytest.mark.parametrize("change, named", [
    ({"delete_build_ids": [" "]}, "delete_build_ids"),
    ({"records": [{"build_id": "b1"}]}, "records"),
    ({"room_needed": -1}, "room_needed"),
    ({"signing_key": "short"}, "signing_key"),
    ({"wait_seconds": -5}, "wait_seconds"),
])
def test_bad_upkeep_inputs_are_refused(change, named) -> None:
    failures = WorkerVersionsProvider().check({}, upkeep_props(**change)).failures
    assert [f.property for f in failures] == [named]


def test_worker_versions_registers_its_key_and_credentials_as_secrets() -> None:
    def program() -> None:
        WorkerVersions("orders", connection={"address": "t:7233", "namespace": "default",
                                             "api_key": API_KEY},
                       deployment_name="orders", signing_key=SIGNING_KEY,
                       delete_build_ids=["b1"], room_needed=1,
                       records=[{"build_id": "b2", "image": f"repo/w@sha256:{DIGEST}"}])

    upkeep = run_program(program).one("pulumi-python:dynamic/temporal:WorkerVersions", "orders")
    assert upkeep.is_secret("api_key") and upkeep.is_secret("signing_key")
    assert upkeep.get("delete_build_ids") == ["b1"] and upkeep.get("room_needed") == 1
    assert plain_text_hits(upkeep, (API_KEY, SIGNING_KEY)) == []
    with pytest.raises(ValueError, match="WorkerVersions orders: signing_key must be a secret"):
        run_program(lambda: WorkerVersions("orders", connection={
            "address": "t:7233", "namespace": "default"}, deployment_name="orders",
            signing_key="short"))


def test_a_record_binds_deployment_build_and_image_under_the_stacks_key() -> None:
    image = f"repo/worker@sha256:{DIGEST}"
    payload = records.encode(SIGNING_KEY, "orders", "b1", image)
    recorded = records.read({records.RECORD_KEY: payload})
    keys = KeyRing(SIGNING_KEY)
    assert verify(recorded, keys, "orders", "b1").image == image
    for deployment, build in (("other", "b1"), ("orders", "b2")):
        assert verify(recorded, keys, deployment, build).image is None
    rotated = verify(recorded, KeyRing("a-new-key-after-rotation-0123456789", SIGNING_KEY),
                     "orders", "b1")
    assert rotated.image == image and rotated.resign
    assert records.key_id(SIGNING_KEY) not in SIGNING_KEY and len(records.key_id(SIGNING_KEY)) == 12
    assert SIGNING_KEY.encode() not in payload.data
