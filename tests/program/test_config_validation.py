"""Bad config fails before any resource exists, naming the key and never echoing a secret."""

from __future__ import annotations

import datetime
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.program.helpers import TEMPORAL_API_KEY, Pki, pem
from tools import mockstack
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


@pytest.mark.parametrize("values, key, reason", [
    ({"minPollers": "10", "maxPollers": "5"}, "minPollers", "must not exceed"),
    ({"initialPollers": "50", "maxPollers": "20"}, "initialPollers", "must be between"),
    ({"minPollers": "8", "initialPollers": "4"}, "initialPollers", "must be between"),
])
def test_autoscaling_pollers_out_of_order_are_rejected(prod_config, values, key, reason):
    assert_rejected({**prod_config, **values}, key, reason=reason)


def test_fixed_pollers_ignore_the_autoscaling_bounds(prod_config):
    run_stack({**prod_config, "pollerBehavior": "fixed", "minPollers": "10", "maxPollers": "5"},
              stack="prod")


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


# --- Certificates and keys the Temporal SDK's TLS stack cannot use ---------------------------

def _chain(*issued_and_cas) -> str:
    return "".join(x.cert_path.read_text() for x in issued_and_cas)


def test_a_chain_with_an_expired_intermediate_is_refused(prod_config, pki: Pki, cert_factory):
    now = datetime.datetime.now(datetime.timezone.utc)
    intermediate = cert_factory.ca("expired-intermediate", issuer=pki.ca,
                                   not_after=now - datetime.timedelta(days=1))
    leaf = cert_factory.issue(intermediate, "leaf-of-expired")
    message = assert_rejected({**prod_config, "tlsCert": _chain(leaf, intermediate),
                               "tlsKey": leaf.key_path.read_text()}, "tlsCert",
                              reason="CN=expired-intermediate, 2 of 2) that expired on",
                              secrets=(leaf.key_path.read_text(),))
    assert "CN=leaf-of-expired" not in message


def test_a_chain_in_the_wrong_order_says_so(prod_config, pki: Pki, cert_factory):
    intermediate = cert_factory.ca("order-intermediate", issuer=pki.ca)
    leaf = cert_factory.issue(intermediate, "order-leaf")
    good = {**prod_config, "tlsCert": _chain(leaf, intermediate),
            "tlsKey": leaf.key_path.read_text()}
    run_stack(good, stack="prod")  # leaf first, then its issuer: fine
    assert_rejected({**good, "tlsCert": _chain(intermediate, leaf)}, "tlsCert",
                    reason="is not in order: certificate 1 (CN=order-intermediate) is not "
                           "issued by certificate 2 (CN=order-leaf); put the client "
                           "certificate first")


@pytest.mark.parametrize("name, make", [
    ("rsa-1024", lambda: rsa.generate_private_key(65537, 1024)),
    ("p-521", lambda: ec.generate_private_key(ec.SECP521R1())),
    ("secp256k1", lambda: ec.generate_private_key(ec.SECP256K1())),
    ("ed448", lambda: ed448.Ed448PrivateKey.generate()),
])
def test_keys_the_sdks_tls_stack_cannot_parse_are_refused(prod_config, pki: Pki, cert_factory,
                                                         name, make):
    cert, key = pem(cert_factory.issue(pki.ca, f"key-{name}", key=make()))
    assert_rejected({**prod_config, "tlsCert": cert, "tlsKey": key}, "tlsCert",
                    reason="which the Temporal SDK's TLS stack cannot use", secrets=(key,))


