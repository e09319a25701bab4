"""Value kinds of the settings spec: how a setting's text is parsed, checked and written back.

A `Kind` turns the text a user typed (a Pulumi config value or an environment variable) into a
typed value, or raises `ValueError` with a reason phrase ("must be between 0 and 86400, got
90000"). Parsing is strict and ASCII-only where Kubernetes or gRPC are: `int("٣")` would accept
Arabic-Indic digits, these parsers do not. Standard library only.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from temporal_worker_spec import pki

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", re.ASCII)
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
_DNS1123_SUBDOMAIN = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_QUANTITY = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
                       r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]{1,2})?",
                       re.ASCII)
_BINARY_SUFFIX = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIX = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
                   "E": 18}
# Kubernetes stores quantities as int64 milli-units at most.
_QUANTITY_MAX = Decimal(2**63 - 1) / 1000
# Docker's reference grammar (distribution/reference), ASCII only.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = (r"(?:localhost|(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
           r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_REPOSITORY = re.compile(
    rf"(?=.{{1,255}}\Z)(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
_DIGEST_REFERENCE = re.compile(r"[^@\s]+@sha256:(?P<hex>[0-9a-f]{64})", re.ASCII)
_PLATFORM = re.compile(r"[a-z0-9_]+/[a-z0-9_]+(?:/[a-z0-9_]+)?", re.ASCII)
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
QUOTE_LIMIT = 80
"""Most characters of a value an error message repeats; a 300 KB value is cut, not echoed."""
MAX_JSON_DEPTH = 32
"""Most levels of nested arrays and objects a JSON setting may have (deeper input would hit
Python's recursion limit in the parser, or in whatever reads the value next)."""


def shorten(text: str) -> str:
    """`text` as is, or its start and `...` when longer than QUOTE_LIMIT."""
    return text if len(text) <= QUOTE_LIMIT else f"{text[:QUOTE_LIMIT - 3]}..."


def quoted(value: Any) -> str:
    """`repr(value)` for an error message, cut after QUOTE_LIMIT characters (with the length
    of a cut string), so a message never repeats a huge value."""
    text = repr(value)
    if len(text) <= QUOTE_LIMIT:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{shorten(text)}{size}"


def load_json(text: str, problem: str) -> Any:
    """`json.loads(text)`; ValueError(`problem`) when it is not JSON, and a ValueError saying
    so when arrays and objects nest deeper than MAX_JSON_DEPTH."""
    too_deep = (f"nests arrays or objects more than {MAX_JSON_DEPTH} levels deep; at most "
                f"{MAX_JSON_DEPTH} are allowed")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(too_deep) from None
    except ValueError:
        raise ValueError(problem) from None
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(too_deep)
            todo += [(child, depth + 1)
                     for child in (item.values() if isinstance(item, dict) else item)]
    return value


@dataclass(frozen=True)
class Kind:
    """How one setting's text becomes a value."""

    type: str
    """Its JSON/Pulumi type: `string`, `integer`, `boolean`, `array` or `object`."""
    label: str
    """How the docs name it (`host:port`, `integer 0-86400`, `PEM`)."""
    parse: Callable[[str], Any]
    """Text -> value; raises ValueError with a reason phrase that never quotes a secret."""
    items: str | None = None
    """For arrays: the JSON/Pulumi type of the items."""
    render: Callable[[Any], str] | None = None
    """Writes a value back as text when `str` would not read well (`3600` -> `1h`)."""
    choices: tuple[str, ...] = ()
    """For a fixed set of values: the values, as declared (the component's enums follow)."""

    def text(self, value: Any) -> str:
        """The value as an environment variable or config value holds it."""
        if self.render is not None:
            return self.render(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer() and self.type == "integer":
            # Pulumi's wire format has only doubles: another language's 120 arrives as 120.0.
            return str(int(value))
        if isinstance(value, (dict, list)):
            return json.dumps(value, sort_keys=True)
        return str(value)


def _plain(text: str) -> str:
    """Surrounding whitespace removed; empty and control characters refused."""
    value = text.strip()
    if not value:
        raise ValueError("must not be empty")
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters such as a newline")
    return value


def string(*, max_length: int = 1000, label: str = "string") -> Kind:
    """Any one-line text of at most `max_length` characters."""
    def parse(text: str) -> str:
        value = _plain(text)
        if len(value) > max_length:
            raise ValueError(f"is {len(value)} characters long; at most {max_length} are allowed")
        return value
    return Kind("string", label, parse)


def temporal_name() -> Kind:
    """A Temporal namespace or task queue name: the server refuses more than 1000 characters
    (its default `limit.maxIDLength`)."""
    return string(max_length=1000, label="name (1-1000 characters)")


def worker_deployment_name() -> Kind:
    """A Temporal Worker Deployment name: a Temporal name without '.', which the server uses to
    join the name and a build ID and refuses in names ("cannot contain '.'")."""
    name = temporal_name()

    def parse(text: str) -> str:
        value = name.parse(text)
        if "." in value:
            raise ValueError(f"must not contain '.' (Temporal joins a Worker Deployment name and "
                             f"a build ID with it), got {quoted(value)}")
        return value
    return Kind("string", "name without '.' (1-1000 characters)", parse)


def integer(minimum: int, maximum: int) -> Kind:
    """A base-10 integer written in ASCII digits, within [minimum, maximum]."""
    def parse(text: str) -> int:
        value = text.strip()
        if not _INTEGER.fullmatch(value):
            raise ValueError(f"must be an integer, got {quoted(text)}")
        number = int(value)
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}, got {number}")
        return number
    return Kind("integer", f"integer {minimum}-{maximum}", parse)


def boolean() -> Kind:
    """`true`/`false` (also `1`/`0`), case-insensitive."""
    def parse(text: str) -> bool:
        value = text.strip().lower()
        if value not in _BOOLEANS:
            raise ValueError(f"must be true or false, got {quoted(text)}")
        return _BOOLEANS[value]
    return Kind("boolean", "boolean", parse)


def choice(*options: str) -> Kind:
    """One of `options`, matched case-insensitively and returned as declared."""
    by_folded = {o.casefold(): o for o in options}

    def parse(text: str) -> str:
        value = by_folded.get(text.strip().casefold())
        if value is None:
            raise ValueError(f"must be one of {', '.join(options)}, got {quoted(text)}")
        return value
    return Kind("string", ", ".join(f"`{o}`" for o in options), parse, choices=options)


def hostname(text: str) -> str:
    """A DNS name or an IP address (IPv6 without brackets and without a zone)."""
    value = _plain(text)
    if value.isascii():
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            pass
        else:
            if getattr(address, "scope_id", None):
                raise ValueError(f"{quoted(value)} has an IPv6 zone, which TLS and gRPC cannot use")
            return value
    labels = value.rstrip(".").split(".")
    if (not value.isascii() or len(value) > 253
            or not all(_HOST_LABEL.fullmatch(label) for label in labels)):
        raise ValueError(f"{quoted(value)} is not a valid host name")
    return value


def host_port() -> Kind:
    """`host:port` or `[ipv6]:port`, port 1-65535, ASCII only."""
    def parse(text: str) -> str:
        value = _plain(text)
        match = re.fullmatch(r"\[(?P<ip6>[^\]]+)\]:(?P<port>[0-9]{1,5})"
                             r"|(?P<host>[^:\[\]]+):(?P<port2>[0-9]{1,5})", value, re.ASCII)
        if not match:
            raise ValueError(f"{quoted(value)} is not host:port (e.g. ns.acct.tmprl.cloud:7233)")
        port = int(match["port"] or match["port2"])
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is out of range 1-65535")
        if match["ip6"]:
            try:
                address = ipaddress.IPv6Address(match["ip6"])
            except ValueError:
                raise ValueError(f"{quoted(value)} has an invalid IPv6 address") from None
            if address.scope_id:
                raise ValueError(f"{quoted(value)} has an IPv6 zone, which TLS and gRPC cannot use")
        else:
            hostname(match["host"])
        return value
    return Kind("string", "`host:port`", parse)


def host() -> Kind:
    return Kind("string", "host name", hostname)


def url() -> Kind:
    """An http(s) URL with a valid host and no credentials in it."""
    def parse(text: str) -> str:
        value = _plain(text)
        if any(c.isspace() for c in value):
            raise ValueError(f"{quoted(value)} contains whitespace")
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{quoted(value)} is not an http:// or https:// URL")
        if parts.username or parts.password:
            raise ValueError("must not contain credentials; use the secret API key setting")
        hostname(parts.hostname)
        try:
            parts.port
        except ValueError:
            raise ValueError(f"{quoted(value)} has an invalid port") from None
        return value.rstrip("/")
    return Kind("string", "URL", parse)


def parse_quantity(text: str) -> Decimal:
    """Value of a Kubernetes resource quantity (`500m`, `100Mi`, `1e3`); ValueError if invalid."""
    match = _QUANTITY.fullmatch(text)
    if not match:
        raise ValueError(f"{quoted(text)} is not a Kubernetes quantity (e.g. 500m, 1, 256Mi)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:
        raise ValueError(f"{quoted(text)} is not a Kubernetes quantity") from None
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIX:
        value = number * (Decimal(1024) ** _BINARY_SUFFIX[suffix])
    elif suffix in _DECIMAL_SUFFIX:
        value = number.scaleb(_DECIMAL_SUFFIX[suffix])
    else:
        value = number.scaleb(int(suffix[1:]))
    if value > _QUANTITY_MAX:
        raise ValueError(f"{quoted(text)} is larger than Kubernetes can store")
    return value


def quantity() -> Kind:
    def parse(text: str) -> str:
        value = _plain(text)
        parse_quantity(value)
        return value
    return Kind("string", "quantity", parse)


def k8s_namespace() -> Kind:
    """A DNS-1123 label that is not a system namespace."""
    def parse(text: str) -> str:
        value = _plain(text)
        if not _DNS1123_LABEL.fullmatch(value):
            raise ValueError(f"{quoted(value)} is not a DNS-1123 label (lowercase letters, digits, "
                             "'-', at most 63)")
        if value == "default" or value.startswith("kube-"):
            raise ValueError(f"{quoted(value)} is a system namespace; use a dedicated one")
        return value
    return Kind("string", "DNS-1123 label", parse)


def pattern(regex: re.Pattern[str], label: str, problem: str) -> Kind:
    """One line of text that `regex` matches in full; `problem` says what it should be."""
    def parse(text: str) -> str:
        value = _plain(text)
        if not regex.fullmatch(value):
            raise ValueError(f"{quoted(value)} {problem}")
        return value
    return Kind("string", label, parse)


def image_repository() -> Kind:
    """A repository name as Docker parses it, without tag or digest."""
    return pattern(_REPOSITORY, "repository", "is not an image repository: lowercase, no "
                   "scheme, no tag or digest (e.g. registry.example.com/team/temporal-worker)")


def image_tag() -> Kind:
    return pattern(_TAG, "tag", "is not a valid image tag")


def image_reference() -> Kind:
    """`repository[:tag][@sha256:...]`."""
    def parse(text: str) -> str:
        value = _plain(text)
        name, _, digest = value.partition("@")
        head, _, last = name.rpartition("/")
        repository, _, tag = last.partition(":")
        repository = f"{head}/{repository}" if head else repository
        try:
            image_repository().parse(repository)
        except ValueError:
            raise ValueError(f"{quoted(value)} is not an image reference "
                             "(repository[:tag][@sha256:...])") from None
        if tag and not _TAG.fullmatch(tag):
            raise ValueError(f"{quoted(value)} has an invalid tag")
        if digest and not _DIGEST.fullmatch(digest):
            raise ValueError(f"{quoted(value)} has an invalid digest")
        return value
    return Kind("string", "image", parse)


def platform() -> Kind:
    return pattern(_PLATFORM, "os/arch", "is not os/arch[/variant] (e.g. linux/amd64)")


def file_path() -> Kind:
    return pattern(re.compile(r"/.*"), "path", "is not an absolute path")


def token() -> Kind:
    """A secret credential: surrounding whitespace (a file's newline) is removed; the rest must
    be printable ASCII without spaces, as HTTP and gRPC headers need. Never quoted."""
    def parse(text: str) -> str:
        value = text.strip()
        if not value:
            raise ValueError("must not be empty or only whitespace")
        if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
            raise ValueError("contains whitespace, control or non-ASCII characters, which "
                             "cannot be sent in a header")
        return value
    return Kind("string", "secret", parse)


def env_map(reserved: Callable[[], Collection[str]]) -> Kind:
    """A JSON object of environment variable NAME -> value (secret; values never quoted).

    Values lose surrounding whitespace, as tokens do; `reserved()` names may not be used.
    """
    def parse(text: str) -> dict[str, str]:
        value = load_json(text, "must be a JSON object of NAME -> string")
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object of NAME -> string")
        result = {}
        taken = set(reserved())
        for name, item in value.items():
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"{quoted(name)} is not a valid environment variable name")
            if name in taken:
                raise ValueError(f"{name} is set by the component; use its own setting")
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, (int, float)):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                raise ValueError(f"the value of {shorten(name)} must be a non-empty string")
            if "\x00" in item:
                raise ValueError(f"the value of {shorten(name)} contains a NUL character")
            result[name] = item.strip()
        return dict(sorted(result.items()))
    return Kind("object", "object", parse)


