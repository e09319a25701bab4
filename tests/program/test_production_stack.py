"""A production-like stack under mocks: Secrets wired by name, kept secret, never leaked."""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath

import pytest

import temporal_worker_spec.settings as spec
from stack.secrets import (REGISTRY_SECRET, SECRET_ENV_SECRET, SERVER_CA_SECRET, TLS_SECRET,
                           secret_name)
from temporal_worker_k8s.temporal_worker import TYPE_TOKEN
from temporal_worker_spec import contract
from tests.program.helpers import (DEPLOYMENT, IMAGE, NAMESPACE, NETWORK_POLICY, SECRET,
                                   TEMPORAL_API_KEY, TRIGGER_AUTH, WORKER, Pki, container, env_of,
                                   pem, walk_strings)
from tools.mockstack import RANDOM_BYTES_TYPE, StackRun, run_stack

CHECKSUM_ANNOTATION = "checksum/secrets"
API_KEY_SECRET = secret_name(spec.TEMPORAL_API_KEY)
CHATGPT_SECRET = secret_name(spec.CHATGPT_API_KEY)

REAL_DIGEST = "sha256:" + "ab" * 32
FILE_ENV = (spec.TLS_CERT.env, spec.TLS_KEY.env,
            spec.TLS_SERVER_CA.env, spec.TEMPORAL_API_KEY_FILE.env)


def secrets_by_name(run: StackRun) -> dict:
    return {s.get("metadata", "name"): s for s in run.of_type(SECRET)}


def checksum(run: StackRun) -> str:
    return run.one(DEPLOYMENT, WORKER).get("spec", "template", "metadata", "annotations",
                                          CHECKSUM_ANNOTATION)


def test_tls_pair_becomes_a_kubernetes_tls_secret_with_standard_keys(prod_run: StackRun,
                                                                     pki: Pki):
    tls = secrets_by_name(prod_run)[TLS_SECRET]
    assert tls.get("type") == "kubernetes.io/tls"
    assert tls.get("stringData") == {"tls.crt": pki.cert_pem, "tls.key": pki.key_pem}
    assert set(tls.get("stringData")) == {contract.TLS_CERT_KEY, contract.TLS_KEY_KEY}


def test_api_keys_become_opaque_secrets_keyed_by_their_variable(prod_run: StackRun,
                                                                prod_secrets):
    secrets = secrets_by_name(prod_run)
    assert (API_KEY_SECRET, CHATGPT_SECRET) == ("temporal-api-key", "chatgpt-api-key")
    assert secrets[CHATGPT_SECRET].get("type") == "Opaque"
    assert secrets[CHATGPT_SECRET].get("stringData") == {
        spec.CHATGPT_API_KEY.env: prod_secrets["chatgptApiKey"]}
    assert secrets[API_KEY_SECRET].get("type") == "Opaque"
    assert list(secrets[API_KEY_SECRET].get("stringData").values()) == [
        prod_secrets["temporalApiKey"]]
    assert secrets[SECRET_ENV_SECRET].get("stringData") == {"EXTRA_TOKEN": prod_secrets[
        "secretEnv"]}


def test_secret_data_stays_secret(prod_run: StackRun):
    for secret in prod_run.of_type(SECRET):
        for key in secret.get("stringData"):
            assert secret.is_secret("stringData", key), f"{secret.urn}: {key} not secret"


def test_every_secret_env_var_uses_a_secret_key_ref_to_a_created_secret(prod_run: StackRun):
    env = env_of(prod_run)
    created = secrets_by_name(prod_run)
    refs = {}
    for name in (spec.CHATGPT_API_KEY.env, "EXTRA_TOKEN"):
        assert "value" not in env[name], f"{name} must come from a Secret"
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["key"] in created[ref["name"]].get("stringData"), ref
        refs[name] = ref["name"]
    assert refs == {spec.CHATGPT_API_KEY.env: CHATGPT_SECRET, "EXTRA_TOKEN": SECRET_ENV_SECRET}
    # The Temporal API key is a mounted file the worker rereads, not env that would go stale.
    assert spec.TEMPORAL_API_KEY.env not in env


