"""Typed stack settings: read the `temporal-worker:*` config once, validate it, fail before any resource.

Every error is a `ValueError` whose message starts with the full config key and never contains a
secret value. Secret values leave this module only as secret `pulumi.Output`s.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping, Optional

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from components.temporal_dev_server import TemporalDevServerArgs
from components.temporal_worker import PROBE_MODES, TemporalWorkerArgs
from worker import contract

PROJECT = "temporal-worker"

# The components' own defaults are the stack's defaults, so each lives in exactly one place.
_WORKER = TemporalWorkerArgs(image="")
_DEV_SERVER = TemporalDevServerArgs()

# Every non-secret key with its default. Pulumi.yaml's `config:` block repeats them for the CLI
# and tests/program checks that both agree.
DEFAULTS: Mapping[str, Any] = {
    "k8sNamespace": _WORKER.namespace,
    "temporalAddress": "",
    "temporalNamespace": _WORKER.temporal_namespace,
    "taskQueue": _WORKER.task_queue,
    "tlsServerCa": "",
    "tlsServerName": "",
    "imageRepository": "localhost:5001/temporal-worker",
    "imageTag": "",
    "imagePlatform": "linux/amd64",
    "registryServer": "",
    "registryUsername": "",
    "replicas": _WORKER.replicas,
    "cpuRequest": _WORKER.cpu_request,
    "memoryRequest": _WORKER.memory_request,
    "cpuLimit": _WORKER.cpu_limit,
    "memoryLimit": _WORKER.memory_limit,
    "devServer": False,
    "devServerImage": _DEV_SERVER.image,
    "gracefulShutdownSeconds": _WORKER.graceful_shutdown_seconds,
    "probeMode": _WORKER.probe_mode,
    "logFormat": _WORKER.log_format,
    "chatgptBaseUrl": "",
}

# Keys whose values are secret: never in Pulumi.yaml, always read with get_secret.
SECRET_KEYS: tuple[str, ...] = (
    "tlsCert", "tlsKey", "temporalApiKey", "chatgptApiKey", "secretEnv", "registryPassword",
)

EXPIRY_WARNING_DAYS = 30

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUANTITY = re.compile(
    r"^\+?(?P<number>\d+(\.\d*)?|\.\d+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
_BINARY_SUFFIX = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIX = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
                   "E": 18}
# Names the component sets itself; secretEnv must not shadow them.
_RESERVED_ENV = frozenset(
    value for name, value in vars(contract).items() if name.startswith("ENV_")
) | frozenset(contract.ALIASES)


def key(name: str) -> str:
    """Full config key, as users type it and as every error message names it."""
    return f"{PROJECT}:{name}"


def _fail(name: str, reason: str) -> ValueError:
    return ValueError(f"{key(name)}: {reason}")


@dataclass(frozen=True)
class Resources:
    """CPU and memory requests and limits, as Kubernetes quantities."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


@dataclass(frozen=True)
class StackSettings:
    """Validated stack config. Secret fields are secret Outputs (None when unset)."""

    k8s_namespace: str
    temporal_address: Optional[str]
    temporal_namespace: str
    task_queue: str
    tls_cert: Optional[pulumi.Output[str]]
    tls_key: Optional[pulumi.Output[str]]
    tls_server_ca: Optional[str]
    tls_server_name: Optional[str]
    temporal_api_key: Optional[pulumi.Output[str]]
    chatgpt_api_key: Optional[pulumi.Output[str]]
    secret_env: Mapping[str, pulumi.Output[str]]
    image_repository: str
    image_tag: Optional[str]
    image_platform: str
    registry_server: Optional[str]
    registry_username: Optional[str]
    registry_password: Optional[pulumi.Output[str]]
    replicas: int
    resources: Resources
    dev_server: bool
    dev_server_image: str
    graceful_shutdown_seconds: int
    probe_mode: str
    log_format: str
    chatgpt_base_url: Optional[str]


