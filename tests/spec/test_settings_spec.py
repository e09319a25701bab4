"""The settings spec, over every setting: a value the worker refuses at start is refused by the
real `__main__.py` under mocks first, before any resource, naming the Pulumi key, with the same
reason and without echoing a secret."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import temporal_worker_spec as spec
from tests.support.stacks import CLOUD_TARGET
from tools.mockstack import run_stack
from tools.worker_process import REPO, clean_env, free_ports_env

GARBAGE_PEM = "-----BEGIN CERTIFICATE-----\nTOPSECRETnotbase64\n-----END CERTIFICATE-----\n"
GARBAGE_KEY = "-----BEGIN PRIVATE KEY-----\nTOPSECRETkeymaterial\n-----END PRIVATE KEY-----\n"
QUANTITIES = ["a lot", "100MB", "-1", "1.", "1e400", "\u0661\u0660\u0660m", " "]

# Setting -> texts the worker refuses (PEM cases are filled in from the test PKI below). Every
# setting must have a row; the test below fails when one is added without bad values here.
BAD: dict[str, list[str]] = {
    "temporalAddress": ["host", "host:0", "host:99999", "bad host:7233", "ho\nst:7233",
                        "[fe80::1%eth0]:7233", "h\u00f6st:7233", "host:\u0667\u0662\u0663\u0663",
                        "https://host:7233", " "],
    "temporalNamespace": ["", " ", "x" * 1001, "a\nb"],
    "taskQueue": ["", " \t ", "q" * 1001, "orders\r\n2"],
    # PEM cases are named here and made by the `pems` fixture.
    "tlsCert": ["<garbage>", "<whitespace>", "<expired>", "<not yet valid>", "<v1>"],
    "tlsKey": ["<garbage>", "<a certificate>", "<encrypted>"],
    "tlsServerCa": ["<garbage>", "<expired>"],
    "tlsServerName": [" ", "bad host", "ho\nst", "h" * 254],
    "temporalApiKey": [" \n", "tmprl key with spaces", "tmprl-\u00e9t\u00e9"],
    "temporalApiKeyFile": [" \n", "tmprl key with spaces", "\ufefftmprl-key"],
    "tls": ["maybe", "yes", "on"],
    "gracefulShutdownSeconds": ["-1", "86401", "30s", "\u0663\u0660", "1.5", ""],
    "maxConcurrentActivities": ["0", "10001", "many", ""],
    "maxConcurrentWorkflowTasks": ["1", "10001", "-5"],
    "pollerBehavior": ["dynamic", "auto-scaling", ""],
    "minPollers": ["0", "1001", "one"],
    "initialPollers": ["0", "x", "5.0"],
    "maxPollers": ["1", "1001", ""],
    "slotTuner": ["auto", "resource-based", ""],
    "tunerTargetMemory": ["0", "101", "80%"],
    "tunerTargetCpu": ["0", "101", "0.9"],
    "logFormat": ["xml", ""],
    "logLevel": ["chatty", "TRACE"],
    "healthPort": ["70000", "http"],
    "metricsPort": ["-1", "9464.0"],
    "heartbeatFile": ["relative/ready"],
    "livenessFile": ["tmp/alive"],
    "deploymentName": ["d" * 1001, "payments.v2"],
    "buildId": ["b" * 256],
    "k8sNamespace": ["default", "kube-system", "Payments", "a_b", "n" * 64, ""],
    "replicas": ["-1", "2147483648", "three", "\u0663", ""],
    "cpuRequest": QUANTITIES,
    "memoryRequest": QUANTITIES,
    "cpuLimit": QUANTITIES,
    "memoryLimit": QUANTITIES,
    "probeMode": ["tcp", ""],
    "defaultVersioningBehavior": ["pinned-ish", "UNSPECIFIED", ""],
    "rollout": ["blueGreen", ""],
    "rampSteps": ["[50, 10]", "[0]", "[100]", "[10, 10]", "10", "[]", "[true]",
                  '[{"percent": 10, "pause": "5 minutes"}]', '[{"pause": "5m"}]',
                  '[{"percent": 10, "wait": "5m"}]', '[{"percent": 50}, 10]', "[1.5]",
                  "[" + ", ".join(str(p) for p in range(1, 23)) + "]"],
    "rampPause": ["5 minutes", "-1", "2w", "99999999d"],
    "gateWorkflow": [" ", "g" * 201],
    "gateInput": ["{not json", " ", "[1, 2]", "42", '"text"'],
    "gateTimeout": ["ten minutes", "2d"],
    "rolloutTimeout": ["an hour", "-5m", "30d"],
    "rolloutSigningKey": [" ", "short-key", "a key with spaces that is long enough to pass",
                          "k\u00e9y" * 12],
    "rolloutPreviousSigningKey": ["too-short"],
    "rolloutAdopt": ["not json", '["v1"]', '{"V1": "repo/app@sha256:' + "0" * 64 + '"}',
                     '{"v1": "repo/app:latest"}', '{"v1": 42}',
                     '{"v1": "evil.example/backdoor@sha256:' + "0" * 63 + '"}'],
    "rolloutTakeOver": ["please"],
    "maxVersions": ["1", "10001", "lots"],
    "sunsetScaledownDelay": ["1y", "soon"],
    "sunsetDeleteDelay": ["1y", "forever"],
    "currentBuildId": [" ", "b" * 64],
    "autoscaling": ["yes", "vpa", ""],
    "minReplicas": ["-1", "2147483648", "one"],
    "maxReplicas": ["0", "ten"],
    "targetQueueSize": ["0", "1000001"],
    "activationTargetQueueSize": ["-1", "x"],
    "targetCpuUtilization": ["0", "1001", "70%"],
    "podDisruptionBudget": ["maybe"],
    "topologySpread": ["sometimes"],
    "networkPolicy": ["no-thanks"],
    "egressPorts": ["443", "[0]", "[70000]", "[443, 443]", '["https"]', "[true]", "{}"],
    "metricsNamespaces": ['"monitoring"', '["Monitoring"]', "[1.5]"],
    "podMonitor": ["on-ish"],
    "reloader": ["auto", ""],
    "prometheusRule": ["sure", ""],
    "grafanaDashboard": ["1x"],
    "imagePullSecret": ["Pull_Secret", " ", "-x"],
    "secretEnv": ["not json", "[1]", '{"bad-name": "v"}', '{"TEMPORAL_API_KEY": "v"}',
                  '{"DB_PASSWORD\\n": "v"}', '{"A": " "}', '{"A": {"b": 1}}'],
    "imageRepository": ["", "Team/App", "repo with space", "https://registry.example.com/x",
                        "repo/app:v1", "repo/app@sha256:" + "0" * 64],
    "imageTag": ["-bad", "a b", "t" * 129],
    "imagePlatform": ["amd64", "Linux/amd64"],
    "registryServer": ["bad host", " "],
    "registryUsername": [" "],
    "registryPassword": [" ", "pass word"],
    "devServer": ["yes", "maybe", ""],
    "devServerImage": ["", "Temporal/Temporal:1", "temporalio/temporal:bad tag"],
    "chatgptApiKey": ["\t", "sk live"],
    "chatgptBaseUrl": ["ftp://api.example.com", "https://user:pw@api.example.com",
                       "not a url", ""],
    "chatgptModel": [" ", "m" * 201],
}


@pytest.fixture(scope="module")
def pems(cert_factory) -> dict:
    ca = cert_factory.ca("spec-ca")
    good = cert_factory.issue(ca, "spec-good")
    encrypted = serialization.load_pem_private_key(good.key_path.read_bytes(), None)
    return {
        "ca": ca.cert_path.read_text(),
        "cert": good.cert_path.read_text(),
        "key": good.key_path.read_text(),
        "<garbage>": GARBAGE_PEM,
        "<whitespace>": " \n",
        "<expired>": cert_factory.expired(ca, "spec-expired").cert_path.read_text(),
        "<not yet valid>": cert_factory.not_yet_valid(ca, "spec-future").cert_path.read_text(),
        "<v1>": cert_factory.issue(ca, "spec-v1", v1=True).cert_path.read_text(),
        "<a certificate>": good.cert_path.read_text(),
        "<encrypted>": encrypted.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase")).decode(),
    }


def stack_config(pems) -> dict[str, str]:
    return {**CLOUD_TARGET, "tlsCert": pems["cert"], "tlsKey": pems["key"],
            "tlsServerCa": pems["ca"], "temporalApiKey": "tmprl-good-key",
            "registryUsername": "ci", "registryPassword": "registry-good-password"}


def worker_reason(pems, setting: spec.Setting, text: str, tmp_path: Path) -> str:
    """Run `python -m worker` with the bad value; its one-line reason (path removed)."""
    env = {**free_ports_env(), spec.BY_NAME["temporalAddress"].env: "127.0.0.1:9"}
    files = {"tlsCert": pems["cert"], "tlsKey": pems["key"]} if setting.name in (
        "tlsCert", "tlsKey") else {}
    files[setting.name] = text if setting.file else None
    for name, content in files.items():
        if content is not None:
            path = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.pem"
            path.write_text(content)
            env[spec.BY_NAME[name].env] = str(path)
    if not setting.file:
        env[setting.env] = text
    result = subprocess.run([sys.executable, "-m", "worker"], cwd=REPO, capture_output=True,
                            text=True, timeout=60, env=clean_env(**env))
    assert result.returncode == 2, (setting.env, text, result.stderr[-2000:])
    [line] = result.stderr.strip().splitlines()
    prefix = f"configuration error: {setting.env}: "
    assert line.startswith(prefix), line
    reason = line[len(prefix):]
    if setting.file:
        path = env[setting.env]
        assert reason.startswith(path + " "), reason
        reason = reason[len(path) + 1:]
    return reason


def stack_reason(pems, setting: spec.Setting, text: str) -> str:
    """Run the real __main__.py under mocks with the bad value; its reason."""
    with pytest.raises(ValueError) as caught:
        run_stack({**stack_config(pems), setting.name: text}, stack="prod")
    message = str(caught.value)
    prefix = f"temporal-worker:{setting.name}: "
    assert message.startswith(prefix), message
    assert caught.value.registered_resources == (), "resources registered before validation"
    return message[len(prefix):]


def assert_no_secret(setting: spec.Setting, text: str, message: str) -> None:
    if not setting.secret:
        return
    secret = text.strip()
    for line in secret.splitlines():
        if line and "-----" not in line:
            assert line not in message, f"{setting.name}: the message echoes the secret"


def test_every_setting_has_bad_values_in_the_table():
    assert set(BAD) == {s.name for s in spec.SETTINGS}


@pytest.mark.parametrize("name, value", [(n, v) for n, values in BAD.items() for v in values],
                         ids=lambda v: repr(v)[:40])
def test_a_value_the_worker_refuses_is_refused_by_the_program_first(pems, name, value,
                                                                   tmp_path):
    setting = spec.BY_NAME[name]
    text = pems.get(value, value)
    reasons = []
    if setting.env:
        reasons.append(worker_reason(pems, setting, text, tmp_path))
        assert_no_secret(setting, text, reasons[-1])
    if setting.config:
        reasons.append(stack_reason(pems, setting, text))
        assert_no_secret(setting, text, reasons[-1])
    if len(reasons) == 2:
        worker, program = reasons
        # The program may add how to waive a requirement (`unless devServer is true`).
        assert program.startswith(worker), (worker, program)


@pytest.mark.parametrize("setting", [s for s in spec.SETTINGS if s.default is not None],
                         ids=lambda s: s.name)
def test_every_default_passes_its_own_checks(setting):
    assert spec.parse(setting, setting.kind.text(setting.default)) == setting.default


def test_secret_settings_are_never_declared_plain():
    for setting in spec.SETTINGS:
        if setting.secret:
            assert setting.default is None, setting.name
            assert not (setting.arg and setting.kind.type != "string"), setting.name


@pytest.mark.parametrize("before", ["\ufeff", "subject=CN = J\u00fcrgen\r\n"],
                         ids=["byte order mark", "non-ASCII text before the block"])
def test_text_around_pem_blocks_is_ignored_alike_by_the_program_and_the_worker(pems, tmp_path,
                                                                               before):
    """One rule for PEM on both sides: the value is its blocks only. The program stores them
    so in the Secret, and the worker reads the same value from its mounted file."""
    clean = {"tlsCert": pems["cert"], "tlsKey": pems["key"], "tlsServerCa": pems["ca"]}
    wrapped = {name: f"{before}{text}trailing words, caf\u00e9\n" for name, text in clean.items()}
    run = run_stack({**stack_config(pems), **wrapped}, stack="prod")
    secrets = {s.get("metadata", "name"): s.get("stringData") for s in run.of_type(
        "kubernetes:core/v1:Secret") if s.get("stringData")}
    assert secrets["temporal-tls"] == {"tls.crt": clean["tlsCert"], "tls.key": clean["tlsKey"]}
    assert secrets["temporal-server-ca"] == {"ca.crt": clean["tlsServerCa"]}
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:9"}
    for name, text in wrapped.items():
        path = tmp_path / f"{name}.pem"
        path.write_bytes(text.encode())
        env[spec.BY_NAME[name].env] = str(path)
    values = spec.from_env(env)[0].values
    assert {name: values[name] for name in clean} == clean
