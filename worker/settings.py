"""Worker settings from the environment, parsed and checked by the shared settings spec.

`temporal_worker_spec.from_env` does the work the Pulumi program also does before deploying, so
a value refused here was already refused by `pulumi preview`. The connection itself is
temporalio.envconfig's profile (`ClientConfigProfile.load`, what `load_client_connect_config`
wraps): the standard TEMPORAL_* variables over an optional TOML file. This module reads that
file itself (a regular file, size-capped, UTF-8) and keeps where each credential comes from,
so that files can be watched (`worker.rotation`) and a credential that would travel without
TLS is refused with its sources named. Every problem becomes a `SettingsError` whose one-line
message names the variable or file and never contains key material.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import temporal_worker_spec as spec
import temporal_worker_spec.settings as names
from temporal_worker_spec.resolve import read_file

from worker.credentials import CredentialError, Credentials, Material, Source, label_of

if TYPE_CHECKING:
    from temporalio.envconfig import ClientConfigProfile

# The SDK (temporalio) is imported only where it is used, once the spec has accepted the
# values: `python -m worker` reports a refused setting without loading it (a tenth of the time).

EXIT_BAD_SETTINGS = 2
"""The worker's exit code for settings it refuses (before connecting or starting anything)."""
CONFIG_FILE_ENV = "TEMPORAL_CONFIG_FILE"
"""temporalio.envconfig's TOML profile file, read as well as the variables."""
PROFILE_ENV = "TEMPORAL_PROFILE"
"""The profile of that file to use (default: `default`)."""
GRPC_META_PREFIX = "TEMPORAL_GRPC_META_"
"""envconfig turns each such variable into a gRPC header (`_` -> `-`, lowercase)."""
AUTHORIZATION = "authorization"
_DATA_VARIABLES = {"client_cert": "TEMPORAL_TLS_CLIENT_CERT_DATA",
                   "client_private_key": "TEMPORAL_TLS_CLIENT_KEY_DATA",
                   "server_root_ca_cert": "TEMPORAL_TLS_SERVER_CA_CERT_DATA"}
_TOML_KEYS = {"client_cert": "client_cert", "client_private_key": "client_key",
              "server_root_ca_cert": "server_ca_cert"}
_PATH_SETTINGS = {"client_cert": names.TLS_CERT, "client_private_key": names.TLS_KEY,
                  "server_root_ca_cert": names.TLS_SERVER_CA}


class SettingsError(ValueError):
    """A bad setting: the message names the variable and is safe to print."""


@dataclass(frozen=True)
class Settings:
    """Everything the worker process needs, parsed and validated."""

    base_options: Mapping[str, Any] = field(repr=False)
    """`Client.connect` keyword arguments other than the credentials (address, namespace,
    gRPC metadata); `credentials.connect_options` adds those."""
    credentials: Credentials
    """Where the TLS material and the API key come from, and whether TLS is on."""
    material: Material = field(repr=False)
    """The credentials as checked at start."""
    values: Mapping[str, Any] = field(repr=False)
    """Every spec setting the worker reads, by name (secrets included, hence not in repr)."""
    warnings: tuple[str, ...] = ()
    """Advice about valid values (a certificate that expires soon), to log at start."""

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def connect_config(self) -> dict[str, Any]:
        """`Client.connect` keyword arguments with the credentials checked at start."""
        return self.credentials.connect_options(self.base_options, self.material)

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
        return self.credentials.tls

    @property
    def worker_options(self) -> dict[str, Any]:
        """`temporalio.worker.Worker` keyword arguments for slots and pollers."""
        from worker import tuning

        return tuning.worker_options(self.values)

    def __repr__(self) -> str:
        shown = {s.name: self.values.get(s.name) for s in spec.SETTINGS
                 if s.env and not s.secret and not s.file}
        return f"Settings({shown})"


