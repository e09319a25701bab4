"""Names, fake secrets and lookups shared by the program tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.support.tls import CA, Issued
from tools.mockstack import MockResource, StackRun

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
TRIGGER_AUTH = "kubernetes:keda.sh/v1alpha1:TriggerAuthentication"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
IMAGE = "docker:index/image:Image"
WORKER = "temporal-worker-deployment"

# Recognisable fake secrets, long enough that finding one by accident is impossible.
TEMPORAL_API_KEY = "tmprl-api-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CHATGPT_API_KEY = "sk-chatgpt-5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"
EXTRA_SECRET = "extra-secret-a1b2c3d4e5f60718293a4b5c6d7e8f90"
REGISTRY_PASSWORD = "registry-password-9d8c7b6a5f4e3d2c1b0a"


@dataclass(frozen=True)
class Pki:
    """A CA and a client cert valid for 90 days, as the PEM text users put in config."""

    ca: CA
    client: Issued

    @property
    def cert_pem(self) -> str:
        return self.client.cert_path.read_text()

    @property
    def key_pem(self) -> str:
        return self.client.key_path.read_text()

    @property
    def ca_pem(self) -> str:
        return self.ca.cert_path.read_text()


def pem(issued: Issued) -> tuple[str, str]:
    """(cert PEM, key PEM) of an issued certificate."""
    return issued.cert_path.read_text(), issued.key_path.read_text()


def container(run: StackRun, deployment: str = WORKER) -> dict[str, Any]:
    """The single container of a Deployment."""
    containers = run.one(DEPLOYMENT, deployment).get("spec", "template", "spec", "containers")
    assert len(containers) == 1, f"{deployment}: expected one container, got {len(containers)}"
    return containers[0]


def env_of(run: StackRun, deployment: str = WORKER) -> dict[str, dict[str, Any]]:
    """Env vars of the worker container by name (each the full EnvVar object)."""
    return {e["name"]: e for e in container(run, deployment).get("env", [])}


def walk_strings(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """Every string (keys included) inside nested dicts and lists, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield path + ("<key>",), str(k)
            yield from walk_strings(v, path + (k,))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from walk_strings(v, path + (i,))


def plain_text_hits(resource: MockResource, values: Iterable[str]) -> list[tuple[tuple, str]]:
    """(path, string) of every string in `resource`'s inputs that holds one of `values` at a
    path not marked secret."""
    values = tuple(values)
    return [(path, text) for path, text in walk_strings(resource.inputs)
            if not resource.is_secret(*path) and any(value in text for value in values)]
