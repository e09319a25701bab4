"""The build record a rollout keeps in a version's Temporal metadata: the image the build runs,
signed with a key only the stack holds, and read back without trusting anything in it.

Anyone who may write to the Temporal namespace can rewrite version metadata (the server's
manager identity does not guard it). So a record is only a hint: the program deploys its image
only when its HMAC, over the deployment name, the build ID and the image, verifies under the
stack's key. Reading never raises: every oddity (an unknown encoding, bad JSON, the wrong
type, an oversized value) becomes a `problem` that names what is wrong without echoing it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from temporal_worker_spec import values as kinds

RECORD_KEY = "temporal-worker-k8s/build"
"""Metadata key of the signed record."""
LEGACY_IMAGE_KEY = "image"
"""Metadata key of the unsigned image record that temporal-worker-k8s 1.x wrote."""
RECORD_VERSION = 1
MAX_RECORD_BYTES = 4096
"""Larger payloads are not decoded: an image reference is a few hundred characters."""
MAX_IMAGE_LENGTH = 1024
_ENCODING = b"json/plain"
_KEY_ID_LABEL = b"temporal-worker-k8s rollout key id"


def key_id(key: str) -> str:
    """A short public name of a key (an HMAC of a constant): tells keys apart, reveals none."""
    return hmac.new(key.encode(), _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:12]


def signature(key: str, deployment_name: str, build_id: str, image: str) -> str:
    """HMAC-SHA256 over the three facts a record binds (JSON, so no separator is ambiguous)."""
    message = json.dumps(["temporal-worker-k8s/build/v1", deployment_name, build_id, image])
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    """The stack's signing key, and the one before a rotation (still trusted for reading)."""

    current: str = field(repr=False)
    previous: str | None = field(default=None, repr=False)

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def key(self, wanted_id: str) -> str | None:
        """The key whose id is `wanted_id`, if the ring holds it."""
        return next((k for k in (self.current, self.previous) if k and key_id(k) == wanted_id),
                    None)


def encode(key: str, deployment_name: str, build_id: str, image: str) -> Payload:
    """The signed record as a metadata payload (JSON, as the SDK's converter writes it)."""
    return DataConverter.default.payload_converter.to_payloads([{
        "v": RECORD_VERSION, "image": image, "keyId": key_id(key),
        "hmac": signature(key, deployment_name, build_id, image)}])[0]


@dataclass(frozen=True)
class Recorded:
    """What a version's metadata says about its image, as read: nothing here is trusted."""

    image: str | None = None
    """The image it names, when the record could be read."""
    key_id: str | None = None
    signature: str | None = None
    problem: str | None = None
    """Why the record cannot be used as read (malformed), else None."""
    legacy: bool = False
    """An unsigned `image` entry (temporal-worker-k8s 1.x, or anyone who wrote that key)."""


def read(entries: Mapping[str, Payload]) -> Recorded | None:
    """The record in a version's metadata entries; None when there is none at all."""
    if RECORD_KEY in entries:
        return _read_signed(entries[RECORD_KEY])
    if LEGACY_IMAGE_KEY in entries:
        value, problem = _decode(entries[LEGACY_IMAGE_KEY], f"metadata {LEGACY_IMAGE_KEY!r}")
        if problem:
            return Recorded(problem=problem, legacy=True)
        if not isinstance(value, str):
            return Recorded(problem=f"metadata {LEGACY_IMAGE_KEY!r} is {_kind(value)}, not an "
                                    "image reference", legacy=True)
        image_problem = _image_problem(value)
        return Recorded(image=None if image_problem else value, problem=image_problem,
                        legacy=True)
    return None


def _read_signed(payload: Payload) -> Recorded:
    where = f"metadata {RECORD_KEY!r}"
    value, problem = _decode(payload, where)
    if problem:
        return Recorded(problem=problem)
    if not isinstance(value, dict):
        return Recorded(problem=f"{where} is {_kind(value)}, not a record object")
    if value.get("v") != RECORD_VERSION:
        return Recorded(problem=f"{where} has record version {_short(value.get('v'))}; this "
                                f"package reads version {RECORD_VERSION}")
    image, key, mac = value.get("image"), value.get("keyId"), value.get("hmac")
    if not all(isinstance(v, str) for v in (image, key, mac)):
        return Recorded(problem=f"{where} lacks a string image, keyId or hmac")
    image_problem = _image_problem(image)
    return Recorded(image=None if image_problem else image, key_id=key[:64],
                    signature=mac[:128], problem=image_problem)


def _decode(payload: Payload, where: str) -> tuple[Any, str | None]:
    encoding = payload.metadata.get("encoding", b"")
    if encoding != _ENCODING:
        return None, (f"{where} has encoding {_short(encoding.decode('ascii', 'replace'))}, "
                      "not json/plain")
    if len(payload.data) > MAX_RECORD_BYTES:
        return None, (f"{where} is {len(payload.data)} bytes long; a record is at most "
                      f"{MAX_RECORD_BYTES}")
    try:
        return json.loads(payload.data), None
    except (ValueError, RecursionError):
        return None, f"{where} is not valid JSON"


def _image_problem(image: str) -> str | None:
    if len(image) > MAX_IMAGE_LENGTH:
        return f"its image is {len(image)} characters long (at most {MAX_IMAGE_LENGTH})"
    try:
        kinds.image_reference().parse(image)
    except ValueError:
        return f"its image {_short(image)} is not an image reference"
    return None


@dataclass(frozen=True)
class Verdict:
    """Whether a record can be trusted: the image to deploy, or why not."""

    image: str | None
    problem: str | None = None
    resign: bool = False
    """Trusted under the previous key: sign it again with the current one."""


def verify(recorded: Recorded | None, keys: KeyRing, deployment_name: str,
           build_id: str) -> Verdict:
    """The image `recorded` names, if this stack signed it for this build of this deployment."""
    if recorded is None:
        return Verdict(None, "Temporal holds no image record for it")
    if recorded.legacy:
        shown = f" (it names {_short(recorded.image)})" if recorded.image else ""
        reason = recorded.problem or "it carries no signature"
        return Verdict(None, f"its image record is unsigned{shown}: written by "
                             f"temporal-worker-k8s 1.x, or by someone else; {reason}")
    if recorded.problem:
        return Verdict(None, f"its image record cannot be read: {recorded.problem}")
    key = keys.key(recorded.key_id or "")
    if key is None:
        return Verdict(None, f"its image record is signed with a key this stack does not hold "
                             f"(key id {_short(recorded.key_id)}; rolloutSigningKey has key id "
                             f"{keys.current_id})")
    expected = signature(key, deployment_name, build_id, recorded.image or "")
    if not hmac.compare_digest(expected, recorded.signature or ""):
        return Verdict(None, f"its image record (naming {_short(recorded.image)}) does not "
                             "match its signature: it was changed after the stack wrote it, "
                             "or copied from another build")
    return Verdict(recorded.image, resign=key != keys.current)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), f"the number {_short(value)}"
                                    if isinstance(value, (int, float)) else "a value")


def _short(value: Any, limit: int = 160) -> str:
    """`repr` of a value from Temporal, cut to `limit` characters (control characters escaped)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