def test_mounted_secret_volumes_reference_created_secrets(prod_run: StackRun):
    pod = prod_run.one(DEPLOYMENT, WORKER).get("spec", "template", "spec")
    created = secrets_by_name(prod_run)
    mounted = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert mounted == {TLS_SECRET, SERVER_CA_SECRET, API_KEY_SECRET}
    assert mounted <= set(created)
    for volume in pod["volumes"]:
        for item in volume.get("secret", {}).get("items", []):
            assert item["key"] in created[volume["secret"]["secretName"]].get("stringData")


def test_file_env_vars_point_inside_their_read_only_mounts(prod_run: StackRun):
    worker = container(prod_run)
    env = env_of(prod_run)
    pod = prod_run.one(DEPLOYMENT, WORKER).get("spec", "template", "spec")
    volumes = {v["name"]: v for v in pod["volumes"]}
    created = secrets_by_name(prod_run)
    for name in FILE_ENV:
        path = env[name]["value"]
        directory, filename = posixpath.split(path)
        mount = next((m for m in worker["volumeMounts"] if m["mountPath"] == directory), None)
        assert mount is not None, f"{name}={path} is not inside any mount"
        assert mount["readOnly"] is True, mount
        secret = volumes[mount["name"]]["secret"]
        items = {i["path"]: i["key"] for i in secret.get("items", [])} or {
            k: k for k in created[secret["secretName"]].get("stringData")}
        assert filename in items, f"{name}: {filename} is not a file of {secret['secretName']}"
    assert env[spec.TLS_CERT.env]["value"] == contract.TLS_CERT_PATH
    assert env[spec.TLS_SERVER_CA.env]["value"] == contract.SERVER_CA_PATH
    assert env[spec.TEMPORAL_API_KEY_FILE.env]["value"] == contract.API_KEY_PATH


def test_production_worker_connects_with_tls_to_the_configured_address(prod_run: StackRun,
                                                                       prod_config):
    env = env_of(prod_run)
    assert env[spec.TEMPORAL_ADDRESS.env]["value"] == prod_config["temporalAddress"]
    assert env[spec.TEMPORAL_NAMESPACE.env]["value"] == prod_config["temporalNamespace"]
    assert env[spec.TASK_QUEUE.env]["value"] == prod_config["taskQueue"]
    assert env[spec.TLS.env]["value"] == "true"
    assert env[spec.TLS_SERVER_NAME.env]["value"] == prod_config["tlsServerName"]
    assert env[spec.CHATGPT_BASE_URL.env]["value"] == prod_config["chatgptBaseUrl"]
    assert prod_run.one(DEPLOYMENT, WORKER).get("spec", "replicas") == 4
    assert container(prod_run)["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"},
                                                "limits": {"cpu": "1", "memory": "1Gi"}}


def test_no_plain_text_secret_outside_secrets_or_in_exports(prod_run: StackRun, prod_secrets):
    for resource in prod_run.resources:
        if resource.type_ == SECRET:
            continue
        for path, text in walk_strings(resource.inputs):
            for key, value in prod_secrets.items():
                if value not in text:
                    continue
                # Only the registry password may reach the image, and only marked secret.
                assert resource.type_ == IMAGE and key == "registryPassword", \
                    f"{resource.urn}: {key} in plain text at {path}"
                assert resource.is_secret(*path), f"{resource.urn}: {path} not secret"
    for path, text in walk_strings(prod_run.exports):
        for key, value in prod_secrets.items():
            assert value not in text, f"export {path} contains {key}"


def test_registry_credentials_reach_the_image_push(prod_run: StackRun, prod_config):
    image = prod_run.one(IMAGE)
    assert image.get("registry", "server") == "registry.example.com"
    assert image.get("registry", "username") == "ci"
    assert image.is_secret("registry", "password")
    assert not image.is_secret("imageName")
    assert image.get("imageName") == f"{prod_config['imageRepository']}:v1.2.3"
    labels = prod_run.one(DEPLOYMENT, WORKER).get("metadata", "labels")
    assert labels["app.kubernetes.io/version"] == "v1.2.3"


