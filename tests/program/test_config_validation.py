"""Bad config fails before any resource exists, naming the key and never echoing a secret."""

from __future__ import annotations

import datetime
import json

import pytest

from tests.program.helpers import TEMPORAL_API_KEY, Pki, pem
from tools.mockstack import run_stack

GARBAGE_PEM = ("-----BEGIN CERTIFICATE-----\nTOPSECRETnotbase64atall0123456789\n"
               "-----END CERTIFICATE-----\n")
GARBAGE_KEY = ("-----BEGIN PRIVATE KEY-----\nTOPSECRETkeymaterial9876543210\n"
               "-----END PRIVATE KEY-----\n")


def assert_rejected(config: dict[str, str], key: str, *, reason: str,
                    secrets: tuple[str, ...] = ()) -> str:
    """Run the stack, expect a ValueError for `key` before any resource; return the message."""
    with pytest.raises(ValueError) as caught:
        run_stack(config, stack="prod")
    message = str(caught.value)
    assert message.startswith(f"temporal-worker:{key}: "), message
    assert reason in message, message
    assert caught.value.registered_resources == (), "resources registered before validation"
    # A parser error chained under ours could quote the input; only our message may surface.
    chained = caught.value.__cause__ or (
        None if caught.value.__suppress_context__ else caught.value.__context__)
    for secret in secrets:
        for line in filter(None, secret.splitlines()):
            if "-----" not in line:
                assert line not in message, f"{key}: message echoes the secret"
        assert chained is None or secret not in str(chained)
    return message


def test_unparsable_client_cert_is_rejected(prod_config):
    assert_rejected({**prod_config, "tlsCert": GARBAGE_PEM}, "tlsCert",
                    reason="not a PEM-encoded X.509 certificate", secrets=(GARBAGE_PEM,))


def test_unparsable_client_key_is_rejected(prod_config):
    assert_rejected({**prod_config, "tlsKey": GARBAGE_KEY}, "tlsKey",
                    reason="not a PEM-encoded private key", secrets=(GARBAGE_KEY,))


def test_key_that_does_not_match_the_cert_is_rejected(prod_config, pki: Pki, cert_factory):
    other_cert, other_key = pem(cert_factory.issue(pki.ca, "validation-other"))
    assert_rejected({**prod_config, "tlsKey": other_key}, "tlsKey",
                    reason="does not match", secrets=(other_key, prod_config["tlsCert"]))


def test_expired_client_cert_is_rejected(prod_config, pki: Pki, cert_factory):
    cert, key = pem(cert_factory.expired(pki.ca, "validation-expired"))
    assert_rejected({**prod_config, "tlsCert": cert, "tlsKey": key}, "tlsCert",
                    reason="expired", secrets=(cert, key))


def test_not_yet_valid_client_cert_is_rejected(prod_config, pki: Pki, cert_factory):
    cert, key = pem(cert_factory.not_yet_valid(pki.ca, "validation-future"))
    assert_rejected({**prod_config, "tlsCert": cert, "tlsKey": key}, "tlsCert",
                    reason="not valid before", secrets=(cert, key))


def test_v1_client_cert_is_rejected(prod_config, pki: Pki, cert_factory):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key = pem(cert_factory.issue(pki.ca, "validation-v1", v1=True,
                                       not_after=now + datetime.timedelta(days=90)))
    assert_rejected({**prod_config, "tlsCert": cert, "tlsKey": key}, "tlsCert",
                    reason="accepts only v3", secrets=(cert, key))


def test_cert_expiring_within_30_days_deploys_with_a_warning(prod_config, pki: Pki,
                                                            cert_factory):
    cert, key = pem(cert_factory.issue(pki.ca, "validation-soon"))  # valid for 7 days
    config = {**prod_config, "tlsCert": cert, "tlsKey": key}
    del config["tlsServerCa"]
    run = run_stack(config, stack="prod")
    assert [w for w in run.warnings if w.startswith("temporal-worker:tlsCert: expires")], \
        run.warnings
    assert not any(line in w for w in run.warnings for line in cert.splitlines()[1:-1])


def test_cert_valid_beyond_30_days_deploys_without_warning(prod_config):
    config = dict(prod_config)
    del config["tlsServerCa"]  # the test CA itself expires within 30 days
    assert run_stack(config, stack="prod").warnings == []


@pytest.mark.parametrize("given, missing", [("tlsCert", "tlsKey"), ("tlsKey", "tlsCert")])
def test_only_one_of_cert_and_key_is_rejected(prod_config, given, missing):
    config = dict(prod_config)
    del config[missing]
    assert_rejected(config, missing, reason="required when temporal-worker:",
                    secrets=(prod_config[given],))