def load_settings(config: pulumi.Config) -> StackSettings:
    """Read and validate every key; raise ValueError naming the first bad key."""
    raw = _Reader(config)
    dev_server = raw.boolean("devServer")

    temporal_address = raw.text("temporalAddress")
    if dev_server:
        for name in ("temporalAddress", "temporalApiKey", "tlsCert", "tlsKey", "tlsServerCa",
                     "tlsServerName"):
            if raw.is_set(name):
                raise _fail(name, "must not be set with devServer=true: the worker talks to the "
                                  "in-cluster dev server without TLS or API key")
    else:
        if not temporal_address:
            raise _fail("temporalAddress", "required (host:port) unless devServer is true")
        _check_host_port("temporalAddress", temporal_address)

    tls_cert_pem = raw.plain_secret("tlsCert")
    tls_key_pem = raw.plain_secret("tlsKey")
    if bool(tls_cert_pem) != bool(tls_key_pem):
        missing = "tlsKey" if tls_cert_pem else "tlsCert"
        raise _fail(missing, "tlsCert and tlsKey must be set together (mTLS needs both)")
    if tls_cert_pem and tls_key_pem:
        _check_client_pair(tls_cert_pem, tls_key_pem)

    server_ca = raw.text("tlsServerCa")
    if server_ca:
        _check_ca_bundle("tlsServerCa", server_ca)
    server_name = raw.text("tlsServerName")
    if server_name:
        _check_hostname("tlsServerName", server_name)

    k8s_namespace = raw.text("k8sNamespace")
    if not _DNS1123_LABEL.match(k8s_namespace):
        raise _fail("k8sNamespace", f"{k8s_namespace!r} is not a DNS-1123 label")
    if k8s_namespace == "default" or k8s_namespace.startswith("kube-"):
        raise _fail("k8sNamespace", f"{k8s_namespace!r} is a system namespace; use a dedicated one")

    replicas = raw.integer("replicas")
    if replicas < 0:
        raise _fail("replicas", f"must be 0 or more, got {replicas}")
    shutdown = raw.integer("gracefulShutdownSeconds")
    if shutdown < 1:
        raise _fail("gracefulShutdownSeconds", f"must be 1 or more, got {shutdown}")

    resources = Resources(
        cpu_request=raw.quantity("cpuRequest"),
        memory_request=raw.quantity("memoryRequest"),
        cpu_limit=raw.quantity("cpuLimit"),
        memory_limit=raw.quantity("memoryLimit"),
    )
    for request, limit in (("cpuRequest", "cpuLimit"), ("memoryRequest", "memoryLimit")):
        if parse_quantity(getattr(resources, _snake(request))) > parse_quantity(
                getattr(resources, _snake(limit))):
            raise _fail(request, f"must not exceed {key(limit)}")

    probe_mode = raw.choice("probeMode", PROBE_MODES)
    log_format = raw.choice("logFormat", contract.LOG_FORMATS)

    registry_username = raw.text("registryUsername")
    if bool(registry_username) != raw.is_set("registryPassword"):
        missing = "registryPassword" if registry_username else "registryUsername"
        raise _fail(missing, "registryUsername and registryPassword must be set together")

    image_repository = raw.text("imageRepository")
    if not image_repository or "@" in image_repository or _has_tag(image_repository):
        raise _fail("imageRepository", "must be a repository without tag or digest, "
                                       "e.g. localhost:5001/temporal-worker")
    image_tag = raw.text("imageTag")
    if image_tag and not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", image_tag):
        raise _fail("imageTag", f"{image_tag!r} is not a valid image tag")

    secret_env_names = raw.secret_env_names()

    return StackSettings(
        k8s_namespace=k8s_namespace,
        temporal_address=temporal_address or None,
        temporal_namespace=raw.text("temporalNamespace"),
        task_queue=raw.text("taskQueue"),
        tls_cert=raw.secret_output("tlsCert"),
        tls_key=raw.secret_output("tlsKey"),
        tls_server_ca=server_ca or None,
        tls_server_name=server_name or None,
        temporal_api_key=raw.secret_token("temporalApiKey"),
        chatgpt_api_key=raw.secret_token("chatgptApiKey"),
        secret_env=raw.secret_env_outputs(secret_env_names),
        image_repository=image_repository,
        image_tag=image_tag or None,
        image_platform=raw.text("imagePlatform"),
        registry_server=raw.text("registryServer") or None,
        registry_username=registry_username or None,
        registry_password=raw.secret_token("registryPassword"),
        replicas=replicas,
        resources=resources,
        dev_server=dev_server,
        dev_server_image=raw.text("devServerImage"),
        graceful_shutdown_seconds=shutdown,
        probe_mode=probe_mode,
        log_format=log_format,
        chatgpt_base_url=raw.text("chatgptBaseUrl") or None,
    )


def parse_quantity(value: str) -> Decimal:
    """Value of a Kubernetes resource quantity (`500m`, `100Mi`, `1e3`); ValueError if invalid."""
    match = _QUANTITY.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIX:
        return number * (Decimal(1024) ** _BINARY_SUFFIX[suffix])
    if suffix in _DECIMAL_SUFFIX:
        return number.scaleb(_DECIMAL_SUFFIX[suffix])
    return number.scaleb(int(suffix[1:]))


