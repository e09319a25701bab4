"""The render's input: config from stack files and flags, secret values, the image digest and
a recorded Worker Deployment answer. Every problem is a `UsageError` of one line that names the
flag and the path, never a file's content or a secret value.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from temporal_worker_spec.values import quoted, shorten

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "temporal-worker"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class UsageError(Exception):
    """A bad flag or an input file that cannot be read; one line, never a file's content."""


def read_file(what: str, path: Path) -> str:
    """The text of a file named on the command line; a UsageError naming `what` (the flag) and
    the path when it cannot be read. The message never quotes the file."""
    try:
        return path.expanduser().read_text()
    except UnicodeDecodeError:
        raise UsageError(f"{what}: {path} is not UTF-8 text") from None
    except OSError as err:
        raise UsageError(f"{what}: cannot read {path}: {err.strerror or type(err).__name__}") \
            from None


@dataclass(frozen=True)
class StackFile:
    """The `temporal-worker:*` config of a Pulumi stack file."""

    values: dict[str, str]
    """Plain values, as Pulumi passes them to the program (structured values as JSON text)."""
    encrypted: frozenset[str] = frozenset()
    """Keys whose value is `secure:` (encrypted with the stack's passphrase or KMS)."""


def load_stack_file(path: Path, flag: str = "--config") -> StackFile:
    """The config of a Pulumi stack file: its plain values and which keys are encrypted.

    Offline an encrypted value cannot (and should not) be read: it must come again through
    `--set-secret`. A secret setting stored in plain text is passed as plain config, so the
    program refuses it as `pulumi up` would.
    """
    try:
        data = yaml.safe_load(read_file(flag, path)) or {}
    except yaml.YAMLError as err:
        # The parser's own message quotes the offending line; the position is enough.
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageError(f"{flag}: {path} is not valid YAML{where}") from None
    except RecursionError:
        raise UsageError(f"{flag}: {path} nests YAML too deeply to read") from None
    if not isinstance(data, dict) or not isinstance(data.get("config") or {}, dict):
        raise UsageError(f"{flag}: {path} is not a stack file (expected a `config:` mapping)")
    values: dict[str, str] = {}
    encrypted = set()
    for full_key, value in (data.get("config") or {}).items():
        namespace, _, key = str(full_key).rpartition(":")
        if namespace != PROJECT:
            continue
        if isinstance(value, dict) and "secure" in value:
            encrypted.add(key)
        elif isinstance(value, str):
            values[key] = value
        else:
            try:
                values[key] = json.dumps(value)
            except RecursionError:
                raise UsageError(f"{flag}: {path}: {quoted(str(full_key))} nests values too "
                                 "deeply to read") from None
    return StackFile(values, frozenset(encrypted))


def file_value(flag: str, key: str, given: str) -> str:
    """`given`, or the text of the file `@FILE` names."""
    if given.startswith("@"):
        return read_file(f"{flag} {key}=@FILE", Path(given[1:]))
    return given


def secret_value(key: str, given: str) -> str:
    if given.startswith("env:"):
        var = given[4:]
        if var not in os.environ:
            raise UsageError(f"--set-secret {key}: environment variable {quoted(var)} is not set")
        return os.environ[var]
    return file_value("--set-secret", key, given)


def image_digest(given: str | None) -> str | None:
    """`sha256:...`, or the digest in the file `@FILE` names (a push's --digestfile)."""
    if not given or not given.startswith("@"):
        return given
    path = Path(given[1:])
    digest = read_file("--image-digest @FILE", path).strip()
    if not DIGEST.fullmatch(digest):
        raise UsageError(f"--image-digest @FILE: {path} does not hold a digest "
                         "(expected sha256:<64 hex>, as `buildah push --digestfile` writes it)")
    return digest


def pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            # A secret typed without its key would otherwise be echoed.
            got = "" if flag == "--set-secret" else f", got {quoted(item)}"
            raise UsageError(f"{flag}: expected KEY=VALUE{got}")
        pairs.append((key.removeprefix(f"{PROJECT}:"), value))
    return pairs


def config_from(args: argparse.Namespace) -> tuple[dict[str, str], set[str]]:
    """The merged config and the keys given as secrets."""
    config: dict[str, str] = {}
    encrypted: dict[str, str] = {}  # key -> the file that holds it encrypted
    stack_file = REPO_ROOT / f"Pulumi.{args.stack}.yaml"
    sources = [(stack_file, f"--stack {args.stack}")] if stack_file.exists() else []
    for path, flag in [*sources, *((extra, "--config") for extra in args.config)]:
        loaded = load_stack_file(path, flag=flag)
        for key in loaded.values:
            encrypted.pop(key, None)
        config.update(loaded.values)
        encrypted.update((key, str(path)) for key in loaded.encrypted)
    for key, value in pairs(args.set, "--set"):
        config[key] = file_value("--set", key, value)
        encrypted.pop(key, None)
    secret = set()
    for key, value in pairs(args.set_secret, "--set-secret"):
        config[key] = secret_value(key, value)
        secret.add(key)
    for key, path in encrypted.items():
        if key not in secret:
            raise UsageError(f"{path}: {PROJECT}:{shorten(key)} is encrypted (secure:), which "
                             f"cannot be read offline; pass it with --set-secret "
                             f"{shorten(key)}=@FILE (or env:VAR)")
    return config, secret


def load_versions(path: Path) -> Any:
    """A recorded Worker Deployment answer (`versioning.describe_answer`, format
    temporal-worker-deployment/v1, e.g. tests/data/temporal/worker_deployment.json)."""
    from temporal_worker_k8s import versioning

    flag = "--versions-from"
    try:
        data = json.loads(read_file(flag, path))
    except (ValueError, RecursionError):
        raise UsageError(f"{flag}: {path} is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != versioning.RECORDING_FORMAT:
        raise UsageError(f"{flag}: {path} is not a recorded Worker Deployment answer (format "
                         f"{versioning.RECORDING_FORMAT})")
    try:
        return versioning.state_from_json(data)
    except Exception:  # noqa: BLE001 - protobuf's parse errors have no common base
        raise UsageError(f"{flag}: {path} does not hold DescribeWorkerDeployment answers") \
            from None
