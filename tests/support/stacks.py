"""The Temporal Cloud-like target that the program and manifest tests both deploy to.

Only non-secret settings: each test tree adds its own runtime-generated PEMs and keys.
"""

CLOUD_TARGET: dict[str, str] = {
    "k8sNamespace": "payments-workers",
    "temporalAddress": "payments.a1b2c.tmprl.cloud:7233",
    "temporalNamespace": "payments.a1b2c",
    "taskQueue": "payments",
    "tlsServerName": "payments.a1b2c.tmprl.cloud",
    "imageRepository": "registry.example.com/payments/temporal-worker",
}
