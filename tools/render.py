"""Render a stack's Kubernetes objects to YAML offline, through the same Pulumi mocks the tests use.

    .venv/bin/python -m tools.render --stack dev --out rendered/dev
    .venv/bin/python -m tools.render --stack prod --out rendered/prod \\
        --set temporalAddress=my-ns.a1b2c.tmprl.cloud:7233 --set temporalNamespace=my-ns.a1b2c \\
        --set-secret tlsCert=@client.pem --set-secret tlsKey=@client.key \\
        --set-secret chatgptApiKey=env:CHATGPT_API_KEY --image-digest @build/worker.digest

`scripts/render.sh` runs this module after installing what it needs into `.venv` (a `.venv` made
by the demo lacks Pulumi).

Non-secret config comes from `Pulumi.<stack>.yaml` (if present), then `--config FILE` (same
format), then `--set KEY=VALUE` or `--set KEY=@FILE`. Secret config is never read from a stack
file (it is encrypted there): pass it with `--set-secret KEY=@FILE`, `KEY=env:VAR` or
`KEY=VALUE`. As `pulumi up` does, the program refuses a secret setting given in plain text (in a
stack file without `secure:`, or with `--set`); a `secure:` value must be given again with
`--set-secret`. Secret values and the keyed `checksum/secrets` annotation are redacted in the
output; without `--image-digest` the image digest is a marked placeholder. A versioned
`rollout` never asks Temporal: it renders against `--versions-from FILE` (a recorded
DescribeWorkerDeployment answer), or as the first rollout.
A file that cannot be read stops the render with one line naming the flag and the path (exit 2).
Keys are sorted at every level, as `kubectl get -o yaml` prints them, so equal input renders
equal bytes. The program's warnings (e.g. a certificate about to expire) go to stderr.
Files are written by `tools.rendered_dir.publish`: one render at a time, its files only, never
through a symlink.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import temporal_worker_spec as spec
from temporal_worker_spec.values import quoted
from tools import render_input, rendered_dir
from tools.render_input import PROJECT, REPO_ROOT  # noqa: F401 - REPO_ROOT for callers

REDACTED = "<redacted>"
# The pod template annotation TemporalWorker keys with the stack's random key; offline the key
# is not the stack's, and a value keyed by a known key would give a guessable secret away.
CHECKSUM_ANNOTATION = "checksum/secrets"


@dataclass(frozen=True)
class Rendering:
    """The Kubernetes objects a stack would apply, plus what was left out."""

    objects: list[dict[str, Any]]
    """Kubernetes objects in the order they are applied (`apply_order`), whatever order the
    program registered them in."""
    skipped: list[str] = field(default_factory=list)
    """`type name` of resources that are not Kubernetes objects (image, component)."""
    exports: dict[str, Any] = field(default_factory=dict)
    """Stack outputs, secrets redacted."""
    image_digest: str | None = None
    """The digest passed in, or None when the image reference carries a placeholder digest."""
    secret_leaks: list[str] = field(default_factory=list)
    """`urn: path` of values Pulumi marked secret inside non-Secret objects (should be none)."""
    warnings: list[str] = field(default_factory=list)
    """What the program logged with pulumi.log.warn (`pulumi up` would show the same), and what
    the render itself finds risky (a production stack pushing to this machine's registry)."""
    notes: list[str] = field(default_factory=list)
    """What the render assumed instead of asking (a versioned rollout's live builds)."""


def _api_version_kind(type_: str) -> tuple[str, str]:
    """`kubernetes:apps/v1:Deployment` -> (`apps/v1`, `Deployment`); core group is plain `v1`."""
    _, group_version, kind = type_.split(":", 2)
    group, _, version = group_version.rpartition("/")
    return (version if group == "core" else group_version), kind


def _plain(value: Any) -> Any:
    """A deep copy without None values (Pulumi leaves unset inputs out; so does the API)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_manifest(type_: str, name: str, inputs: Mapping[str, Any], *,
                secret_paths: Iterable[tuple] = (), redact: bool = True) -> dict[str, Any] | None:
    """The Kubernetes object a pulumi-kubernetes resource would apply, or None for others.

    Values at `secret_paths` (Pulumi secrets) and all Secret data are redacted unless `redact`
    is False, which only tests that run the image with the rendered Secrets should use.
    """
    if not type_.startswith("kubernetes:") or type_.count(":") != 2:
        return None
    api_version, kind = _api_version_kind(type_)
    obj = _plain(dict(inputs))
    if redact:
        data_keys = ("data", "stringData") if kind == "Secret" else ()
        for key in data_keys:
            if isinstance(obj.get(key), dict):
                obj[key] = {k: REDACTED for k in obj[key]}
        for path in secret_paths:
            if path[:1] not in [(k,) for k in data_keys]:
                _set(obj, path, REDACTED)
        annotations = (obj.get("spec", {}).get("template", {}).get("metadata", {})
                       .get("annotations", {}))
        if CHECKSUM_ANNOTATION in annotations:
            annotations[CHECKSUM_ANNOTATION] = REDACTED
    obj["apiVersion"] = obj.get("apiVersion") or api_version
    obj["kind"] = obj.get("kind") or kind
    metadata = obj.setdefault("metadata", {})
    # Without an explicit name the provider auto-names `<name>-<random>`; the logical name is
    # the stable part of that, and good enough for review and schema checks.
    metadata.setdefault("name", name)
    return obj


def _set(obj: Any, path: tuple, value: Any) -> None:
    for step in path[:-1]:
        obj = obj[step]
    if path:
        obj[path[-1]] = value


def render(config: Mapping[str, str], *, stack: str = "dev", image_digest: str | None = None,
           redact: bool = True, secret_keys: Iterable[str] | None = None,
           versions: Any = None) -> Rendering:
    """Run the stack program under mocks with `config` and collect its Kubernetes objects.

    `secret_keys` are the keys given as secrets (default: every secret setting); the program
    refuses the others' secret settings as plain text. `versions` is what Temporal would answer
    about the Worker Deployment for a versioned rollout (a `versioning.DeploymentState`, e.g.
    from `render_input.load_versions`); None renders the first rollout. Temporal is never asked.
    """
    from tools import mockstack

    if image_digest is not None and not render_input.DIGEST.fullmatch(image_digest):
        raise ValueError(f"--image-digest: expected sha256:<64 hex>, got {quoted(image_digest)}")
    notes: list[str] = []
    with _offline_temporal(versions, notes):
        run = mockstack.run_stack(config, stack=stack, project=PROJECT, image_digest=image_digest,
                                  secret_keys=None if secret_keys is None else tuple(secret_keys))
    objects, skipped, leaks = [], [], []
    for resource in run.resources:
        manifest = to_manifest(resource.type_, resource.name, resource.inputs,
                               secret_paths=resource.secret_paths, redact=redact)
        if manifest is None:
            skipped.append(f"{resource.type_} {resource.name}")
            continue
        objects.append(manifest)
        if manifest["kind"] != "Secret":
            leaks += [f"{resource.urn}: {'.'.join(map(str, p))}" for p in resource.secret_paths]
    exports = {k: REDACTED if k in run.secret_exports else v for k, v in run.exports.items()}
    # Registration order follows when each object's Outputs resolve, which varies between runs.
    objects.sort(key=apply_order)
    return Rendering(objects, skipped, exports,
                     None if run.image_digest_is_placeholder else run.image_digest, leaks,
                     [*run.warnings, *_local_registry_warning(config)], notes)


@contextlib.contextmanager
def _offline_temporal(versions: Any, notes: list[str]) -> Iterator[None]:
    """While the program runs, its question to Temporal (which builds are live) gets `versions`
    (or no builds) instead of a network call."""
    from temporal_worker_k8s import versioning

    def describe_blocking(connection, deployment_name, timeout=None, task_queue=None):
        if versions is not None:
            notes.append(f"rollout: rendered against the recorded answer for Worker Deployment "
                         f"{versions.deployment_name} (--versions-from)")
            return versions
        notes.append(f"rollout: rendered as the first rollout of {deployment_name} (no live "
                     "builds); pass --versions-from FILE to render against a recorded answer")
        return versioning.DeploymentState(deployment_name, (), None, None)

    real = versioning.describe_blocking
    versioning.describe_blocking = describe_blocking
    try:
        yield
    finally:
        versioning.describe_blocking = real


def _setting(config: Mapping[str, str], name: str) -> Any:
    text = config.get(name, config.get(f"{PROJECT}:{name}"))
    return spec.parse(spec.BY_NAME[name], text)


def _local_registry_warning(config: Mapping[str, str]) -> list[str]:
    """A stack without the dev server is meant for a real cluster, whose nodes cannot pull from
    a registry on the machine that pushed (e.g. the default localhost:5001 of the kind setup)."""
    if _setting(config, "devServer"):
        return []
    repository = _setting(config, "imageRepository")
    first, _, rest = repository.partition("/")
    if not rest or not ("." in first or ":" in first or first == "localhost"):
        return []  # a Docker Hub name, no registry host
    host = first[1:first.find("]")] if first.startswith("[") else first.partition(":")[0]
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host.endswith(".localhost")
    if not local:
        return []
    return [f"{PROJECT}:imageRepository: {repository} is a registry on the machine that pushes; "
            "the nodes of a production cluster cannot pull from it (set imageRepository to "
            "your registry)"]


# The order `helm install` applies kinds in (Helm's InstallOrder); other kinds (custom
# resources such as ScaledObject and PodMonitor) come after, by kind.
KIND_ORDER = ("Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget",
              "ServiceAccount", "Secret", "ConfigMap", "StorageClass", "PersistentVolume",
              "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
              "ClusterRoleBinding", "Role", "RoleBinding", "Service", "DaemonSet", "Pod",
              "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
              "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService")


def apply_order(obj: Mapping[str, Any]) -> tuple:
    """Sort key: kinds in the order they are applied, then namespace and name."""
    kind, meta = obj["kind"], obj.get("metadata", {})
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return rank, kind, meta.get("namespace") or "", meta.get("name") or ""


def _file_name(index: int, obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata", {})
    parts = [f"{index:02d}", obj["kind"].lower(), meta.get("namespace"), meta["name"]]
    return "-".join(re.sub(r"[^a-z0-9.-]+", "-", p.lower()) for p in parts if p) + ".yaml"


def write(rendering: Rendering, out_dir: Path) -> list[Path]:
    """Write one YAML file per object into `out_dir`; returns the paths written.

    Files a previous render listed in `out_dir/.rendered` are removed; nothing else is (see
    `tools.rendered_dir`).
    """
    from tools.mockstack import PLACEHOLDER_DIGEST

    files = {}
    for i, obj in enumerate(rendering.objects, start=1):
        body = yaml.safe_dump(obj, sort_keys=True, default_flow_style=False)
        header = ["# Rendered offline by tools/render.py (Pulumi mocks); secret values redacted."]
        if rendering.image_digest is None and PLACEHOLDER_DIGEST in body:
            header.append("# IMAGE DIGEST IS A PLACEHOLDER: no image was built for this render;"
                          " pass --image-digest to pin the real one.")
        files[_file_name(i, obj)] = "\n".join(header) + "\n" + body
    return rendered_dir.publish(out_dir, files)


def _check_summary(objects: list[dict[str, Any]]) -> str:
    from tools.conformance import worker_deployments

    workers = len(worker_deployments(objects))
    return (f"check: passed: {workers} worker Deployment{'s' if workers != 1 else ''} and "
            f"{len(objects) - workers} object{'s' if len(objects) - workers != 1 else ''} "
            "around it match what the worker reads")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="stack name; reads Pulumi.<stack>.yaml "
                        "when it exists (default: dev)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the YAML files")
    parser.add_argument("--config", type=Path, action="append", default=[], metavar="FILE",
                        help="extra stack-format config file (may repeat); its secure: values "
                        "must be given again with --set-secret")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE|KEY=@FILE",
                        help="non-secret config value, or the text of a file (may repeat)")
    parser.add_argument("--set-secret", action="append", default=[],
                        metavar="KEY=@FILE|KEY=env:VAR",
                        help="secret config value from a file or environment variable (may repeat)")
    parser.add_argument("--image-digest", metavar="sha256:...|@FILE",
                        help="digest of the pushed image, or a file holding it (e.g. the "
                        "--digestfile of buildah/podman push); default: a marked placeholder")
    parser.add_argument("--versions-from", type=Path, metavar="FILE",
                        help="with a versioned rollout: Temporal's recorded answer about the "
                        "Worker Deployment (format temporal-worker-deployment/v1); default: "
                        "render the first rollout. Temporal is never asked")
    parser.add_argument("--check", action="store_true",
                        help="also check the worker Deployment against the worker's contract")
    args = parser.parse_args(argv)

    try:
        config, secret = render_input.config_from(args)
        versions = render_input.load_versions(args.versions_from) if args.versions_from else None
        rendering = render(config, stack=args.stack, image_digest=render_input.image_digest(args.image_digest),
                           secret_keys=secret, versions=versions)
    except (render_input.UsageError, ValueError) as err:
        # The program's config errors name the key and never carry the secret value.
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        written = write(rendering, args.out)
    except OSError as err:
        print(f"error: --out: cannot write {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    for warning in rendering.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for path in written:
        print(path)
    for skipped in rendering.skipped:
        print(f"skipped (not a Kubernetes object): {skipped}", file=sys.stderr)
    for note in rendering.notes:
        print(f"note: {note}", file=sys.stderr)
    if rendering.image_digest is None:
        print("note: image digest is a placeholder; pass --image-digest sha256:...",
              file=sys.stderr)
    if args.check:
        from tools.conformance import check

        problems = check(rendering.objects)
        for problem in problems:
            print(f"contract: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(_check_summary(rendering.objects), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