def test_given_digest_pins_the_deployment_image(prod_config):
    run = run_stack(prod_config, stack="prod", image_digest=REAL_DIGEST)
    assert container(run)["image"] == f"{prod_config['imageRepository']}@{REAL_DIGEST}"
    assert run.exports["imageDigest"] == REAL_DIGEST
    assert not run.image_digest_is_placeholder


def test_checksum_is_a_64_hex_digest_that_reveals_no_secret(prod_run: StackRun, prod_secrets):
    value = checksum(prod_run)
    deployment = prod_run.one(DEPLOYMENT, WORKER)
    assert len(value) == 64 and int(value, 16) >= 0, deployment.urn
    assert deployment.secret_paths == frozenset(), "a secret annotation would hide the whole spec"
    for secret in prod_secrets.values():
        assert hashlib.sha256(secret.encode()).hexdigest() != value
        assert secret not in value


def test_rotating_the_client_cert_changes_the_checksum(prod_config, prod_run: StackRun,
                                                       pki: Pki, cert_factory):
    rotated_cert, rotated_key = pem(cert_factory.issue(pki.ca, "program-client-rotated",
                                                       not_after=pki.client.cert.not_valid_after_utc))
    rotated = run_stack({**prod_config, "tlsCert": rotated_cert, "tlsKey": rotated_key},
                        stack="prod")
    assert checksum(rotated) != checksum(prod_run)
    same = run_stack(prod_config, stack="prod")
    assert checksum(same) == checksum(prod_run), "the checksum must be deterministic"


def test_rotating_an_api_key_changes_the_checksum(prod_config, prod_run: StackRun):
    rotated = run_stack({**prod_config, "chatgptApiKey": "sk-rotated-" + "7" * 32}, stack="prod")
    assert checksum(rotated) != checksum(prod_run)


def test_secret_env_accepts_several_variables_each_by_reference(prod_config):
    extra = {"EXTRA_TOKEN": "token-" + "1" * 30, "DB_PASSWORD": "db-" + "2" * 30}
    run = run_stack({**prod_config, "secretEnv": json.dumps(extra)}, stack="prod")
    env = env_of(run)
    for name in extra:
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": SECRET_ENV_SECRET, "key": name}
    assert secrets_by_name(run)[SECRET_ENV_SECRET].get("stringData") == extra


def test_exec_probe_mode_checks_heartbeat_freshness(prod_config):
    run = run_stack({**prod_config, "probeMode": "exec"}, stack="prod")
    worker = container(run)
    readiness = worker["readinessProbe"]["exec"]["command"]
    liveness = worker["livenessProbe"]["exec"]["command"]
    assert readiness == contract.heartbeat_probe_command()
    # Liveness must not check the readiness file: the worker removes it during a Temporal
    # outage, and a restart would not bring Temporal back.
    assert liveness == contract.heartbeat_probe_command(contract.LIVENESS_FILE,
                                                        contract.LIVENESS_MAX_AGE_SECONDS)
    assert worker["startupProbe"]["exec"]["command"] == liveness
    assert "ls" not in readiness
    env = env_of(run)
    assert env[spec.HEARTBEAT_FILE.env]["value"] == contract.HEARTBEAT_FILE
    assert env[spec.LIVENESS_FILE.env]["value"] == contract.LIVENESS_FILE


def test_graceful_shutdown_setting_sets_env_and_grace_period(prod_config):
    run = run_stack({**prod_config, "gracefulShutdownSeconds": "120"}, stack="prod")
    assert env_of(run)[spec.GRACEFUL_SHUTDOWN_SECONDS.env]["value"] == "120"
    pod = run.one(DEPLOYMENT, WORKER).get("spec", "template", "spec")
    assert pod["terminationGracePeriodSeconds"] == contract.termination_grace_period_seconds(120)


