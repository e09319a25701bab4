"""The Temporal Cloud-like target that the program, manifest and policy-pack tests deploy to.

Only non-secret settings are fixed; PEMs and keys are generated for each run.
"""

from __future__ import annotations

import json

from tests.support.tls import CertFactory

CLOUD_TARGET: dict[str, str] = {
    "k8sNamespace": "payments-workers",
    "temporalAddress": "payments.a1b2c.tmprl.cloud:7233",
    "temporalNamespace": "payments.a1b2c",
    "taskQueue": "payments",
    "tlsServerName": "payments.a1b2c.tmprl.cloud",
    "imageRepository": "registry.example.com/payments/temporal-worker",
}


def production_config(cert_factory: CertFactory) -> dict[str, str]:
    """A production-like config with PEMs generated for this run (nothing secret is committed)."""
    ca = cert_factory.ca("render-ca")
    client = cert_factory.issue(ca, "render-client")
    return {
        **CLOUD_TARGET,
        "tlsCert": client.cert_path.read_text(),
        "tlsKey": client.key_path.read_text(),
        "tlsServerCa": ca.cert_path.read_text(),
        "temporalApiKey": "tcld-api-key-for-render-tests-0123456789",
        "chatgptApiKey": "sk-render-tests-0123456789abcdef",
        "secretEnv": json.dumps({"LEDGER_API_TOKEN": "ledger-token-for-render-tests"}),
        "registryUsername": "ci",
        "registryPassword": "registry-password-for-render-tests",
        "replicas": "3",
    }