def json_list(item: Kind, label: str, max_items: int = 64) -> Kind:
    """A JSON array (`[443, 8443]`) of values that `item` accepts, without duplicates."""
    def parse(text: str) -> list:
        value = load_json(text, f"must be a JSON array, e.g. {label}")
        if not isinstance(value, list) or len(value) > max_items:
            raise ValueError(f"must be a JSON array of at most {max_items} items, e.g. {label}")
        items = []
        for element in value:
            if isinstance(element, bool) or not isinstance(element, (int, str)):
                raise ValueError(f"{quoted(element)} is not a valid item, e.g. {label}")
            try:
                parsed = item.parse(str(element))
            except ValueError as err:
                raise ValueError(f"item {quoted(element)}: {err}") from None
            if parsed in items:
                raise ValueError(f"lists {quoted(element)} twice")
            items.append(parsed)
        return items
    return Kind("array", f"list ({label})", parse, items=item.type)


_DURATION = re.compile(r"(?P<number>[0-9]{1,9})(?P<unit>[smhd]?)", re.ASCII)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(maximum_seconds: int) -> Kind:
    """A duration as `90s`, `15m`, `1h`, `2d` or plain seconds; the value is in seconds."""
    def parse(text: str) -> int:
        match = _DURATION.fullmatch(text.strip())
        if not match:
            raise ValueError(f"must be a duration such as 30m, 1h or 2d, got {quoted(text)}")
        seconds = int(match["number"]) * _UNITS[match["unit"]]
        if seconds > maximum_seconds:
            raise ValueError(f"must be at most {maximum_seconds} seconds, got {seconds}")
        return seconds

    def render(seconds: Any) -> str:
        seconds = int(seconds)
        for unit in "dhm":
            if seconds and seconds % _UNITS[unit] == 0:
                return f"{seconds // _UNITS[unit]}{unit}"
        return f"{seconds}s"
    return Kind("string", "duration (`30m`, `1h`, `2d`)", parse, render=render)


