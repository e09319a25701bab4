"""Validators for custom resources from the real CRDs in tests/data/crds (KEDA and the Prometheus
Operator), strict like `kubernetes-validate --strict`: a field the schema does not declare is an
error, unless the schema preserves unknown fields (as KEDA's trigger `metadata` map does)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRDS = Path(__file__).resolve().parents[1] / "data" / "crds"


def _strict(schema: Any) -> Any:
    """`schema` with additionalProperties: false wherever properties are listed and the schema
    neither allows more nor preserves unknown fields."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_strict(v) for v in schema]
    return schema


@cache
def validators() -> Mapping[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> validator of that version's openAPIV3Schema."""
    found = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            found[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return found


def errors(obj: Mapping[str, Any]) -> list[str] | None:
    """Schema errors of a custom resource, or None when no CRD here defines its kind."""
    validator = validators().get((obj.get("apiVersion"), obj.get("kind")))
    if validator is None:
        return None
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(obj)]

CUSTOM_GROUPS = ("keda.sh", "monitoring.coreos.com")
"""API groups whose objects are checked here rather than by kubernetes-validate."""
