"""Render a stack's Kubernetes objects to YAML offline, through the same Pulumi mocks the tests use.

    .venv/bin/python -m tools.render --stack dev --out rendered/dev
    .venv/bin/python -m tools.render --stack prod --out rendered/prod \\
        --set temporalAddress=my-ns.a1b2c.tmprl.cloud:7233 --set temporalNamespace=my-ns.a1b2c \\
        --set-secret tlsCert=@client.pem --set-secret tlsKey=@client.key \\
        --set-secret chatgptApiKey=env:CHATGPT_API_KEY --image-digest @build/worker.digest

`scripts/render.sh` runs this module after installing what it needs into `.venv` (a `.venv` made
by the demo lacks Pulumi).

Non-secret config comes from `Pulumi.<stack>.yaml` (if present), then `--config FILE` (same
format), then `--set`. Secret config is never read from a stack file (it is encrypted there):
pass it with `--set-secret KEY=@FILE`, `KEY=env:VAR` or `KEY=VALUE`. Secret values are
redacted in the output; without `--image-digest` the image digest is a marked placeholder.
A file that cannot be read stops the render with one line naming the flag and the path (exit 2).
Keys are sorted at every level, as `kubectl get -o yaml` prints them, so equal input renders
equal bytes. The program's warnings (e.g. a certificate about to expire) go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "temporal-worker"
REDACTED = "<redacted>"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Written into the output dir so a re-render only removes files it wrote itself.
_INDEX = ".rendered"


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
    """What the program logged with pulumi.log.warn (`pulumi up` would show the same)."""


class UsageError(Exception):
    """A bad flag or an input file that cannot be read; one line, never a file's content."""


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
           redact: bool = True) -> Rendering:
    """Run the stack program under mocks with `config` and collect its Kubernetes objects."""
    from tools import mockstack

    if image_digest is not None and not _DIGEST.fullmatch(image_digest):
        raise ValueError(f"--image-digest: expected sha256:<64 hex>, got {image_digest!r}")
    run = mockstack.run_stack(config, stack=stack, project=PROJECT, image_digest=image_digest)
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
                     list(run.warnings))


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


def _previous_files(out_dir: Path) -> list[Path]:
    """The files an earlier render wrote, as its index lists them.

    The index is a plain file anyone can edit, so only a bare file name of a file directly
    inside `out_dir` counts: `../x`, `/etc/x`, `sub/x` and symlinks that lead elsewhere do not.
    """
    index = out_dir / _INDEX
    if not index.is_file():
        return []
    root = out_dir.resolve()
    found = []
    for name in index.read_text().split():
        if name in (".", "..") or "/" in name or "\\" in name:
            continue
        path = out_dir / name
        if path.resolve().parent == root and path.is_file():
            found.append(path)
    return found