def ramp_steps(max_steps: int = 20) -> Kind:
    """Progressive ramp steps: a JSON array of increasing percentages 1-99, each a number (held
    for the default pause) or `{"percent": 10, "pause": "15m"}` (held for its own pause).

    The value keeps the form it was written in (numbers stay numbers; an object's pause is in
    seconds); `ramp_schedule` turns it into (percent, pause) pairs.
    """
    percent, pause = integer(1, 99), duration(86400)

    def step(element: Any) -> Any:
        if isinstance(element, bool):
            raise ValueError(f"{element!r} is not a percentage")
        if isinstance(element, (int, str)):
            return percent.parse(str(element))
        if not isinstance(element, dict) or set(element) - {"percent", "pause"} \
                or "percent" not in element:
            raise ValueError(f"{quoted(element)} is not a percentage or "
                             '{"percent": 10, "pause": "15m"}')
        value = element["percent"]
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"percent {quoted(value)} is not a whole number")
        parsed = {"percent": percent.parse(str(value))}
        if element.get("pause") is not None:
            if isinstance(element["pause"], bool):
                raise ValueError(f"pause {element['pause']!r} is not a duration")
            parsed["pause"] = pause.parse(str(element["pause"]))
        return parsed

    def parse(text: str) -> list:
        value = load_json(text, 'must be a JSON array, e.g. [10, 50] or '
                                '[{"percent": 10, "pause": "15m"}, 50]')
        if not isinstance(value, list) or not 1 <= len(value) <= max_steps:
            raise ValueError(f"must be a JSON array of 1 to {max_steps} steps, e.g. [10, 50]")
        steps = []
        for index, element in enumerate(value):
            try:
                steps.append(step(element))
            except ValueError as err:
                raise ValueError(f"step {index + 1}: {err}") from None
        percents = [s["percent"] if isinstance(s, dict) else s for s in steps]
        if any(b <= a for a, b in zip(percents, percents[1:])):
            raise ValueError(f"percentages must increase, got {percents}")
        return steps
    return Kind("array", "ramp steps", parse)