def test_secret_env_set_with_config_path_keeps_numbers_as_text(prod_config):
    # `pulumi config set --secret --path secretEnv.PIN 12345` stores a JSON number.
    run = run_stack({**prod_config, "secretEnv": json.dumps({"PIN": 12345, "FLAG": True})},
                    stack="prod")
    assert secrets_by_name(run)[SECRET_ENV_SECRET].get("stringData") == {"PIN": "12345",
                                                                          "FLAG": "true"}


def test_api_keys_piped_from_files_lose_their_trailing_newline(prod_config):
    run = run_stack({**prod_config, "temporalApiKey": TEMPORAL_API_KEY + "\n"}, stack="prod")
    assert secrets_by_name(run)[API_KEY_SECRET].get("stringData") == {
        "TEMPORAL_API_KEY": TEMPORAL_API_KEY}
    assert secrets_by_name(run)[API_KEY_SECRET].is_secret("stringData", "TEMPORAL_API_KEY")


def test_checksum_is_keyed_so_a_guessable_secret_cannot_be_recovered(prod_config):
    """Anyone with `view` on Deployments reads the annotation. With a plain sha256 over the
    Secrets' contents, a 4-digit PIN in secretEnv comes back by trying all 10,000 of them."""
    config = {**prod_config, "secretEnv": json.dumps({"PIN": "4821"})}
    run = run_stack(config, stack="prod")
    known = [config["tlsCert"], config["tlsKey"], config["tlsServerCa"],
             config["temporalApiKey"], config["chatgptApiKey"]]
    value = checksum(run)
    for guess in (f"{n:04d}" for n in range(10_000)):
        assert hashlib.sha256(json.dumps(known + [guess]).encode()).hexdigest() != value
    key = run.one(RANDOM_BYTES_TYPE)
    assert key.parent == run.one(TYPE_TOKEN).urn
    assert {"base64", "hex"} <= set(key.secret_outputs), "the key must be secret in state"
    assert key.get("length") == 32
    changed = run_stack({**config, "secretEnv": json.dumps({"PIN": "4822"})}, stack="prod")
    assert checksum(changed) != value, "rotating a referenced Secret must still roll the pods"


# --- Production objects around the Deployment ------------------------------------------------

def test_production_objects_are_there_by_default(prod_run: StackRun):
    kinds = {r.type_.rsplit(":", 1)[1] for r in prod_run.kubernetes_objects()}
    assert {"PodDisruptionBudget", "ServiceAccount", "NetworkPolicy"} <= kinds
    assert prod_run.one(NAMESPACE).get("metadata", "labels") == {
        f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}


def test_registry_credentials_become_a_pull_secret_the_pods_use(prod_run: StackRun, prod_config):
    pull = secrets_by_name(prod_run)[REGISTRY_SECRET]
    assert pull.get("type") == "kubernetes.io/dockerconfigjson"
    assert pull.is_secret("stringData", ".dockerconfigjson")
    auths = json.loads(pull.get("stringData", ".dockerconfigjson"))["auths"]
    assert auths == {"registry.example.com": {
        "username": "ci", "password": prod_config["registryPassword"],
        "auth": base64.b64encode(f"ci:{prod_config['registryPassword']}".encode()).decode()}}
    pod = prod_run.one(DEPLOYMENT, WORKER).get("spec", "template", "spec")
    assert pod["imagePullSecrets"] == [{"name": REGISTRY_SECRET}]


