"""Each bad setting stops `python -m worker` with one line naming the variable, no secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import temporal_worker_spec.settings as spec
from tools.worker_process import REPO, clean_env, free_ports_env
from temporal_worker_spec.resolve import MAX_FILE_BYTES
from worker import settings

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
    return {spec.TLS_CERT.env: str(cert), spec.TLS_KEY.env: str(key)}


def _bad_cases(pki, tmp: Path) -> dict[str, tuple[dict[str, str], str, str]]:
    """case -> (env, variable named in the error, phrase in the error)."""
    good = pki["good"]
    not_pem = tmp / "not.pem"
    not_pem.write_text("this is not PEM\n")
    broken_toml = tmp / "broken.toml"
    broken_toml.write_text(f'[profile.default]\naddress = "a:1"\napi_key = "{API_KEY}\n')
    wrong_types = tmp / "types.toml"
    wrong_types.write_text(f'[profile.default]\naddress = 7\napi_key = "{API_KEY}"\n')
    latin1_toml = tmp / "latin1.toml"
    latin1_toml.write_bytes(b'[profile.default]\nnamespace = "caf\xe9"\n')
    good_toml = tmp / "good.toml"
    good_toml.write_text('[profile.default]\nnamespace = "default"\n')
    fifo = tmp / "fifo"
    os.mkfifo(fifo)
    key_file = tmp / "api-key"
    key_file.write_text("tmprl-file-key\n")
    huge = tmp / "huge.pem"
    huge.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    return {
        "missing cert file": (_tls(tmp / "nope.crt", good.key_path),
                              spec.TLS_CERT.env, "No such file"),
        "missing key file": (_tls(good.cert_path, tmp / "nope.key"),
                             spec.TLS_KEY.env, "No such file"),
        # What a Secret mounted one level off looks like: the path exists but cannot be read.
        "unreadable cert file": (_tls(tmp, good.key_path), spec.TLS_CERT.env,
                                 "cannot read"),
        "cert without key": ({spec.TLS_CERT.env: str(good.cert_path)},
                             spec.TLS_KEY.env, "required when"),
        "cert not PEM": (_tls(not_pem, good.key_path), spec.TLS_CERT.env,
                         "not a PEM-encoded X.509 certificate"),
        "key not PEM": (_tls(good.cert_path, not_pem), spec.TLS_KEY.env,
                        "not a PEM-encoded private key"),
        "key is a cert": (_tls(good.cert_path, good.cert_path), spec.TLS_KEY.env,
                          "not a PEM-encoded private key"),
        "key of another cert": (_tls(good.cert_path, pki["other"].key_path),
                                spec.TLS_KEY.env, "does not match"),
        "expired cert": (_tls(pki["expired"].cert_path, pki["expired"].key_path),
                         spec.TLS_CERT.env, "expired on"),
        "not yet valid cert": (_tls(pki["future"].cert_path, pki["future"].key_path),
                               spec.TLS_CERT.env, "not valid before"),
        "v1 cert": (_tls(pki["v1"].cert_path, pki["v1"].key_path),
                    spec.TLS_CERT.env, "accepts only v3"),
        "server CA not PEM": ({spec.TLS_SERVER_CA.env: str(not_pem)},
                              spec.TLS_SERVER_CA.env,
                              "not a PEM-encoded X.509 certificate bundle"),
        "alias cert missing": ({"TEMPORAL_MTLS_TLS_CERT": str(tmp / "nope.crt"),
                                "TEMPORAL_MTLS_TLS_KEY": str(good.key_path)},
                               "TEMPORAL_MTLS_TLS_CERT", "No such file"),
        "alias conflicts": ({"TEMPORAL_HOST_URL": "a:7233", spec.TEMPORAL_ADDRESS.env: "b:7233"},
                            "TEMPORAL_HOST_URL", "conflicts with TEMPORAL_ADDRESS"),
        "TLS flag neither true nor false": ({spec.TLS.env: "no"}, spec.TLS.env,
                                            "must be true or false"),
        "address without port": ({spec.TEMPORAL_ADDRESS.env: "temporal.example.com"},
                                 spec.TEMPORAL_ADDRESS.env, "is not host:port"),
        "unknown log format": ({spec.LOG_FORMAT.env: "xml"}, spec.LOG_FORMAT.env,
                               "must be one of json, plain"),
        "unknown log level": ({spec.LOG_LEVEL.env: "chatty"}, spec.LOG_LEVEL.env,
                              "must be one of"),
        "health port not a number": ({spec.HEALTH_PORT.env: "http"},
                                     spec.HEALTH_PORT.env, "must be an integer"),
        "metrics port out of range": ({spec.METRICS_PORT.env: "70000"},
                                      spec.METRICS_PORT.env, "between 0 and 65535"),
        "same health and metrics port": ({spec.HEALTH_PORT.env: "9000",
                                          spec.METRICS_PORT.env: "9000"},
                                         spec.METRICS_PORT.env, "must differ"),
        "negative shutdown seconds": ({spec.GRACEFUL_SHUTDOWN_SECONDS.env: "-5"},
                                      spec.GRACEFUL_SHUTDOWN_SECONDS.env, "between 0 and 86400"),
        "shutdown seconds not a number": ({spec.GRACEFUL_SHUTDOWN_SECONDS.env: "30s"},
                                          spec.GRACEFUL_SHUTDOWN_SECONDS.env,
                                          "must be an integer"),
        "build id without deployment": ({spec.BUILD_ID.env: "abc123"},
                                        spec.DEPLOYMENT_NAME.env, "required when"),
        "empty namespace": ({spec.TEMPORAL_NAMESPACE.env: ""}, spec.TEMPORAL_NAMESPACE.env,
                            "must not be empty"),
        "config file that is not TOML": ({"TEMPORAL_CONFIG_FILE": str(broken_toml)},
                                         "TEMPORAL_CONFIG_FILE", "is not valid TOML (at line 3"),
        "config file the SDK refuses": ({"TEMPORAL_CONFIG_FILE": str(wrong_types)},
                                        "TEMPORAL_CONFIG_FILE", "content is not shown"),
        "API key without TLS": ({spec.TEMPORAL_API_KEY.env: "tmprl-key", spec.TLS.env: "false"},
                                spec.TLS.env, "would be sent in cleartext"),
        # Files are read only when regular, never blocking, at most 1 MiB, and TOML as UTF-8.
        "config file not UTF-8": ({"TEMPORAL_CONFIG_FILE": str(latin1_toml)},
                                  "TEMPORAL_CONFIG_FILE", "is not UTF-8 text (byte 35)"),
        "config file is /dev/zero": ({"TEMPORAL_CONFIG_FILE": "/dev/zero"}, "TEMPORAL_CONFIG_FILE",
                                     "it is a character device, not a regular file"),
        "config file is a FIFO": ({"TEMPORAL_CONFIG_FILE": str(fifo)}, "TEMPORAL_CONFIG_FILE",
                                  "it is a FIFO, not a regular file"),
        "config file profile missing": ({"TEMPORAL_CONFIG_FILE": str(good_toml),
                                         "TEMPORAL_PROFILE": "staging"}, "TEMPORAL_PROFILE",
                                        "profile 'staging' is not in"),
        "cert file is /dev/zero": (_tls("/dev/zero", good.key_path), spec.TLS_CERT.env,
                                   "it is a character device, not a regular file"),
        "key file is a FIFO": (_tls(good.cert_path, fifo), spec.TLS_KEY.env,
                               "it is a FIFO, not a regular file"),
        "server CA over 1 MiB": ({spec.TLS_SERVER_CA.env: str(huge)}, spec.TLS_SERVER_CA.env,
                                 "is larger than 1024 KiB"),
        "API key file is /dev/zero": ({spec.TEMPORAL_API_KEY_FILE.env: "/dev/zero"},
                                      spec.TEMPORAL_API_KEY_FILE.env, "character device"),
        "API key both ways": ({spec.TEMPORAL_API_KEY.env: "tmprl-key",
                               spec.TEMPORAL_API_KEY_FILE.env: str(key_file)},
                              spec.TEMPORAL_API_KEY_FILE.env,
                              "must not be set with TEMPORAL_API_KEY"),
        "chat key over http to another host": (
            {spec.CHATGPT_BASE_URL.env: "http://llm.example.com/v1"}, spec.CHATGPT_BASE_URL.env,
            "would be sent in cleartext"),
    }


# Every case of _bad_cases, by name (the table needs the PKI fixture, so names are listed here).
CASES = ["missing cert file", "missing key file", "unreadable cert file", "cert without key",
         "cert not PEM", "key not PEM", "key is a cert", "key of another cert", "expired cert",
         "not yet valid cert", "v1 cert", "server CA not PEM", "alias cert missing",
         "alias conflicts", "TLS flag neither true nor false", "address without port",
         "unknown log format", "unknown log level", "health port not a number",
         "metrics port out of range", "same health and metrics port",
         "negative shutdown seconds", "shutdown seconds not a number",
         "build id without deployment", "empty namespace", "config file that is not TOML",
         "config file the SDK refuses", "API key without TLS",
         "chat key over http to another host", "config file not UTF-8",
         "config file is /dev/zero", "config file is a FIFO", "config file profile missing",
         "cert file is /dev/zero", "key file is a FIFO", "server CA over 1 MiB",
         "API key file is /dev/zero", "API key both ways"]


@pytest.mark.parametrize("case", CASES)
def test_bad_setting_exits_with_one_line_naming_the_variable(case, pki, tmp_path):
    env, variable, phrase = _bad_cases(pki, tmp_path)[case]
    result = subprocess.run([sys.executable, "-m", "worker"], cwd=REPO, capture_output=True,
                            text=True, timeout=60,
                            env=clean_env(**{**free_ports_env(),
                                             spec.TEMPORAL_ADDRESS.env: "127.0.0.1:7233",
                                             **env, spec.CHATGPT_API_KEY.env: API_KEY}))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"configuration error: {variable}: "), line
    assert phrase in line
    assert API_KEY not in line and "PRIVATE KEY" not in line
    for issued in (pki["good"], pki["other"]):
        assert issued.key_path.read_text().splitlines()[1] not in line


def test_a_value_the_spec_refuses_is_reported_before_the_sdk_loads(tmp_path):
    """A pod with a wrong setting says so at once: `python -m worker` checks the values with
    the spec (standard library only) before it imports temporalio or the worker's modules.
    `-X importtime` lists every module the process imported."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "worker"], cwd=REPO,
                            capture_output=True, text=True, timeout=60,
                            env=clean_env(**{**free_ports_env(), spec.TASK_QUEUE.env: ""}))
    assert result.returncode == settings.EXIT_BAD_SETTINGS, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "worker.settings" in imported, "no import list: -X importtime printed nothing"
    loaded = sorted(name for name in imported
                    if name.split(".")[0] in ("temporalio", "httpx", "cryptography", "grpc")
                    or name in ("worker.main", "worker.workflows", "worker.activities"))
    assert loaded == [], f"loaded before the settings were checked: {loaded[:10]}"
    assert result.stderr.strip().splitlines()[-1] == \
        f"configuration error: {spec.TASK_QUEUE.env}: must not be empty"


