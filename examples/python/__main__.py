"""A platform team's own program: two Temporal workers, on two task queues, in a namespace that
already exists, using Secrets that cert-manager and External Secrets already made.

It installs the component package like any dependency (requirements.txt) and creates no
Namespace and no Secret of its own.
"""

import pulumi

from temporal_worker_k8s import TemporalWorker

config = pulumi.Config()

# What both workers share: the image CI built (pinned by digest), the namespace and the
# Temporal Cloud connection, with the client certificate cert-manager keeps renewed.
common = {
    "image": config.require("image"),
    "namespace": config.require("namespace"),
    "temporal_address": config.require("temporalAddress"),
    "temporal_namespace": config.require("temporalNamespace"),
    "tls_secret_name": config.require("tlsSecretName"),
    "labels": {"team": "payments"},
    "node_selector": {"workload": "temporal"},
    "tolerations": [{"key": "workload", "operator": "Equal", "value": "temporal",
                     "effect": "NoSchedule"}],
}

# Polls the orders queue; busy, so it runs more pods with more activity slots each.
orders = TemporalWorker("orders", {
    **common, "task_queue": "orders", "replicas": 3, "cpu_limit": "1", "memory_limit": "1Gi"})

# Polls the refunds queue; its activities call Stripe with a key External Secrets syncs.
refunds = TemporalWorker("refunds", {
    **common, "task_queue": "refunds", "replicas": 1,
    "secret_env": {"STRIPE_API_KEY": {"name": config.require("stripeSecretName"),
                                      "key": "apiKey"}}})

pulumi.export("ordersDeployment", orders.deployment_name)
pulumi.export("refundsDeployment", refunds.deployment_name)
