"""TemporalWorker on its own, as another team would reuse it (Secrets made elsewhere)."""

from __future__ import annotations

import pytest

from components.temporal_worker import (CHECKSUM_ANNOTATION, TYPE_TOKEN, SecretKeyRef,
                                        TemporalWorker, TemporalWorkerArgs)
from tests.program.helpers import DEPLOYMENT, SECRET, container, env_of
from tools.mockstack import StackRun, run_program
from worker import contract

IMAGE = "registry.example.com/team/worker@sha256:" + "cd" * 32


def build(name: str = "billing", **fields) -> StackRun:
    return run_program(lambda: TemporalWorker(name, TemporalWorkerArgs(image=IMAGE, **fields)))


def test_external_secrets_are_referenced_by_name_and_nothing_else_is_created():
    run = build(namespace="billing", temporal_address="billing.acct.tmprl.cloud:7233",
                tls_secret_name="billing-client-cert",  # e.g. made by cert-manager
                api_key=SecretKeyRef("billing-temporal", "apiKey"),  # e.g. External Secrets
                secret_env={"STRIPE_KEY": SecretKeyRef("billing-stripe", "key")})
    assert [r.type_ for r in run.resources] == [TYPE_TOKEN, DEPLOYMENT]
    assert run.of_type(SECRET) == []
    pod = run.one(DEPLOYMENT).get("spec", "template", "spec")
    assert [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v] == [
        "billing-client-cert"]
    env = env_of(run, "billing-deployment")
    assert env[contract.ENV_API_KEY]["valueFrom"]["secretKeyRef"] == {
        "name": "billing-temporal", "key": "apiKey"}
    assert env["STRIPE_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "billing-stripe",
                                                              "key": "key"}
    assert env[contract.ENV_TLS]["value"] == "true"


def test_defaults_give_a_restricted_worker_with_the_seed_numbers():
    run = build()
    deployment = run.one(DEPLOYMENT)
    assert deployment.name == "billing-deployment"
    assert deployment.get("metadata", "name") == "billing"
    assert deployment.get("spec", "replicas") == 3
    assert container(run, "billing-deployment")["image"] == IMAGE
    assert env_of(run, "billing-deployment")[contract.ENV_TLS]["value"] == "false"
    annotations = deployment.get("spec", "template", "metadata", "annotations")
    assert CHECKSUM_ANNOTATION not in annotations, "no Secrets, nothing to checksum"
    assert "app.kubernetes.io/version" not in deployment.get("metadata", "labels")


def test_api_key_alone_turns_tls_on_and_tls_can_be_forced_off():
    run = build(api_key=SecretKeyRef("k", "v"))
    assert env_of(run, "billing-deployment")[contract.ENV_TLS]["value"] == "true"
    run = build(api_key=SecretKeyRef("k", "v"), tls=False)
    assert env_of(run, "billing-deployment")[contract.ENV_TLS]["value"] == "false"


def test_two_workers_in_one_namespace_do_not_select_each_other():
    def program():
        TemporalWorker("orders", TemporalWorkerArgs(image=IMAGE, task_queue="orders"))
        TemporalWorker("refunds", TemporalWorkerArgs(image=IMAGE, task_queue="refunds"))

    run = run_program(program)
    selectors = [d.get("spec", "selector", "matchLabels") for d in run.of_type(DEPLOYMENT)]
    assert selectors[0] != selectors[1]


def test_version_label_is_made_a_valid_label_value():
    run = build(version="feature/new thing+1" + "x" * 80)
    value = run.one(DEPLOYMENT).get("metadata", "labels", "app.kubernetes.io/version")
    assert len(value) <= 63 and "/" not in value and " " not in value and "+" not in value


@pytest.mark.parametrize("field, value", [("probe_mode", "tcp"), ("log_format", "xml"),
                                          ("replicas", -2), ("graceful_shutdown_seconds", 0)])
def test_invalid_args_fail_before_the_deployment(field, value):
    with pytest.raises(ValueError, match=field) as caught:
        build(**{field: value})
    assert caught.value.registered_resources == ()


def test_plain_env_and_secret_env_must_not_share_a_name():
    with pytest.raises(ValueError, match="STRIPE_KEY"):
        build(env={"STRIPE_KEY": "x"}, secret_env={"STRIPE_KEY": SecretKeyRef("s", "k")})
