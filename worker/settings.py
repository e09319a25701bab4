"""Worker settings read from the environment (names from `worker.contract`), checked up front.

Every problem becomes a `SettingsError` whose one-line message names the variable and never
contains key material or API keys.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from temporalio.envconfig import ClientConfig

from worker import contract

if TYPE_CHECKING:
    from cryptography import x509

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_CHATGPT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_CHATGPT_MODEL = "gpt-4o-mini"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


class SettingsError(ValueError):
    """A bad setting: the message names the variable and is safe to print."""


@dataclass(frozen=True)
class Settings:
    """Everything the worker process needs, parsed and validated."""

    connect_config: Mapping[str, Any] = field(repr=False)
    """Keyword arguments for `Client.connect` from temporalio.envconfig (may hold key bytes)."""
    address: str = DEFAULT_ADDRESS
    """Temporal frontend host:port (for logs and errors)."""
    namespace: str = contract.DEFAULT_NAMESPACE
    """Temporal namespace the worker polls."""
    tls: bool = False
    """Whether the connection uses TLS."""
    task_queue: str = contract.DEFAULT_TASK_QUEUE
    """Task queue the worker polls."""
    graceful_shutdown_seconds: int = contract.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS
    """How long in-flight activities may run after SIGTERM."""
    health_port: int = contract.HEALTH_PORT
    """Port of the HTTP liveness/readiness server; 0 turns it off."""
    metrics_port: int = contract.METRICS_PORT
    """Port of the Prometheus endpoint; 0 turns it off."""
    log_format: str = contract.DEFAULT_LOG_FORMAT
    """`plain` or `json`."""
    log_level: str = "INFO"
    """Root log level."""
    heartbeat_file: str | None = None
    """File rewritten while ready (exec-probe readiness); None turns it off."""
    liveness_file: str | None = None
    """File touched while the event loop runs (exec-probe liveness); None turns it off."""
    deployment_name: str | None = None
    """Worker Deployment name for worker versioning (with `build_id`)."""
    build_id: str | None = None
    """Build ID for worker versioning (with `deployment_name`)."""
    chatgpt_base_url: str = DEFAULT_CHATGPT_BASE_URL
    """OpenAI-compatible API base URL for the chat activity."""
    chatgpt_model: str = DEFAULT_CHATGPT_MODEL
    """Model name sent to the chat-completions API."""
    chatgpt_api_key: str | None = field(default=None, repr=False)
    """Bearer token for the chat-completions API."""


def with_aliases(environ: Mapping[str, str]) -> dict[str, str]:
    """Copy `environ`, mapping the seed article's names onto the standard ones."""
    env = dict(environ)
    for alias, standard in contract.ALIASES.items():
        value = env.get(alias)
        if value is None:
            continue
        if standard in env and env[standard] != value:
            raise SettingsError(f"{alias}: conflicts with {standard}; set only one of them")
        env[standard] = value
    return env


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate the worker's settings from `environ` (default: `os.environ`)."""
    source = os.environ if environ is None else environ
    env = with_aliases(source)
    # Errors name the variable the user actually set, alias or not.
    label = {std: alias for alias, std in contract.ALIASES.items()
             if alias in source and std not in source}
    env.setdefault(contract.ENV_ADDRESS, DEFAULT_ADDRESS)
    env.setdefault(contract.ENV_NAMESPACE, contract.DEFAULT_NAMESPACE)

    address = env[contract.ENV_ADDRESS]
    if not _HOST_PORT.match(address) or not 0 < int(address.rsplit(":", 1)[1]) < 65536:
        raise SettingsError(f"{label.get(contract.ENV_ADDRESS, contract.ENV_ADDRESS)}: "
                            f"expected host:port, got {address!r}")
    _check_tls_flag(env)
    _check_tls_files(env, lambda std: label.get(std, std))

    try:
        connect_config = ClientConfig.load_client_connect_config(override_env_vars=env)
    except Exception as err:  # the bridge's errors name the file or value, not its content
        raise SettingsError(f"Temporal client config: {type(err).__name__}: {err}") from None

    deployment_name = _optional(env, contract.ENV_DEPLOYMENT_NAME)
    build_id = _optional(env, contract.ENV_BUILD_ID)
    if bool(deployment_name) != bool(build_id):
        missing = contract.ENV_BUILD_ID if deployment_name else contract.ENV_DEPLOYMENT_NAME
        raise SettingsError(f"{missing}: required when worker versioning is configured")

    log_format = env.get(contract.ENV_LOG_FORMAT, contract.DEFAULT_LOG_FORMAT).strip().lower()
    if log_format not in contract.LOG_FORMATS:
        raise SettingsError(f"{contract.ENV_LOG_FORMAT}: expected one of "
                            f"{', '.join(contract.LOG_FORMATS)}, got {log_format!r}")
    log_level = env.get(contract.ENV_LOG_LEVEL, "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"{contract.ENV_LOG_LEVEL}: expected one of "
                            f"{', '.join(LOG_LEVELS)}, got {log_level!r}")

    task_queue = env.get(contract.ENV_TASK_QUEUE, contract.DEFAULT_TASK_QUEUE).strip()
    if not task_queue:
        raise SettingsError(f"{contract.ENV_TASK_QUEUE}: must not be empty")

    health_port = _port(env, contract.ENV_HEALTH_PORT, contract.HEALTH_PORT)
    metrics_port = _port(env, contract.ENV_METRICS_PORT, contract.METRICS_PORT)
    if health_port and health_port == metrics_port:
        raise SettingsError(f"{contract.ENV_METRICS_PORT}: must differ from "
                            f"{contract.ENV_HEALTH_PORT} ({health_port})")

    return Settings(
        connect_config=connect_config,
        address=address,
        namespace=env[contract.ENV_NAMESPACE],
        tls=bool(connect_config.get("tls")),
        task_queue=task_queue,
        graceful_shutdown_seconds=_shutdown_seconds(env),
        health_port=health_port,
        metrics_port=metrics_port,
        log_format=log_format,
        log_level=log_level,
        heartbeat_file=_optional(env, contract.ENV_HEARTBEAT_FILE),
        liveness_file=_optional(env, contract.ENV_LIVENESS_FILE),
        deployment_name=deployment_name,
        build_id=build_id,
        chatgpt_base_url=(_optional(env, contract.ENV_CHATGPT_BASE_URL)
                          or DEFAULT_CHATGPT_BASE_URL).rstrip("/"),
        chatgpt_model=_optional(env, contract.ENV_CHATGPT_MODEL) or DEFAULT_CHATGPT_MODEL,
        chatgpt_api_key=_optional(env, contract.ENV_CHATGPT_API_KEY),
    )


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = _int(env, name, default)
    if not 0 <= port <= 65535:
        raise SettingsError(f"{name}: expected a port 1-65535 (or 0 to turn it off), got {port}")
    return port


