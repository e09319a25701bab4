"""The stack's `temporal-worker:*` config, read once through the settings spec.

Every error is a `ConfigError` whose message starts with the full config key and never contains
a secret value; it is raised before any resource is registered. Secret values leave this module
only as secret `pulumi.Output`s.
"""

from __future__ import annotations

import difflib
import functools
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

import temporal_worker_spec as spec
from temporal_worker_spec.values import shorten

PROJECT = "temporal-worker"
KEYS = tuple(s.name for s in spec.SETTINGS if s.config)


class ConfigError(ValueError, pulumi.RunError):
    """Bad config, found before any resource. A `pulumi.RunError`, so `pulumi up` prints the
    one message and exits non-zero instead of printing a traceback of the program."""


def key(name: str) -> str:
    """Full config key, as users type it and as every error message names it."""
    return f"{PROJECT}:{name}"


@dataclass(frozen=True)
class StackConfig:
    """Validated config: plain values by setting name, secret ones as secret Outputs."""

    values: Mapping[str, Any]
    """Every non-secret setting (None when unset)."""
    plain_secrets: Mapping[str, Any] = field(repr=False)
    """Every secret setting that is set, as the spec parses it, for the program's own calls to
    Temporal (a versioned rollout asks it which builds are live); never put into a resource or
    a message: resources get `secrets`."""
    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def secret_env_names(self) -> tuple[str, ...]:
        """The variable names in secretEnv (names are not secret; they end up in the pod spec)."""
        return tuple(self.plain_secrets.get("secretEnv") or ())

    @functools.cached_property
    def secrets(self) -> Mapping[str, pulumi.Output[Any]]:
        """Every secret setting that is set, as a secret Output."""
        return {n: pulumi.Output.secret(v) for n, v in self.plain_secrets.items()}

    def component_inputs(self) -> dict[str, Any]:
        """TemporalWorker inputs that are config settings, by their Python names."""
        return {s.python_name: self.values[s.name] for s in spec.SETTINGS
                if s.config and s.arg and not s.secret and self.values[s.name] is not None}

    def egress_ports(self) -> list[int]:
        """egressPorts, plus the chat API's port when the sample workload has a key for it."""
        ports = list(self.values["egressPorts"])
        if "chatgptApiKey" in self.secrets:
            url = urllib.parse.urlsplit(self.values["chatgptBaseUrl"])
            port = url.port or (443 if url.scheme == "https" else 80)
            ports += [] if port in ports else [port]
        return ports

    def workload_env(self) -> dict[str, str]:
        """Plain env of the sample workload: config settings the worker reads but the
        component has no input for (CHATGPT_BASE_URL, ...)."""
        return {s.env: s.kind.text(self.values[s.name]) for s in spec.SETTINGS
                if s.config and s.env and not (s.arg or s.secret or s.file)
                and self.values[s.name] is not None}


def load(config: pulumi.Config) -> StackConfig:
    """Read and check every key; raise ConfigError naming the first bad one."""
    refuse_unknown_keys(config.name)
    raw = {name: config.get(name) for name in KEYS}
    for setting in spec.SETTINGS:
        if setting.config and setting.secret and raw[setting.name] not in (None, "") \
                and not is_secret(key(setting.name)):
            raise ConfigError(
                f"{key(setting.name)}: is stored in plain text in the stack's config; set it "
                f"again as a secret, e.g. `pulumi config set --secret {setting.name} < FILE`, "
                "and rotate it, since the plain value may already have been shared")
    try:
        resolved = spec.resolve(raw, "config")
    except spec.Invalid as err:
        raise ConfigError(err.message(key)) from None
    for warning in resolved.warnings:
        pulumi.log.warn(warning.message(key))
    values = {n: v for n, v in resolved.values.items() if not spec.BY_NAME[n].secret}
    plain = {n: v for n, v in resolved.values.items() if spec.BY_NAME[n].secret and v is not None}
    return StackConfig(values, plain)


def is_secret(full_key: str) -> bool:
    """Whether the CLI reports the key as set with `--secret` (encrypted in the stack file)."""
    return (runtime_config.is_config_secret(full_key)
            or full_key in runtime_config.get_config_secret_keys_env())


def refuse_unknown_keys(namespace: str = PROJECT) -> None:
    """The CLI accepts any key; a typo (`replica`) would silently deploy the default."""
    present = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    by_folded = {k.casefold(): k for k in KEYS}
    for full in sorted(present):
        prefix, _, name = full.partition(":")
        if prefix != namespace or name in KEYS:
            continue
        guess = difflib.get_close_matches(name.casefold(), by_folded, n=1, cutoff=0.6)
        hint = f"; did you mean {key(by_folded[guess[0]])}?" if guess else ""
        raise ConfigError(f"{key(shorten(name))}: unknown setting{hint} (the settings are "
                         "listed in README.md, Configuration reference)")
