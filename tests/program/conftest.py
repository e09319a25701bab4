"""Fixtures for the Pulumi program tests: stack configs and mocked runs of the real `__main__.py`."""

from __future__ import annotations

import datetime
import json

import pytest

from tests.program.helpers import (CHATGPT_API_KEY, EXTRA_SECRET, REGISTRY_PASSWORD,
                                   TEMPORAL_API_KEY, Pki)
from tests.support.stacks import CLOUD_TARGET
from tests.support.tls import CertFactory
from tools.mockstack import StackRun, load_stack_config, run_stack


@pytest.fixture(scope="session")
def pki(cert_factory: CertFactory) -> Pki:
    ca = cert_factory.ca("program-ca")
    now = datetime.datetime.now(datetime.timezone.utc)
    client = cert_factory.issue(ca, "program-client",
                                not_after=now + datetime.timedelta(days=90))
    return Pki(ca, client)


@pytest.fixture(scope="session")
def dev_config() -> dict[str, str]:
    """Exactly what the committed dev stack (Pulumi.dev.yaml) sets."""
    return load_stack_config("dev")


@pytest.fixture(scope="session")
def prod_config(pki: Pki) -> dict[str, str]:
    """A Temporal Cloud-like stack: mTLS, API key, ChatGPT key, an extra secret env var."""
    return {
        **CLOUD_TARGET,
        "tlsCert": pki.cert_pem,
        "tlsKey": pki.key_pem,
        "tlsServerCa": pki.ca_pem,
        "temporalApiKey": TEMPORAL_API_KEY,
        "chatgptApiKey": CHATGPT_API_KEY,
        "chatgptBaseUrl": "https://api.openai.example/v1",
        "secretEnv": json.dumps({"EXTRA_TOKEN": EXTRA_SECRET}),
        "imageTag": "v1.2.3",
        "registryUsername": "ci",
        "registryPassword": REGISTRY_PASSWORD,
        "replicas": "4",
        "cpuRequest": "250m",
        "memoryRequest": "256Mi",
        "cpuLimit": "1",
        "memoryLimit": "1Gi",
    }


@pytest.fixture(scope="session")
def prod_secrets(prod_config: dict[str, str]) -> dict[str, str]:
    """Config key -> every secret value the production config carries (PEM or key)."""
    return {
        "tlsCert": prod_config["tlsCert"],
        "tlsKey": prod_config["tlsKey"],
        "temporalApiKey": TEMPORAL_API_KEY,
        "chatgptApiKey": CHATGPT_API_KEY,
        "secretEnv": EXTRA_SECRET,
        "registryPassword": REGISTRY_PASSWORD,
    }


@pytest.fixture(scope="session")
def dev_run(dev_config: dict[str, str]) -> StackRun:
    return run_stack(dev_config)


@pytest.fixture(scope="session")
def prod_run(prod_config: dict[str, str]) -> StackRun:
    return run_stack(prod_config, stack="prod")