def _shutdown_seconds(env: Mapping[str, str]) -> int:
    name = contract.ENV_GRACEFUL_SHUTDOWN_SECONDS
    seconds = _int(env, name, contract.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS)
    if not 0 <= seconds <= 24 * 3600:
        raise SettingsError(f"{name}: expected 0-86400 seconds, got {seconds}")
    return seconds


def _read(name: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise SettingsError(f"{name}: cannot read {path}: {err.strerror}") from None


def _certificates(name: str, path: str) -> list[x509.Certificate]:
    """Load and check every certificate in a PEM file; the message never quotes the file."""
    from cryptography import x509  # only when TLS files are configured: keeps start-up fast

    data = _read(name, path)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise SettingsError(f"{name}: {path} is not a PEM certificate") from None
    now = datetime.datetime.now(datetime.timezone.utc)
    for cert in certs:
        if cert.version is not x509.Version.v3:
            raise SettingsError(f"{name}: {path} is an X.509 {cert.version.name} certificate; "
                                "TLS needs v3")
        if now < cert.not_valid_before_utc:
            raise SettingsError(f"{name}: {path} is not valid before "
                                f"{cert.not_valid_before_utc.isoformat()}")
        if now > cert.not_valid_after_utc:
            raise SettingsError(f"{name}: {path} expired on "
                                f"{cert.not_valid_after_utc.isoformat()}")
    return certs


def _check_tls_flag(env: dict[str, str]) -> None:
    """envconfig turns TLS on for any value but false/0 (even "no", "off" or empty): be strict."""
    raw = env.get(contract.ENV_TLS)
    if raw is None:
        return
    value = raw.strip().lower()
    if not value:
        del env[contract.ENV_TLS]
    elif value not in ("true", "1", "false", "0"):
        raise SettingsError(f"{contract.ENV_TLS}: expected true or false, got {raw!r}")


def _check_tls_files(env: Mapping[str, str], name: Callable[[str], str]) -> None:
    """Fail early on cert/key files that rustls would reject with an obscure error."""
    cert_name = name(contract.ENV_TLS_CLIENT_CERT_PATH)
    key_name = name(contract.ENV_TLS_CLIENT_KEY_PATH)
    cert_path = _optional(env, contract.ENV_TLS_CLIENT_CERT_PATH)
    key_path = _optional(env, contract.ENV_TLS_CLIENT_KEY_PATH)
    ca_path = _optional(env, contract.ENV_TLS_SERVER_CA_CERT_PATH)
    if cert_path and not key_path:
        raise SettingsError(f"{key_name}: required when {cert_name} is set")
    if key_path and not cert_path:
        raise SettingsError(f"{cert_name}: required when {key_name} is set")
    if ca_path:
        _certificates(contract.ENV_TLS_SERVER_CA_CERT_PATH, ca_path)
    if not cert_path or not key_path:
        return
    from cryptography.hazmat.primitives import serialization

    leaf = _certificates(cert_name, cert_path)[0]
    key_pem = _read(key_name, key_path)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise SettingsError(f"{key_name}: {key_path} is not an unencrypted PEM private key") from None
    except Exception:  # cryptography's UnsupportedAlgorithm and friends
        raise SettingsError(f"{key_name}: {key_path} holds an unsupported private key") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, spki)
            != leaf.public_key().public_bytes(serialization.Encoding.DER, spki)):
        raise SettingsError(f"{key_name}: {key_path} does not match the certificate in "
                            f"{cert_name}")