@dataclass(frozen=True)
class ConfigFile:
    """A TOML profile file, as read once at start."""

    path: str
    variable: str | None
    """CONFIG_FILE_ENV when that names it; None for envconfig's default location."""
    data: bytes = field(repr=False)
    profile_name: str = "default"
    profile: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def label(self, key: str | None = None) -> str:
        """`TEMPORAL_CONFIG_FILE /p ([profile.default] api_key)`: names, never values."""
        where = self.variable or "the default config file"
        if key is None:
            return f"{where} {self.path}"
        table, _, name = key.rpartition(".")
        section = f"profile.{self.profile_name}" + (f".{table}" if table else "")
        return f"{where} {self.path} ([{section}] {name})"


def default_config_path(env: Mapping[str, str]) -> str:
    """Where envconfig looks without CONFIG_FILE_ENV (Rust's `dirs::config_dir()` on Linux)."""
    base = env.get("XDG_CONFIG_HOME", "")
    if not base.startswith("/"):
        base = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    return os.path.join(base, "temporalio", "temporal.toml")


def read_config_file(env: Mapping[str, str]) -> ConfigFile | None:
    """The TOML profile file, read safely and parsed; None when there is none.

    Read like every file a setting names (a regular file of at most 1 MiB, never blocking on a
    FIFO), and decoded as UTF-8 as TOML requires. A parse error says where, never what the
    line holds: it may hold an `api_key`.
    """
    path = env.get(CONFIG_FILE_ENV, "")
    variable: str | None = CONFIG_FILE_ENV
    if not path:
        path, variable = default_config_path(env), None
        if not os.path.exists(path):
            return None
    label = variable or f"the default config file {path}"
    try:
        data = read_file(path)
    except ValueError as err:
        raise SettingsError(f"{label}: {err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SettingsError(f"{label}: {path} is not UTF-8 text (byte {err.start + 1}); TOML "
                            "files must be UTF-8") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        where = re.search(r"\(at line \d+, column \d+\)", str(err))
        raise SettingsError(f"{label}: {path} is not valid TOML "
                            f"{where[0] if where else ''}; its content is not shown because "
                            "it may hold credentials") from None
    profile_name = env.get(PROFILE_ENV) or "default"
    profiles = document.get("profile")
    profile = profiles.get(profile_name) if isinstance(profiles, dict) else None
    if profile is None and env.get(PROFILE_ENV):
        raise SettingsError(f"{PROFILE_ENV}: profile {profile_name!r} is not in {path}")
    return ConfigFile(path, variable, data, profile_name,
                      profile if isinstance(profile, dict) else {})


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate the worker's settings from `environ` (default: `os.environ`)."""
    environ = os.environ if environ is None else environ
    try:
        resolved, env = spec.from_env(environ)
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
    config_file = read_config_file(env)
    from temporalio.envconfig import ClientConfigProfile

    try:
        profile = ClientConfigProfile.load(
            config_source=config_file.data if config_file else None,
            disable_file=config_file is None, override_env_vars=env)
    except Exception as err:
        if config_file is not None:
            # The SDK's message quotes the offending line, which may hold an api_key.
            raise SettingsError(f"{config_file.variable or 'the default config file'}: "
                                f"{config_file.path} cannot be used ({type(err).__name__}); "
                                "its content is not shown because it may hold credentials"
                                ) from None
        raise SettingsError(f"Temporal client config: {type(err).__name__}: {err}") from None
    credentials = _credentials(environ, env, profile, config_file)
    _refuse_cleartext(credentials, env, profile, config_file)
    try:
        material = credentials.load()
    except CredentialError as err:
        raise SettingsError(str(err)) from None
    base: dict[str, Any] = {"target_host": profile.address or values["temporalAddress"]}
    if profile.namespace is not None:
        base["namespace"] = profile.namespace
    if profile.grpc_meta:
        base["rpc_metadata"] = dict(profile.grpc_meta)
    warnings = tuple(w.message(lambda name: spec.BY_NAME[name].env or name)
                     for w in resolved.warnings)
    return Settings(base_options=base, credentials=credentials, material=material,
                    values=values, warnings=warnings)


