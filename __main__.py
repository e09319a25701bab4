"""The temporal-worker stack: config -> image -> namespace -> secrets -> worker -> exports."""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from stack import rollout  # first: puts the component package (components/) on the path
from stack.config import load
from stack.image import content_tag, worker_image
from stack.secrets import worker_secrets
from temporal_worker_k8s import TemporalDevServer, TemporalWorker
from temporal_worker_k8s.production import POD_SECURITY_LABELS

ROOT = Path(__file__).resolve().parent

# Raises ValueError naming the bad key before any resource is registered.
config = load(pulumi.Config())

image_tag = config["imageTag"] or content_tag(ROOT)
# A versioned rollout asks Temporal which builds are live; that fails before any resource too.
versioned = rollout.plan(config, image_tag)
image = worker_image("worker-image", config, ROOT, image_tag)

# Keeps the worker, its Secrets and the dev server apart from other workloads, and holds
# every pod in it to the restricted Pod Security Standard.
namespace = k8s.core.v1.Namespace("namespace", metadata=k8s.meta.v1.ObjectMetaArgs(
    name=config["k8sNamespace"], labels=POD_SECURITY_LABELS))
namespace_name = namespace.metadata.name

temporal_address = config["temporalAddress"]
if config["devServer"]:
    # Gives the dev stack a Temporal server, so `pulumi up` needs no account and no secrets.
    dev_server = TemporalDevServer("temporal-dev", {
        "namespace": namespace_name, "image": config["devServerImage"],
        "temporal_namespace": config["temporalNamespace"]})
    temporal_address = dev_server.address

secrets = worker_secrets("worker", config, namespace_name,
                         pulumi.ResourceOptions(depends_on=[namespace]))

# With a versioned rollout, room for the new build's version is made before its Deployment.
upkeep = rollout.upkeep(f"{rollout.WORKER_NAME}-versions", versioned, config) if versioned \
    else None

worker = TemporalWorker(rollout.WORKER_NAME, {
    **config.component_inputs(),
    **secrets.inputs,
    "image": image.repo_digest,
    "namespace": namespace_name,
    "temporal_address": temporal_address,
    "env": config.workload_env(),
    "egress_ports": config.egress_ports(),
    "version": image_tag,
    "restart_on": list(secrets.contents),
    **(versioned.inputs if versioned else {}),
}, pulumi.ResourceOptions(depends_on=[upkeep] if upkeep else None))
if versioned:
    switch = rollout.start(f"{rollout.WORKER_NAME}-rollout", versioned, config, image.repo_digest,
                           after=worker)
    pulumi.export("buildId", worker.build_id)
    pulumi.export("currentBuildId", switch.current_build_id)

pulumi.export("namespace", worker.namespace)
pulumi.export("deploymentName", worker.deployment_name)
pulumi.export("image", image.repo_digest)
pulumi.export("imageDigest", image.repo_digest.apply(lambda ref: ref.rsplit("@", 1)[-1]))
pulumi.export("temporalAddress", temporal_address)
pulumi.export("taskQueue", config["taskQueue"])