def ramp_schedule(steps: list, default_pause: int) -> list[tuple[int, int]]:
    """(percent, pause seconds) of each step of a `ramp_steps` value."""
    return [(s["percent"], s.get("pause", default_pause)) if isinstance(s, dict)
            else (s, default_pause) for s in steps]


def json_text() -> Kind:
    """Any JSON value, kept as its text."""
    def parse(text: str) -> str:
        load_json(text, "must be JSON")
        return text.strip()
    return Kind("string", "JSON", parse)


def json_object(max_length: int = 65536) -> Kind:
    """A JSON object, kept as its text."""
    def parse(text: str) -> str:
        if len(text) > max_length:
            raise ValueError(f"is {len(text)} characters long; at most {max_length} are allowed")
        value = load_json(text, "must be a JSON object, e.g. {\"items\": 3}")
        if not isinstance(value, dict):
            raise ValueError(f"must be a JSON object, e.g. {{\"items\": 3}}, got {quoted(value)}")
        return text.strip()
    return Kind("string", "JSON object", parse)


def signing_key(min_length: int = 32) -> Kind:
    """A secret key for HMAC signatures: a token of at least `min_length` characters."""
    secret = token()

    def parse(text: str) -> str:
        value = secret.parse(text)
        if len(value) < min_length:
            raise ValueError(f"must be at least {min_length} characters long (e.g. the output "
                             f"of `openssl rand -base64 32`), got {len(value)}")
        return value
    return Kind("string", "secret key", parse)