def _credentials(environ: Mapping[str, str], env: Mapping[str, str],
                 profile: ClientConfigProfile, config_file: ConfigFile | None) -> Credentials:
    """Where each credential of the final profile comes from, and whether TLS is on (as
    `ClientConfigProfile.to_client_connect_config` and `Client.connect` decide it)."""
    api_key: Source | None = None
    key_file = env.get(names.TEMPORAL_API_KEY_FILE.env, "").strip()
    if key_file:
        api_key = Source(names.TEMPORAL_API_KEY_FILE.env, path=key_file)
    elif profile.api_key is not None:
        from_env = names.TEMPORAL_API_KEY.env in env
        api_key = Source(names.TEMPORAL_API_KEY.env if from_env
                         else _file_label(config_file, "api_key"), data=profile.api_key)
    tls_config = profile.tls
    tls = (tls_config.disabled is not True) if tls_config is not None else api_key is not None
    if not tls or tls_config is None:
        return Credentials(api_key=api_key, tls=tls)
    sources: dict[str, Source | None] = {}
    for attr, setting in _PATH_SETTINGS.items():
        value = getattr(tls_config, attr)
        if value is None:
            sources[attr] = None
        elif isinstance(value, (bytes, str)):
            data = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            variable = _DATA_VARIABLES[attr]
            sources[attr] = Source(variable if variable in env else
                                   _file_label(config_file, f"tls.{_TOML_KEYS[attr]}_data"),
                                   data=data)
        else:
            label = (label_of(setting, environ) if setting.env in env
                     else _file_label(config_file, f"tls.{_TOML_KEYS[attr]}_path"))
            sources[attr] = Source(label, path=str(value).strip())
    return Credentials(client_cert=sources["client_cert"],
                       client_key=sources["client_private_key"],
                       server_ca=sources["server_root_ca_cert"], api_key=api_key, tls=True,
                       server_name=tls_config.server_name)


def _file_label(config_file: ConfigFile | None, key: str) -> str:
    return config_file.label(key) if config_file else f"the Temporal client config ({key})"


def _refuse_cleartext(credentials: Credentials, env: Mapping[str, str],
                      profile: ClientConfigProfile, config_file: ConfigFile | None) -> None:
    """An API key or an `authorization` header never travels without TLS, whatever set it:
    SettingsError naming every source, before any connection is attempted."""
    if credentials.tls:
        return
    carried = []
    if credentials.api_key is not None:
        carried.append(f"the API key from {credentials.api_key.label}")
    if any(header.lower() == AUTHORIZATION for header in profile.grpc_meta):
        variables = sorted(n for n, v in env.items() if n.startswith(GRPC_META_PREFIX) and v
                           and n[len(GRPC_META_PREFIX):].lower().replace("_", "-")
                           == AUTHORIZATION)
        header_keys = [k for k in (config_file.profile.get("grpc_meta") or {}
                                   if config_file else {})
                       if isinstance(k, str) and k.lower().replace("_", "-") == AUTHORIZATION]
        where = variables or [_file_label(config_file, f"grpc_meta.{k}") for k in header_keys]
        carried.append(f"the authorization header from {' and '.join(where)}")
    if not carried:
        return
    if env.get(names.TLS.env) == "false":
        why = f"{names.TLS.env}: is false"
    elif config_file is not None and (config_file.profile.get("tls") or {}).get("disabled"):
        why = f"{config_file.label('tls.disabled')}: turns TLS off"
    else:
        why = f"{names.TLS.env}: is unset and nothing else turns TLS on"
    raise SettingsError(f"{why} while {' and '.join(carried)} is set: it would be sent in "
                        "cleartext; turn TLS on or remove it")
