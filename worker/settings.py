"""Worker settings from the environment, parsed and checked by the shared settings spec.

`temporal_worker_spec.from_env` does the work the Pulumi program also does before deploying, so
a value refused here was already refused by `pulumi preview`. Every problem becomes a
`SettingsError` whose one-line message names the variable and never contains key material.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import temporal_worker_spec as spec
from temporalio.envconfig import ClientConfig


CONFIG_FILE_ENV = "TEMPORAL_CONFIG_FILE"
"""temporalio.envconfig's TOML profile file, read as well as the variables."""


class SettingsError(ValueError):
    """A bad setting: the message names the variable and is safe to print."""


@dataclass(frozen=True)
class Settings:
    """Everything the worker process needs, parsed and validated."""

    connect_config: Mapping[str, Any] = field(repr=False)
    """Keyword arguments for `Client.connect` from temporalio.envconfig (may hold key bytes)."""
    values: Mapping[str, Any] = field(repr=False)
    """Every spec setting the worker reads, by name (secrets included, hence not in repr)."""
    warnings: tuple[str, ...] = ()
    """Advice about valid values (a certificate that expires soon), to log at start."""

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def address(self) -> str:
        return self.values["temporalAddress"]

    @property
    def namespace(self) -> str:
        return self.values["temporalNamespace"]

    @property
    def task_queue(self) -> str:
        return self.values["taskQueue"]

    @property
    def tls(self) -> bool:
        return bool(self.connect_config.get("tls"))

    @property
    def worker_options(self) -> dict[str, Any]:
        """`temporalio.worker.Worker` keyword arguments that the spec maps settings to."""
        return {s.worker_option: self.values[s.name] for s in spec.SETTINGS
                if s.worker_option and self.values.get(s.name) is not None}

    def __repr__(self) -> str:
        shown = {s.name: self.values.get(s.name) for s in spec.SETTINGS
                 if s.env and not s.secret and not s.file}
        return f"Settings({shown})"


def _check_config_file(env: Mapping[str, str]) -> None:
    """A TOML profile file (temporalio.envconfig) must parse; say where it does not, never what
    the line holds."""
    path = env.get(CONFIG_FILE_ENV)
    if not path:
        return
    try:
        with open(path, "rb") as handle:
            tomllib.load(handle)
    except OSError as err:
        raise SettingsError(f"{CONFIG_FILE_ENV}: cannot read {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        where = re.search(r"\(at line \d+, column \d+\)", str(err))
        raise SettingsError(f"{CONFIG_FILE_ENV}: {path} is not valid TOML "
                            f"{where[0] if where else ''}; its content is not shown because "
                            "it may hold credentials") from None


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate the worker's settings from `environ` (default: `os.environ`)."""
    try:
        resolved, env = spec.from_env(os.environ if environ is None else environ)
    except spec.EnvError as err:
        raise SettingsError(str(err)) from None
    values = resolved.values
    # envconfig reads the same variables; give it the values as validated (API keys without
    # a file's trailing newline, TEMPORAL_TLS as true/false, an empty flag as unset).
    for s in spec.SETTINGS:
        if s.env and not s.file:
            if values.get(s.name) is None:
                env.pop(s.env, None)
            else:
                env[s.env] = s.kind.text(values[s.name])
    _check_config_file(env)
    try:
        connect_config = ClientConfig.load_client_connect_config(override_env_vars=env)
    except Exception as err:
        if env.get(CONFIG_FILE_ENV):
            # The SDK's message quotes the offending line, which may hold an api_key.
            raise SettingsError(f"{CONFIG_FILE_ENV}: {env[CONFIG_FILE_ENV]} cannot be used "
                                f"({type(err).__name__}); its content is not shown because it "
                                "may hold credentials") from None
        raise SettingsError(f"Temporal client config: {type(err).__name__}: {err}") from None
    warnings = tuple(w.message(lambda name: spec.BY_NAME[name].env or name)
                     for w in resolved.warnings)
    return Settings(connect_config=connect_config, values=values, warnings=warnings)