def build_images(max_items: int = 100) -> Kind:
    """A JSON object of build ID -> image pinned by digest (`repo@sha256:...`)."""
    ids, image = build_id(), image_reference()

    def parse(text: str) -> dict[str, str]:
        value = load_json(text, 'must be a JSON object of build ID -> image, e.g. '
                                '{"v1-2-3": "registry.example.com/worker@sha256:..."}')
        if not isinstance(value, dict) or len(value) > max_items:
            raise ValueError(f"must be a JSON object of at most {max_items} build ID -> image")
        result = {}
        for build, ref in value.items():
            try:
                parsed = ids.parse(build)
            except ValueError as err:
                raise ValueError(f"key {quoted(build)}: {err}") from None
            if not isinstance(ref, str):
                raise ValueError(f"the image of {parsed} must be a string")
            try:
                result[parsed] = image.parse(ref)
                build_id_of(result[parsed])
            except ValueError:
                raise ValueError(f"the image of {parsed} must be an image pinned by digest "
                                 "(repository@sha256:<64 hex digits>)") from None
        return dict(sorted(result.items()))
    return Kind("object", "object", parse)


def ports() -> Kind:
    return json_list(integer(1, 65535), "[443]")


def namespaces() -> Kind:
    return json_list(pattern(_DNS1123_LABEL, "namespace", "is not a DNS-1123 label"),
                     '["monitoring"]')


def build_id() -> Kind:
    """A worker build ID that is also a label value and a Deployment name suffix."""
    return pattern(_DNS1123_LABEL, "build ID", "is not a build ID: lowercase letters, digits and "
                   "'-', at most 63, as a label value and a Deployment name suffix")


def pinned_by_digest(image: Any) -> bool:
    """Whether `image` is `repository@sha256:<64 lowercase hex digits>`: a tag can be moved to
    other content, a digest cannot."""
    return isinstance(image, str) and _DIGEST_REFERENCE.fullmatch(image) is not None


def build_id_of(image: str) -> str:
    """`repo@sha256:<64 hex>` -> `sha256-<first 32 hex>`: a build ID that is also a
    Kubernetes label value. ValueError if the image is not pinned by digest."""
    match = _DIGEST_REFERENCE.fullmatch(image) if isinstance(image, str) else None
    if not match:
        raise ValueError(f"image {quoted(image)} is not pinned by digest: expected "
                         "REPOSITORY@sha256:<64 lowercase hex digits>")
    return f"sha256-{match['hex'][:32]}"


def dns_subdomain() -> Kind:
    """A Kubernetes object name (DNS-1123 subdomain)."""
    return pattern(_DNS1123_SUBDOMAIN, "object name",
                   "is not a Kubernetes object name (lowercase letters, digits, '-' and '.')")


def pem(check: Callable[[str], str], label: str) -> Kind:
    """PEM text checked by one of the `pki` checks (never quoted). The value is its PEM blocks
    only (`pki.pem_blocks`): text around them, a byte order mark included, is dropped."""
    def parse(text: str) -> str:
        if not text.strip():
            raise ValueError("must not be empty")
        return check(pki.pem_blocks(text) or text)
    return Kind("string", label, parse)


def client_certificate() -> Kind:
    return pem(pki.check_client_certificate, "PEM certificate")


def private_key() -> Kind:
    return pem(pki.check_private_key, "PEM private key")


def ca_bundle() -> Kind:
    return pem(pki.check_ca_bundle, "PEM bundle")
