"""Each bad setting stops `python -m worker` with one line naming the variable, no secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.worker_process import REPO, clean_env
from worker import contract, settings

API_KEY = "sk-live-do-not-print-0123456789"


@pytest.fixture(scope="module")
def pki(cert_factory):
    ca = cert_factory.ca("settings-ca")
    return {"ca": ca, "good": cert_factory.issue(ca, "settings-good"),
            "other": cert_factory.issue(ca, "settings-other"),
            "expired": cert_factory.expired(ca, "settings-expired"),
            "future": cert_factory.not_yet_valid(ca, "settings-future"),
            "v1": cert_factory.issue(ca, "settings-v1", v1=True)}


def _tls(cert: Path, key: Path) -> dict[str, str]:
    return {contract.ENV_TLS_CLIENT_CERT_PATH: str(cert), contract.ENV_TLS_CLIENT_KEY_PATH: str(key)}


def _bad_cases(pki, tmp: Path) -> dict[str, tuple[dict[str, str], str, str]]:
    """case -> (env, variable named in the error, phrase in the error)."""
    good = pki["good"]
    not_pem = tmp / "not.pem"
    not_pem.write_text("this is not PEM\n")
    return {
        "missing cert file": (_tls(tmp / "nope.crt", good.key_path),
                              contract.ENV_TLS_CLIENT_CERT_PATH, "No such file"),
        "missing key file": (_tls(good.cert_path, tmp / "nope.key"),
                             contract.ENV_TLS_CLIENT_KEY_PATH, "No such file"),
        # What a Secret mounted one level off looks like: the path exists but cannot be read.
        "unreadable cert file": (_tls(tmp, good.key_path), contract.ENV_TLS_CLIENT_CERT_PATH,
                                 "cannot read"),
        "cert without key": ({contract.ENV_TLS_CLIENT_CERT_PATH: str(good.cert_path)},
                             contract.ENV_TLS_CLIENT_KEY_PATH, "required when"),
        "cert not PEM": (_tls(not_pem, good.key_path), contract.ENV_TLS_CLIENT_CERT_PATH,
                         "not a PEM certificate"),
        "key not PEM": (_tls(good.cert_path, not_pem), contract.ENV_TLS_CLIENT_KEY_PATH,
                        "not an unencrypted PEM private key"),
        "key is a cert": (_tls(good.cert_path, good.cert_path), contract.ENV_TLS_CLIENT_KEY_PATH,
                          "not an unencrypted PEM private key"),
        "key of another cert": (_tls(good.cert_path, pki["other"].key_path),
                                contract.ENV_TLS_CLIENT_KEY_PATH, "does not match"),
        "expired cert": (_tls(pki["expired"].cert_path, pki["expired"].key_path),
                         contract.ENV_TLS_CLIENT_CERT_PATH, "expired on"),
        "not yet valid cert": (_tls(pki["future"].cert_path, pki["future"].key_path),
                               contract.ENV_TLS_CLIENT_CERT_PATH, "not valid before"),
        "v1 cert": (_tls(pki["v1"].cert_path, pki["v1"].key_path),
                    contract.ENV_TLS_CLIENT_CERT_PATH, "TLS needs v3"),
        "server CA not PEM": ({contract.ENV_TLS_SERVER_CA_CERT_PATH: str(not_pem)},
                              contract.ENV_TLS_SERVER_CA_CERT_PATH, "not a PEM certificate"),
        "alias cert missing": ({"TEMPORAL_MTLS_TLS_CERT": str(tmp / "nope.crt"),
                                "TEMPORAL_MTLS_TLS_KEY": str(good.key_path)},
                               "TEMPORAL_MTLS_TLS_CERT", "No such file"),
        "alias conflicts": ({"TEMPORAL_HOST_URL": "a:7233", contract.ENV_ADDRESS: "b:7233"},
                            "TEMPORAL_HOST_URL", "conflicts with TEMPORAL_ADDRESS"),
        "TLS flag neither true nor false": ({contract.ENV_TLS: "no"}, contract.ENV_TLS,
                                            "expected true or false"),
        "address without port": ({contract.ENV_ADDRESS: "temporal.example.com"},
                                 contract.ENV_ADDRESS, "expected host:port"),
        "unknown log format": ({contract.ENV_LOG_FORMAT: "xml"}, contract.ENV_LOG_FORMAT,
                               "expected one of plain, json"),
        "unknown log level": ({contract.ENV_LOG_LEVEL: "chatty"}, contract.ENV_LOG_LEVEL,
                              "expected one of"),
        "health port not a number": ({contract.ENV_HEALTH_PORT: "http"},
                                     contract.ENV_HEALTH_PORT, "expected an integer"),
        "metrics port out of range": ({contract.ENV_METRICS_PORT: "70000"},
                                      contract.ENV_METRICS_PORT, "expected a port"),
        "same health and metrics port": ({contract.ENV_HEALTH_PORT: "9000",
                                          contract.ENV_METRICS_PORT: "9000"},
                                         contract.ENV_METRICS_PORT, "must differ"),
        "negative shutdown seconds": ({contract.ENV_GRACEFUL_SHUTDOWN_SECONDS: "-5"},
                                      contract.ENV_GRACEFUL_SHUTDOWN_SECONDS, "expected 0-86400"),
        "shutdown seconds not a number": ({contract.ENV_GRACEFUL_SHUTDOWN_SECONDS: "30s"},
                                          contract.ENV_GRACEFUL_SHUTDOWN_SECONDS,
                                          "expected an integer"),
        "build id without deployment": ({contract.ENV_BUILD_ID: "abc123"},
                                        contract.ENV_DEPLOYMENT_NAME, "required when"),
    }


CASES = ["missing cert file", "missing key file", "unreadable cert file", "cert without key", "cert not PEM",
         "key not PEM", "key is a cert", "key of another cert", "expired cert",
         "not yet valid cert", "v1 cert", "server CA not PEM", "alias cert missing",
         "alias conflicts", "TLS flag neither true nor false", "address without port", "unknown log format", "unknown log level",
         "health port not a number", "metrics port out of range", "same health and metrics port",
         "negative shutdown seconds", "shutdown seconds not a number",
         "build id without deployment"]


@pytest.mark.parametrize("case", CASES)
def test_bad_setting_exits_with_one_line_naming_the_variable(case, pki, tmp_path):
    env, variable, phrase = _bad_cases(pki, tmp_path)[case]
    result = subprocess.run([sys.executable, "-m", "worker"], cwd=REPO, capture_output=True,
                            text=True, timeout=60,
                            env=clean_env(**env, **{contract.ENV_CHATGPT_API_KEY: API_KEY}))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"configuration error: {variable}: "), line
    assert phrase in line
    assert API_KEY not in line and "PRIVATE KEY" not in line
    for issued in (pki["good"], pki["other"]):
        assert issued.key_path.read_text().splitlines()[1] not in line


def test_defaults_and_aliases_are_parsed(pki):
    config = settings.load({"TEMPORAL_HOST_URL": "temporal.example.com:7233",
                            **{alias: str(path) for alias, path in
                               [("TEMPORAL_MTLS_TLS_CERT", pki["good"].cert_path),
                                ("TEMPORAL_MTLS_TLS_KEY", pki["good"].key_path)]},
                            contract.ENV_CHATGPT_API_KEY: API_KEY})
    assert config.connect_config["target_host"] == "temporal.example.com:7233"
    assert config.tls
    assert config.connect_config["tls"].client_cert == pki["good"].cert_path.read_bytes()
    assert (config.task_queue, config.namespace) == (contract.DEFAULT_TASK_QUEUE,
                                                     contract.DEFAULT_NAMESPACE)
    assert config.graceful_shutdown_seconds == contract.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS
    assert (config.health_port, config.metrics_port) == (contract.HEALTH_PORT,
                                                         contract.METRICS_PORT)
    assert config.log_format == contract.DEFAULT_LOG_FORMAT
    assert API_KEY not in repr(config) and "PRIVATE" not in repr(config)


def test_api_key_turns_on_tls_and_stays_out_of_repr():
    config = settings.load({contract.ENV_ADDRESS: "ns.acct.tmprl.cloud:7233",
                            contract.ENV_API_KEY: API_KEY})
    assert config.tls and config.connect_config["api_key"] == API_KEY
    assert API_KEY not in repr(config)