def test_defaults_and_aliases_are_parsed(pki):
    config = settings.load({"TEMPORAL_HOST_URL": "temporal.example.com:7233",
                            **{alias: str(path) for alias, path in
                               [("TEMPORAL_MTLS_TLS_CERT", pki["good"].cert_path),
                                ("TEMPORAL_MTLS_TLS_KEY", pki["good"].key_path)]},
                            spec.CHATGPT_API_KEY.env: API_KEY})
    assert config.connect_config["target_host"] == "temporal.example.com:7233"
    assert config.tls
    assert config.connect_config["tls"].client_cert == pki["good"].cert_path.read_bytes()
    assert (config.task_queue, config.namespace) == (spec.TASK_QUEUE.default,
                                                     spec.TEMPORAL_NAMESPACE.default)
    for setting in (spec.GRACEFUL_SHUTDOWN_SECONDS, spec.HEALTH_PORT, spec.METRICS_PORT,
                    spec.LOG_FORMAT, spec.MAX_CONCURRENT_ACTIVITIES):
        assert config[setting.name] == setting.default, setting.name
    assert API_KEY not in repr(config) and "PRIVATE" not in repr(config)


def test_api_key_turns_on_tls_and_stays_out_of_repr():
    config = settings.load({spec.TEMPORAL_ADDRESS.env: "ns.acct.tmprl.cloud:7233",
                            spec.TEMPORAL_API_KEY.env: API_KEY})
    assert config.tls and config.connect_config["api_key"] == API_KEY
    assert API_KEY not in repr(config)
