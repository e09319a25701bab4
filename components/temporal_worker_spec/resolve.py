"""The one validation both ends call: raw text in, typed values out, or `Invalid`.

`resolve(raw, side)` parses every setting a side has, applies defaults and required checks,
then runs each rule whose settings that side has. The Pulumi program calls it on config values
(side "config"), the component on its inputs ("arg") and the worker, through `from_env`, on its
environment ("env"): a value the worker would refuse at start is refused by `pulumi preview`
first, with the same reason.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from temporal_worker_spec.settings import BY_NAME, RULES, SETTINGS, Invalid, Setting

Side = Literal["config", "arg", "env"]


def on_side(setting: Setting, side: Side) -> bool:
    """Whether `side` reads this setting."""
    if side == "config":
        return setting.config
    if side == "arg":
        return setting.arg and not setting.secret  # secret inputs are Secret references
    return setting.env is not None


@dataclass(frozen=True)
class Resolved:
    """Typed values of one side (None for unset) and warnings about valid values."""

    values: dict[str, Any]
    warnings: list[Invalid] = field(default_factory=list)


def parse(setting: Setting, text: str | None) -> Any:
    """One setting's value from its text; Invalid when refused.

    Unset (None) gives the default. An empty text unsets an optional setting (no default), and
    is refused for one with a default: `taskQueue=""` is a mistake, not a wish for the default.
    """
    if text is None or (text == "" and setting.default is None):
        return setting.default
    try:
        return setting.kind.parse(text)
    except ValueError as err:
        reason = str(err)
        if setting.secret and text.strip() and text.strip() in reason:
            reason = reason.replace(text.strip(), "<redacted>")  # defence in depth
        raise Invalid(setting.name, reason) from None


REFERENCE = "<a reference to a Kubernetes Secret>"
"""The value a secret setting has on the component's side, where it is given as a reference."""


def resolve(raw: Mapping[str, str | None], side: Side,
            unknown: frozenset[str] = frozenset(),
            references: frozenset[str] = frozenset()) -> Resolved:
    """Parse, default and cross-check every setting of `side` from `raw` (name -> text).

    Names in `unknown` have values not known yet (Pulumi Outputs during a preview): they are
    left out of the result, and the required checks and rules that need them are skipped.
    Secret settings named in `references` are given as references to Secrets (the component's
    side): they count as set, as REFERENCE, without a value to parse.
    """
    settings = [s for s in SETTINGS if on_side(s, side) and s.name not in unknown]
    values = {s.name: parse(s, raw.get(s.name)) for s in settings}
    if side == "arg":
        values.update({s.name: REFERENCE if s.name in references else None
                       for s in SETTINGS if s.arg and s.secret})
    for s in settings:
        if values[s.name] is None and s.required:
            unless = BY_NAME.get(s.required_unless or "")
            waivable = unless is not None and on_side(unless, side)
            if waivable and (values.get(unless.name) or unless.name in unknown):
                continue
            waiver = f" unless {{{unless.name}}} is true" if waivable else ""
            raise Invalid(s.name, f"required ({s.kind.label}){waiver}")
    for rule in RULES:
        if all(name in values for name in rule.needs):
            rule.check(values)
    warnings = [Invalid(s.name, warning) for s in settings
                if s.advise and values[s.name] is not None for warning in s.advise(values[s.name])]
    return Resolved(values, warnings)


class EnvError(ValueError):
    """A refused environment variable: the message names the variable the user actually set."""


def from_env(environ: Mapping[str, str]) -> tuple[Resolved, dict[str, str]]:
    """The worker's settings from `environ`.

    Returns the resolved values and a copy of `environ` with the seed article's alias names
    mapped onto the standard ones (for `temporalio.envconfig`). Settings marked `file` hold a
    path; the value is the file's content. Raises `EnvError`; its message never quotes a file.
    """
    env = dict(environ)
    label: dict[str, str] = {}
    raw: dict[str, str | None] = {}
    paths: dict[str, str] = {}
    for s in SETTINGS:
        if s.env is None:
            continue
        label[s.name] = s.env
        for alias in s.aliases:
            if alias in environ:
                if s.env in environ and environ[s.env] != environ[alias]:
                    raise EnvError(f"{alias}: conflicts with {s.env}; set only one of them")
                env[s.env] = environ[alias]
                if s.env not in environ:
                    label[s.name] = alias
        raw[s.name] = env.get(s.env)
        if s.file and raw[s.name]:
            paths[s.name] = raw[s.name].strip()
            raw[s.name] = _read(label[s.name], paths[s.name])

    def name(setting: str) -> str:
        return label.get(setting, setting)

    try:
        resolved = resolve(raw, "env")
    except Invalid as err:
        path = paths.get(err.setting)
        reason = f"{path} {err.reason}" if path else err.reason
        raise EnvError(Invalid(err.setting, reason).message(name)) from None
    return resolved, env


MAX_FILE_BYTES = 1024 * 1024
"""The most a file named by a setting may hold (a bundle of every public root CA is ~200 KB)."""
_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


def read_file(path: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed, as kubelet's Secret volumes
    need); ValueError with a reason phrase that names the path and never its content.

    Anything else is refused before a byte is read: opening does not block (a FIFO would wait
    for a writer forever), and a device such as /dev/zero, a FIFO, a socket or a directory is
    not a regular file. At most `max_bytes` + 1 bytes are read, so a huge file costs nothing.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a file")
            raise ValueError(f"cannot read {path}: it is {kind}, not a regular file")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror}") from None
    finally:
        os.close(fd)
    if size > max_bytes:
        raise ValueError(f"{path} is larger than {max_bytes // 1024} KiB, more than a setting's "
                         "file may hold")
    return b"".join(chunks)


def read_text(path: str) -> str:
    """A setting's file as text. Bytes that are not UTF-8 become U+FFFD: a PEM keeps only its
    blocks (`pki.pem_blocks`), and a token refuses anything but printable ASCII, so the text
    around a PEM block is ignored whatever its encoding, as on the Pulumi side."""
    return read_file(path).decode("utf-8", "replace")


def _read(variable: str, path: str) -> str:
    try:
        return read_text(path)
    except ValueError as err:
        raise EnvError(f"{variable}: {err}") from None
