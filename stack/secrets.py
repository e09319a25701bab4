"""The stack's Kubernetes Secrets, made from secret config and handed to TemporalWorker by name."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

import temporal_worker_spec as spec
from stack.config import StackConfig
from stack.image import registry_server
from stack.rollout import WORKER_NAME
from temporal_worker_k8s import pod
from temporal_worker_spec import contract

REGISTRY_SECRET = "worker-registry"
TLS_SECRET = "temporal-tls"
SERVER_CA_SECRET = "temporal-server-ca"
SECRET_ENV_SECRET = "worker-secret-env"


@dataclass(frozen=True)
class WorkerSecrets:
    """TemporalWorker inputs that reference the Secrets, and their contents for rollouts."""

    inputs: Mapping[str, Any] = field(default_factory=dict)
    """tls_secret_name, server_ca_secret_name, temporal_api_key, secret_env (when set)."""
    contents: tuple[pulumi.Input[str], ...] = ()
    """Everything stored in them, so rotating any of it rolls the pods."""


def secret_name(setting: spec.Setting) -> str:
    """`temporalApiKey` -> `temporal-api-key`: one Secret per secret env setting."""
    return setting.python_name.replace("_", "-")


def worker_secrets(name: str, config: StackConfig, namespace: pulumi.Input[str],
                   opts: pulumi.ResourceOptions) -> WorkerSecrets:
    """Create one Secret per concern from the config; return how the worker references them."""

    # The worker's own labels, so `kubectl get secret -l app.kubernetes.io/instance=...` and
    # cost or policy tools see the Secrets as part of the worker.
    labels = {**pod.selector_labels("temporal-worker", WORKER_NAME, "temporal"),
              "app.kubernetes.io/managed-by": "pulumi"}

    def secret(suffix: str, secret_name: str, data: Mapping[str, pulumi.Input[str]],
               type_: str = "Opaque") -> pulumi.Output[str]:
        return k8s.core.v1.Secret(
            f"{name}-{suffix}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=namespace,
                                                labels=labels),
            type=type_, string_data=dict(data), opts=opts).metadata.name

    secrets = config.secrets
    inputs: dict[str, Any] = {}
    secret_env: dict[str, dict[str, pulumi.Input[str]]] = {}
    contents: list[pulumi.Input[str]] = []
    if "tlsCert" in secrets:
        # Holds the mTLS client pair under the standard keys the worker's mount expects.
        inputs["tls_secret_name"] = secret("tls", TLS_SECRET, {
            contract.TLS_CERT_KEY: secrets["tlsCert"], contract.TLS_KEY_KEY: secrets["tlsKey"]},
            type_="kubernetes.io/tls")
        contents += [secrets["tlsCert"], secrets["tlsKey"]]
    if config["tlsServerCa"]:
        # Lets the worker trust a private server CA without baking it into the image.
        inputs["server_ca_secret_name"] = secret(
            "server-ca", SERVER_CA_SECRET, {contract.SERVER_CA_KEY: config["tlsServerCa"]})
        contents.append(config["tlsServerCa"])
    for setting in spec.SETTINGS:
        if not (setting.config and setting.secret and setting.env and not setting.file
                and setting.name in secrets):
            continue
        # Keeps the credential out of the Deployment spec; the pod reads it by secretKeyRef.
        ref = {"name": secret(secret_name(setting), secret_name(setting),
                              {setting.env: secrets[setting.name]}), "key": setting.env}
        if setting.arg:
            inputs[setting.python_name] = ref
        else:
            secret_env[setting.env] = ref
        contents.append(secrets[setting.name])
    if "secretEnv" in secrets:
        # Carries the team's extra secret env vars, one key per variable. The names are not
        # secret (they are validated and visible in the pod spec); the values are.
        values = {n: secrets["secretEnv"].apply(lambda env, n=n: env[n])
                  for n in sorted(config.secret_env_names)}
        extra = secret("secret-env", SECRET_ENV_SECRET, values)
        for env_name, value in values.items():
            secret_env[env_name] = {"name": extra, "key": env_name}
            contents.append(value)
    if secret_env:
        inputs["secret_env"] = secret_env
    if config["registryUsername"]:
        # Lets the nodes pull the image from the private registry it was pushed to.
        server = registry_server(config)
        inputs["image_pull_secret"] = secret("registry", REGISTRY_SECRET, {
            ".dockerconfigjson": secrets["registryPassword"].apply(
                lambda password: docker_config(server, config["registryUsername"], password))},
            type_="kubernetes.io/dockerconfigjson")
    return WorkerSecrets(inputs, tuple(contents))


def docker_config(server: str, username: str, password: str) -> str:
    """A `.dockerconfigjson` with one registry's credentials, as `kubectl create secret
    docker-registry` writes it."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password,
                                          "auth": auth}}})