def test_the_chat_apis_port_is_let_out_when_the_chat_key_is_set(prod_run: StackRun, prod_config):
    [policy] = prod_run.of_type(NETWORK_POLICY)
    out = policy.get("spec", "egress")[1]["ports"]
    assert {"port": 443, "protocol": "TCP"} in out  # https://api.openai.example/v1
    assert {"port": 7233, "protocol": "TCP"} in out  # payments.a1b2c.tmprl.cloud:7233
    # With egress narrowed to DNS and Temporal, the chat key still opens the chat API's port.
    narrowed = {**prod_config, "egressPorts": "[]",
                "chatgptBaseUrl": "https://llm.example.com:8443/v1"}
    [policy] = run_stack(narrowed, stack="prod").of_type(NETWORK_POLICY)
    assert policy.get("spec", "egress")[1]["ports"] == [{"port": 7233, "protocol": "TCP"},
                                                        {"port": 8443, "protocol": "TCP"}]
    config = {k: v for k, v in narrowed.items() if k != "chatgptApiKey"}
    [policy] = run_stack(config, stack="prod").of_type(NETWORK_POLICY)
    assert policy.get("spec", "egress")[1]["ports"] == [{"port": 7233, "protocol": "TCP"}]


@pytest.mark.parametrize("autoscaling, kinds", [
    ("keda", {"ScaledObject", "TriggerAuthentication"}), ("hpa", {"HorizontalPodAutoscaler"})])
def test_with_an_autoscaler_the_deployment_sets_no_replicas(prod_config, autoscaling, kinds):
    run = run_stack({**prod_config, "autoscaling": autoscaling, "maxReplicas": "12"},
                    stack="prod")
    found = {r.type_.rsplit(":", 1)[1] for r in run.kubernetes_objects()}
    assert kinds <= found
    assert "replicas" not in run.one(DEPLOYMENT, WORKER).get("spec")
    if autoscaling == "keda":
        auth = run.one(TRIGGER_AUTH).get("spec")
        parameters = {r["parameter"]: (r["name"], r["key"]) for r in auth["secretTargetRef"]}
        assert parameters["apiKey"] == (API_KEY_SECRET, spec.TEMPORAL_API_KEY.env)
        assert parameters["cert"] == (TLS_SECRET, "tls.crt")
        assert parameters["ca"] == (SERVER_CA_SECRET, "ca.crt")


def test_an_own_pull_secret_and_registry_credentials_do_not_mix(prod_config):
    with pytest.raises(ValueError, match="imagePullSecret: must not be set with "
                                         "temporal-worker:registryUsername"):
        run_stack({**prod_config, "imagePullSecret": "other"}, stack="prod")


def test_reloader_config_names_the_secrets_read_as_env(prod_config, prod_run: StackRun):
    """`reloader: true` reaches the component: the Deployment names the Secrets behind env
    (the chat key, secretEnv) for Stakater Reloader, not the mounted TLS and API-key ones."""
    run = run_stack({**prod_config, "reloader": "true"}, stack="prod")
    annotations = run.one(DEPLOYMENT, WORKER).get("metadata", "annotations")
    assert annotations == {"secret.reloader.stakater.com/reload":
                           f"{CHATGPT_SECRET},{SECRET_ENV_SECRET}"}
    assert "annotations" not in prod_run.one(DEPLOYMENT, WORKER).get("metadata")


def test_keda_with_an_api_key_and_a_private_ca_but_no_client_cert_is_refused_at_preview(
        prod_config):
    # KEDA's Temporal scaler uses a CA only with a client certificate and key: with an API key
    # alone it checks the server against the system roots, and its TLS would fail.
    config = {k: v for k, v in prod_config.items() if k not in ("tlsCert", "tlsKey")}
    with pytest.raises(ValueError) as caught:
        run_stack({**config, "autoscaling": "keda"}, stack="prod")
    message = str(caught.value)
    assert message.startswith("temporal-worker:autoscaling: keda cannot scale a worker that uses "
                              "temporal-worker:temporalApiKey with a private "
                              "temporal-worker:tlsServerCa and no temporal-worker:tlsCert"), message
    assert "autoscaling hpa" in message
    assert caught.value.registered_resources == ()
    run_stack({**config, "autoscaling": "hpa"}, stack="prod")
    run_stack({**prod_config, "autoscaling": "keda"}, stack="prod")  # with mTLS, KEDA uses the CA