@pytest.mark.parametrize("address", [
    "payments.a1b2c.tmprl.cloud", "payments.a1b2c.tmprl.cloud:", "https://host:7233",
    "host:99999", "host:port", "bad_host!:7233", "[::1", ":7233",
])
def test_temporal_address_that_is_not_host_port_is_rejected(prod_config, address):
    assert_rejected({**prod_config, "temporalAddress": address}, "temporalAddress",
                    reason="")


@pytest.mark.parametrize("address", ["localhost:7233", "10.0.0.5:7233", "[::1]:7233",
                                     "ns.acct.tmprl.cloud:7233"])
def test_host_port_addresses_are_accepted(prod_config, address):
    run = run_stack({**prod_config, "temporalAddress": address}, stack="prod")
    assert run.exports["temporalAddress"] == address


def test_missing_temporal_address_without_dev_server_is_rejected(prod_config):
    config = dict(prod_config)
    del config["temporalAddress"]
    assert_rejected(config, "temporalAddress", reason="required")


def test_api_key_with_dev_server_is_rejected(dev_config):
    assert_rejected({**dev_config, "temporalApiKey": TEMPORAL_API_KEY}, "temporalApiKey",
                    reason="devServer", secrets=(TEMPORAL_API_KEY,))


def test_client_cert_with_dev_server_is_rejected(dev_config, prod_config):
    assert_rejected({**dev_config, "tlsCert": prod_config["tlsCert"],
                     "tlsKey": prod_config["tlsKey"]}, "tlsCert", reason="devServer",
                    secrets=(prod_config["tlsCert"], prod_config["tlsKey"]))


@pytest.mark.parametrize("key", ["temporalAddress", "tlsServerCa", "tlsServerName"])
def test_remote_server_settings_with_dev_server_are_rejected(dev_config, prod_config, key):
    assert_rejected({**dev_config, key: prod_config[key]}, key, reason="devServer")


def test_negative_replicas_are_rejected(prod_config):
    assert_rejected({**prod_config, "replicas": "-1"}, "replicas", reason="must be between 0 and")


def test_non_integer_replicas_are_rejected(prod_config):
    assert_rejected({**prod_config, "replicas": "three"}, "replicas", reason="integer")


def test_zero_replicas_are_allowed(prod_config):
    run_stack({**prod_config, "replicas": "0"}, stack="prod")


@pytest.mark.parametrize("key, value", [
    ("cpuRequest", "a lot"), ("memoryRequest", "100MB"), ("cpuLimit", "-1"),
    ("memoryLimit", "1.5.0Gi"),
])
def test_unparsable_resource_quantities_are_rejected(prod_config, key, value):
    assert_rejected({**prod_config, key: value}, key, reason="not a Kubernetes quantity")


def test_request_above_limit_is_rejected(prod_config):
    assert_rejected({**prod_config, "memoryRequest": "2Gi", "memoryLimit": "1Gi"},
                    "memoryRequest", reason="must not exceed temporal-worker:memoryLimit")


@pytest.mark.parametrize("value, reason", [
    ("not json " + "S3CRET" * 5, "JSON object"),
    (json.dumps(["S3CRET" * 5]), "JSON object"),
    (json.dumps({"bad-name": "S3CRET" * 5}), "not a valid environment variable name"),
    (json.dumps({"TEMPORAL_API_KEY": "S3CRET" * 5}), "set by the component"),
])
def test_malformed_secret_env_is_rejected(prod_config, value, reason):
    assert_rejected({**prod_config, "secretEnv": value}, "secretEnv", reason=reason,
                    secrets=("S3CRET" * 5,))


def test_garbage_server_ca_is_rejected(prod_config):
    assert_rejected({**prod_config, "tlsServerCa": GARBAGE_PEM}, "tlsServerCa",
                    reason="not a PEM-encoded X.509 certificate bundle")


@pytest.mark.parametrize("key, value", [("probeMode", "tcp"), ("logFormat", "xml"),
                                        ("devServer", "yes"),
                                        ("gracefulShutdownSeconds", "90000")])
def test_unknown_choices_are_rejected(prod_config, key, value):
    assert_rejected({**prod_config, key: value}, key, reason="")


@pytest.mark.parametrize("namespace", ["default", "kube-system", "Payments", "a_b"])
def test_system_or_invalid_namespace_is_rejected(prod_config, namespace):
    assert_rejected({**prod_config, "k8sNamespace": namespace}, "k8sNamespace", reason="")


def test_registry_user_without_password_is_rejected(prod_config):
    config = dict(prod_config)
    del config["registryPassword"]
    assert_rejected(config, "registryPassword", reason="required when temporal-worker:")


@pytest.mark.parametrize("repository, reason", [
    ("repo/app:v1", "no tag or digest"), ("repo/app@sha256:" + "0" * 64, "no tag or digest"),
    ("", "must not be empty")])
def test_image_repository_with_tag_or_digest_is_rejected(prod_config, repository, reason):
    assert_rejected({**prod_config, "imageRepository": repository}, "imageRepository",
                    reason=reason)