def write(rendering: Rendering, out_dir: Path) -> list[Path]:
    """Write one YAML file per object into `out_dir`; returns the paths written.

    Files a previous render listed in `out_dir/.rendered` are removed first; nothing else is.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in _previous_files(out_dir):
        old.unlink()
    written = []
    for i, obj in enumerate(rendering.objects, start=1):
        header = ["# Rendered offline by tools/render.py (Pulumi mocks); secret values redacted."]
        if rendering.image_digest is None and obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            header.append("# IMAGE DIGEST IS A PLACEHOLDER: no image was built for this render;"
                          " pass --image-digest to pin the real one.")
        path = out_dir / _file_name(i, obj)
        path.write_text("\n".join(header) + "\n"
                        + yaml.safe_dump(obj, sort_keys=True, default_flow_style=False))
        written.append(path)
    (out_dir / _INDEX).write_text("\n".join(p.name for p in written) + "\n")
    return written


def _read(what: str, path: Path) -> str:
    """The text of a file named on the command line; a UsageError naming `what` (the flag) and
    the path when it cannot be read. The message never quotes the file."""
    try:
        return path.expanduser().read_text()
    except UnicodeDecodeError:
        raise UsageError(f"{what}: {path} is not UTF-8 text") from None
    except OSError as err:
        raise UsageError(f"{what}: cannot read {path}: {err.strerror or type(err).__name__}") \
            from None


def load_stack_file(path: Path, flag: str = "--config") -> dict[str, str]:
    """Non-secret `temporal-worker:*` config from a Pulumi stack file, as Pulumi passes it.

    Pulumi hands structured values (objects, lists, bools, numbers) to the program as JSON text.
    """
    try:
        data = yaml.safe_load(_read(flag, path)) or {}
    except yaml.YAMLError as err:
        # The parser's own message quotes the offending line; the position is enough.
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageError(f"{flag}: {path} is not valid YAML{where}") from None
    if not isinstance(data, dict) or not isinstance(data.get("config") or {}, dict):
        raise UsageError(f"{flag}: {path} is not a stack file (expected a `config:` mapping)")
    config: dict[str, str] = {}
    for full_key, value in (data.get("config") or {}).items():
        namespace, _, key = str(full_key).rpartition(":")
        if namespace != PROJECT:
            continue
        if isinstance(value, dict) and "secure" in value:
            # Encrypted with the stack's passphrase or KMS; offline we cannot and should not read it.
            raise UsageError(f"{path.name}: {full_key} is encrypted; pass it with "
                             f"--set-secret {key}=@FILE (or env:VAR)")
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config


def _secret_value(key: str, spec: str) -> str:
    if spec.startswith("@"):
        return _read(f"--set-secret {key}=@FILE", Path(spec[1:]))
    if spec.startswith("env:"):
        var = spec[4:]
        if var not in os.environ:
            raise UsageError(f"--set-secret {key}: environment variable {var} is not set")
        return os.environ[var]
    return spec


def _image_digest(spec: str | None) -> str | None:
    """`sha256:...`, or the digest in the file `@FILE` names (a push's --digestfile)."""
    if not spec or not spec.startswith("@"):
        return spec
    path = Path(spec[1:])
    digest = _read("--image-digest @FILE", path).strip()
    if not _DIGEST.fullmatch(digest):
        raise UsageError(f"--image-digest @FILE: {path} does not hold a digest "
                         "(expected sha256:<64 hex>, as `buildah push --digestfile` writes it)")
    return digest


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            # A secret typed without its key would otherwise be echoed.
            got = "" if flag == "--set-secret" else f", got {item!r}"
            raise UsageError(f"{flag}: expected KEY=VALUE{got}")
        pairs.append((key.removeprefix(f"{PROJECT}:"), value))
    return pairs


def _config(args: argparse.Namespace) -> dict[str, str]:
    config: dict[str, str] = {}
    stack_file = REPO_ROOT / f"Pulumi.{args.stack}.yaml"
    if stack_file.exists():
        config.update(load_stack_file(stack_file, flag=f"--stack {args.stack}"))
    for extra in args.config:
        config.update(load_stack_file(extra))
    config.update(_pairs(args.set, "--set"))
    config.update((k, _secret_value(k, v)) for k, v in _pairs(args.set_secret, "--set-secret"))
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="stack name; reads Pulumi.<stack>.yaml "
                        "when it exists (default: dev)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the YAML files")
    parser.add_argument("--config", type=Path, action="append", default=[], metavar="FILE",
                        help="extra stack-format config file (may repeat)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="non-secret config value (may repeat)")
    parser.add_argument("--set-secret", action="append", default=[], metavar="KEY=@FILE|env:VAR",
                        help="secret config value from a file or environment variable (may repeat)")
    parser.add_argument("--image-digest", metavar="sha256:...|@FILE",
                        help="digest of the pushed image, or a file holding it (e.g. the "
                        "--digestfile of buildah/podman push); default: a marked placeholder")
    parser.add_argument("--check", action="store_true",
                        help="also check the worker Deployment against the worker's contract")
    args = parser.parse_args(argv)

    try:
        config = _config(args)
        rendering = render(config, stack=args.stack, image_digest=_image_digest(args.image_digest))
    except (UsageError, ValueError) as err:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