def test_a_dsa_key_is_refused(prod_config):
    key_pem = dsa.generate_private_key(2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    assert_rejected({**prod_config, "tlsKey": key_pem}, "tlsKey",
                    reason="is a DSA key, which the Temporal SDK's TLS stack cannot use",
                    secrets=(key_pem,))


def test_a_key_of_an_unknown_algorithm_gets_a_clear_error(prod_config):
    # PKCS#8 with a GOST R 34.10-2012 algorithm identifier, which cryptography cannot read.
    key_pem = ("-----BEGIN PRIVATE KEY-----\n"
               "MDMCAQAwCgYIKoUDBwEBAQEEIgQgERERERERERERERERERERERERERERERERERERERERERE=\n"
               "-----END PRIVATE KEY-----\n")
    assert_rejected({**prod_config, "tlsKey": key_pem}, "tlsKey",
                    reason="holds a key of an unknown algorithm (1.2.643.7.1.1.1.1)",
                    secrets=(key_pem,))


@pytest.mark.parametrize("name, make, key_format", [
    ("rsa-2048-pkcs1", lambda: rsa.generate_private_key(65537, 2048),
     serialization.PrivateFormat.TraditionalOpenSSL),
    ("p-384-sec1", lambda: ec.generate_private_key(ec.SECP384R1()),
     serialization.PrivateFormat.TraditionalOpenSSL),
    ("ed25519-pkcs8", lambda: ed25519.Ed25519PrivateKey.generate(),
     serialization.PrivateFormat.PKCS8),
])
def test_keys_the_sdk_can_use_are_accepted_in_every_format(prod_config, pki: Pki, cert_factory,
                                                           name, make, key_format):
    cert, key = pem(cert_factory.issue(pki.ca, f"usable-{name}", key=make(),
                                       key_format=key_format))
    run_stack({**prod_config, "tlsCert": cert, "tlsKey": key}, stack="prod")


def test_a_client_cert_not_for_client_authentication_is_refused(prod_config, pki: Pki,
                                                               cert_factory):
    cert, key = pem(cert_factory.issue(pki.ca, "server-only-eku",
                                       usage=[ExtendedKeyUsageOID.SERVER_AUTH]))
    assert_rejected({**prod_config, "tlsCert": cert, "tlsKey": key}, "tlsCert",
                    reason="extendedKeyUsage lacks clientAuth, so the server will refuse it")
    cert, key = pem(cert_factory.issue(pki.ca, "no-eku", usage=[]))
    run_stack({**prod_config, "tlsCert": cert, "tlsKey": key}, stack="prod")


def test_a_server_ca_holding_a_private_key_is_refused_without_echoing_it(prod_config, pki):
    bundle = prod_config["tlsServerCa"] + pki.key_pem
    assert_rejected({**prod_config, "tlsServerCa": bundle}, "tlsServerCa",
                    reason="contains a private key; this setting is not secret",
                    secrets=(pki.key_pem,))


# --- Secrets set without --secret, and credentials that would travel in cleartext -----------

@pytest.mark.parametrize("key", ["tlsKey", "temporalApiKey", "chatgptApiKey",
                                 "registryPassword", "secretEnv"])
def test_a_secret_key_set_without_secret_is_refused_with_the_fix(prod_config, key):
    secrets = tuple(k for k in mockstack.SECRET_KEYS if k != key)
    with pytest.raises(ValueError) as caught:
        run_stack(prod_config, stack="prod", secret_keys=secrets)
    message = str(caught.value)
    assert message.startswith(f"temporal-worker:{key}: is stored in plain text"), message
    assert f"pulumi config set --secret {key}" in message
    assert caught.value.registered_resources == ()
    for line in filter(None, prod_config[key].splitlines()):
        if "-----" not in line:
            assert line not in message


def test_a_chat_key_is_refused_over_plain_http_to_another_host(prod_config):
    assert_rejected({**prod_config, "chatgptBaseUrl": "http://llm.internal.example:8000/v1"},
                    "chatgptBaseUrl", reason="is http:// to llm.internal.example, not this "
                    "machine, while temporal-worker:chatgptApiKey is set",
                    secrets=(prod_config["chatgptApiKey"],))
    run_stack({**prod_config, "chatgptBaseUrl": "http://127.0.0.1:8000/v1"}, stack="prod")