class _Reader:
    """Config access with the code defaults applied and typed parsing that names the key."""

    def __init__(self, config: pulumi.Config):
        self._config = config

    def is_set(self, name: str) -> bool:
        return self._config.get(name) not in (None, "")

    def text(self, name: str) -> str:
        value = self._config.get(name)
        return (DEFAULTS[name] if value is None else value).strip()

    def boolean(self, name: str) -> bool:
        value = self._config.get(name)
        if value is None:
            return bool(DEFAULTS[name])
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _fail(name, f"must be true or false, got {value!r}")

    def integer(self, name: str) -> int:
        value = self._config.get(name)
        if value is None:
            return int(DEFAULTS[name])
        try:
            return int(value.strip())
        except ValueError:
            raise _fail(name, f"must be an integer, got {value!r}") from None

    def quantity(self, name: str) -> str:
        value = self.text(name)
        try:
            parse_quantity(value)
        except ValueError as err:
            raise _fail(name, str(err)) from None
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in allowed:
            raise _fail(name, f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def plain_secret(self, name: str) -> Optional[str]:
        # The plain text is needed only to validate; it never leaves load_settings.
        return self._config.get(name) or None

    def secret_output(self, name: str) -> Optional[pulumi.Output[str]]:
        # get_secret marks the value secret even when the user forgot `--secret`.
        return self._config.get_secret(name) if self.is_set(name) else None

    def secret_token(self, name: str) -> Optional[pulumi.Output[str]]:
        # A key piped from a file (`config set --secret k < file`) keeps the file's newline,
        # which would make every request fail authentication.
        value = self.secret_output(name)
        return value.apply(str.strip) if value is not None else None

    def secret_env_names(self) -> list[str]:
        if not self.is_set("secretEnv"):
            return []
        try:
            value = self._config.get_object("secretEnv")
        except Exception:  # noqa: BLE001 - the SDK's error would quote the secret JSON
            raise _fail("secretEnv", "must be a JSON object of NAME -> string") from None
        if not isinstance(value, dict):
            raise _fail("secretEnv", "must be a JSON object of NAME -> string")
        for name, item in value.items():
            if not _ENV_NAME.match(name):
                raise _fail("secretEnv", f"{name!r} is not a valid environment variable name")
            if name in _RESERVED_ENV:
                raise _fail("secretEnv", f"{name} is set by the component; use its own key")
            if _env_text(item) == "":
                raise _fail("secretEnv", f"the value of {name} must be a non-empty string")
        return sorted(value)

    def secret_env_outputs(self, names: list[str]) -> Mapping[str, pulumi.Output[str]]:
        if not names:
            return {}
        whole = self._config.get_secret_object("secretEnv")
        return {name: whole.apply(lambda env, n=name: _env_text(env[n])) for name in names}


def _env_text(value: Any) -> str:
    """`config set --path` stores true/false and integers as JSON scalars; env wants text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return ""


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m[1].lower(), name)


def _has_tag(repository: str) -> bool:
    last = repository.rsplit("/", 1)[-1]
    return ":" in last


def _check_hostname(name: str, host: str) -> None:
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise _fail(name, f"{host!r} is not a valid host name")


def _check_host_port(name: str, address: str) -> None:
    match = re.match(r"^\[(?P<ip6>[^\]]+)\]:(?P<port>\d+)$|^(?P<host>[^:\[\]]+):(?P<port2>\d+)$",
                     address)
    if not match:
        raise _fail(name, f"{address!r} is not host:port (e.g. ns.acct.tmprl.cloud:7233)")
    port = int(match["port"] or match["port2"])
    if not 1 <= port <= 65535:
        raise _fail(name, f"port {port} is out of range 1-65535")
    if match["ip6"]:
        try:
            ipaddress.IPv6Address(match["ip6"])
        except ValueError:
            raise _fail(name, f"{address!r} has an invalid IPv6 address") from None
    else:
        _check_hostname(name, match["host"])


def _load_cert(name: str, pem: str) -> x509.Certificate:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise _fail(name, "is not a PEM-encoded X.509 certificate") from None
    except x509.InvalidVersion:
        raise _fail(name, "has an unknown X.509 version; only v3 certificates work") from None
    if cert.version is not x509.Version.v3:
        raise _fail(name, f"is an X.509 {cert.version.name} certificate; rustls in the "
                          "Temporal SDK accepts only v3")
    return cert


def _check_validity(name: str, cert: x509.Certificate) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    if cert.not_valid_before_utc > now:
        raise _fail(name, f"is not valid before {cert.not_valid_before_utc.isoformat()}")
    if cert.not_valid_after_utc <= now:
        raise _fail(name, f"expired on {cert.not_valid_after_utc.isoformat()}")
    if cert.not_valid_after_utc - now <= datetime.timedelta(days=EXPIRY_WARNING_DAYS):
        pulumi.log.warn(f"{key(name)}: expires on {cert.not_valid_after_utc.isoformat()}, "
                        f"within {EXPIRY_WARNING_DAYS} days; rotate it soon")


def _check_client_pair(cert_pem: str, key_pem: str) -> None:
    cert = _load_cert("tlsCert", cert_pem)
    _check_validity("tlsCert", cert)
    try:
        private_key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:
        raise _fail("tlsKey", "is encrypted; provide an unencrypted PEM private key") from None
    except Exception:  # noqa: BLE001 - parser errors may echo input bytes
        raise _fail("tlsKey", "is not a PEM-encoded private key") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private_key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise _fail("tlsKey", f"does not match the public key of {key('tlsCert')}")


def _check_ca_bundle(name: str, pem: str) -> None:
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise _fail(name, "is not a PEM bundle of X.509 certificates") from None
    for cert in certs:
        if cert.version is not x509.Version.v3:
            raise _fail(name, f"contains an X.509 {cert.version.name} certificate; "
                              "only v3 works")
        _check_validity(name, cert)
