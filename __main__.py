"""The temporal-worker stack: config -> validate -> image -> namespace -> secrets -> worker -> exports."""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.config import load_settings
from components.image import content_tag, worker_image
from components.secrets import worker_secrets
from components.temporal_dev_server import TemporalDevServer, TemporalDevServerArgs
from components.temporal_worker import TemporalWorker, TemporalWorkerArgs
from worker import contract

WORKER_DIR = Path(__file__).resolve().parent / "worker"

# Raises ValueError naming the bad key before any resource is registered.
settings = load_settings(pulumi.Config())

image_tag = settings.image_tag or content_tag(WORKER_DIR)
image = worker_image("worker-image", settings, WORKER_DIR, image_tag)

# Keeps the worker, its Secrets and the dev server apart from other workloads.
namespace = k8s.core.v1.Namespace(
    "namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=settings.k8s_namespace))
namespace_name = namespace.metadata.name

temporal_address = settings.temporal_address
if settings.dev_server:
    # Gives the dev stack a Temporal server, so `pulumi up` needs no account and no secrets.
    dev_server = TemporalDevServer("temporal-dev", TemporalDevServerArgs(
        namespace=namespace_name, image=settings.dev_server_image,
        temporal_namespace=settings.temporal_namespace))
    temporal_address = dev_server.address

secrets = worker_secrets("worker", settings, namespace_name,
                         pulumi.ResourceOptions(depends_on=[namespace]))

resources = settings.resources
worker = TemporalWorker("temporal-worker", TemporalWorkerArgs(
    image=image.repo_digest,
    namespace=namespace_name,
    temporal_address=temporal_address,
    temporal_namespace=settings.temporal_namespace,
    task_queue=settings.task_queue,
    tls_secret_name=secrets.tls_secret_name,
    server_ca_secret_name=secrets.server_ca_secret_name,
    tls_server_name=settings.tls_server_name,
    api_key=secrets.api_key,
    secret_env=secrets.secret_env,
    env={contract.ENV_CHATGPT_BASE_URL: settings.chatgpt_base_url}
    if settings.chatgpt_base_url else {},
    replicas=settings.replicas,
    cpu_request=resources.cpu_request,
    memory_request=resources.memory_request,
    cpu_limit=resources.cpu_limit,
    memory_limit=resources.memory_limit,
    graceful_shutdown_seconds=settings.graceful_shutdown_seconds,
    probe_mode=settings.probe_mode,
    log_format=settings.log_format,
    version=image_tag,
    checksum_inputs=secrets.contents,
))

pulumi.export("namespace", worker.namespace)
pulumi.export("deploymentName", worker.deployment_name)
pulumi.export("image", image.repo_digest)
pulumi.export("imageDigest", image.repo_digest.apply(lambda ref: ref.rsplit("@", 1)[-1]))
pulumi.export("temporalAddress", temporal_address)
pulumi.export("taskQueue", settings.task_queue)
