"""The stack's Kubernetes Secrets, made from secret config and handed to TemporalWorker by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config import StackSettings
from components.temporal_worker import SecretKeyRef
from worker import contract

TLS_SECRET = "temporal-tls"
SERVER_CA_SECRET = "temporal-server-ca"
API_KEY_SECRET = "temporal-api-key"
API_KEY_KEY = "TEMPORAL_API_KEY"
# The seed article's names, kept so its kubectl commands still apply.
CHATGPT_SECRET = "chatgpt-key"
CHATGPT_KEY = "KEY"
SECRET_ENV_SECRET = "worker-secret-env"


@dataclass(frozen=True)
class WorkerSecrets:
    """Names and keys of the Secrets created, plus their contents for the rollout checksum."""

    tls_secret_name: Optional[pulumi.Output[str]] = None
    server_ca_secret_name: Optional[pulumi.Output[str]] = None
    api_key: Optional[SecretKeyRef] = None
    secret_env: Mapping[str, SecretKeyRef] = field(default_factory=dict)
    contents: tuple[pulumi.Input[str], ...] = ()


def worker_secrets(name: str, settings: StackSettings, namespace: pulumi.Input[str],
                   opts: pulumi.ResourceOptions) -> WorkerSecrets:
    """Create one Secret per concern from `settings`; return how the worker references them."""

    def secret(suffix: str, secret_name: str, data: Mapping[str, pulumi.Input[str]],
               type_: str = "Opaque") -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{name}-{suffix}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=namespace),
            type=type_,
            string_data=dict(data),
            opts=opts,
        )

    result: dict = {"secret_env": {}}
    contents: list[pulumi.Input[str]] = []
    if settings.tls_cert and settings.tls_key:
        # Holds the mTLS client pair under the standard keys the worker's mount expects.
        tls = secret("tls", TLS_SECRET, {contract.TLS_CERT_KEY: settings.tls_cert,
                                         contract.TLS_KEY_KEY: settings.tls_key},
                     type_="kubernetes.io/tls")
        result["tls_secret_name"] = tls.metadata.name
        contents += [settings.tls_cert, settings.tls_key]
    if settings.tls_server_ca:
        # Lets the worker trust a private server CA without baking it into the image.
        ca = secret("server-ca", SERVER_CA_SECRET, {contract.SERVER_CA_KEY: settings.tls_server_ca})
        result["server_ca_secret_name"] = ca.metadata.name
        contents.append(settings.tls_server_ca)
    if settings.temporal_api_key:
        # Keeps the Temporal Cloud API key out of the Deployment spec.
        api = secret("api-key", API_KEY_SECRET, {API_KEY_KEY: settings.temporal_api_key})
        result["api_key"] = SecretKeyRef(api.metadata.name, API_KEY_KEY)
        contents.append(settings.temporal_api_key)
    if settings.chatgpt_api_key:
        # Keeps the workload's ChatGPT key out of the Deployment spec.
        chatgpt = secret("chatgpt-key", CHATGPT_SECRET, {CHATGPT_KEY: settings.chatgpt_api_key})
        result["secret_env"][contract.ENV_CHATGPT_API_KEY] = SecretKeyRef(
            chatgpt.metadata.name, CHATGPT_KEY)
        contents.append(settings.chatgpt_api_key)
    if settings.secret_env:
        # Carries the team's extra secret env vars, one key per variable.
        extra = secret("secret-env", SECRET_ENV_SECRET, settings.secret_env)
        for env_name in sorted(settings.secret_env):
            result["secret_env"][env_name] = SecretKeyRef(extra.metadata.name, env_name)
            contents.append(settings.secret_env[env_name])
    return WorkerSecrets(**result, contents=tuple(contents))
