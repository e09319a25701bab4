"""Every rendered object passes its schema, for each stack config: built-in kinds
`kubernetes-validate --strict` for Kubernetes 1.30 to the newest schema version the package
ships, custom resources (KEDA, Prometheus Operator) their real CRD's schema, strictly."""

from __future__ import annotations

import copy
import functools
import re

import pytest
from kubernetes_validate import utils as kv
from packaging.version import Version

from tests.manifests import crds

OLDEST = Version("1.30")
VERSIONS = [v for v in kv.all_versions() if Version(v) >= OLDEST]


@pytest.fixture(autouse=True, scope="module")
def _each_schema_file_parsed_once():
    """kubernetes-validate reads and parses the schema files on every call (its
    `_definitions.json` is megabytes); they do not change during a run, so each is parsed once.
    Validation only reads the parsed schemas."""
    original = kv.schema_contents
    kv.schema_contents = functools.lru_cache(maxsize=None)(original)
    yield
    kv.schema_contents = original


def test_schema_versions_cover_1_30_to_newest():
    assert VERSIONS and VERSIONS[0].startswith("1.30"), VERSIONS
    assert VERSIONS[-1] == kv.latest_version()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_object_passes_strict_schema(rendering, config_name, version):
    assert rendering.objects, f"{config_name}: nothing rendered"
    errors = []
    for obj in rendering.objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["apiVersion"].split("/")[0].endswith(crds.CUSTOM_GROUPS):
            continue  # custom resources: checked against their CRDs below
        try:
            kv.validate(obj, version, strict=True)
        except kv.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            errors.append(f"{where} at {path or '(root)'}: {err.message}")
        except kv.SchemaNotFoundError as err:
            errors.append(f"{where}: {err.message}")
    assert not errors, f"{config_name} on Kubernetes {version}:\n" + "\n".join(errors)


def test_strict_schema_rejects_an_unknown_field(renders):
    """The check can fail: a misspelt field (as a snake_case leak from Python would be) is caught."""
    rendering = renders["prod"][0]
    deployment = next(o for o in rendering.objects if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "revision_history_limit": 10}}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, VERSIONS[-1], strict=True)


def custom_resources(rendering) -> list[dict]:
    return [o for o in rendering.objects
            if o["apiVersion"].split("/")[0].endswith(crds.CUSTOM_GROUPS)]


def test_every_custom_resource_passes_its_crds_schema(rendering, config_name):
    problems = []
    for obj in custom_resources(rendering):
        found = crds.errors(obj)
        assert found is not None, f"no CRD for {obj['apiVersion']} {obj['kind']}"
        problems += [f"{obj['kind']}/{obj['metadata']['name']} at {e}" for e in found]
    assert not problems, f"{config_name}:\n" + "\n".join(problems)


def test_the_keda_and_prometheus_renders_hold_each_custom_kind(renders):
    kinds = {o["kind"] for name in ("prod-keda", "prod-hpa") for o in
             custom_resources(renders[name][0])}
    assert kinds == {"ScaledObject", "TriggerAuthentication", "PodMonitor", "PrometheusRule"}


def test_the_crd_check_rejects_a_misspelt_field_and_a_wrong_type(renders):
    scaled = next(o for o in renders["prod-keda"][0].objects if o["kind"] == "ScaledObject")
    misspelt = copy.deepcopy(scaled)
    misspelt["spec"]["maxReplicas"] = 4
    wrong_type = copy.deepcopy(scaled)
    wrong_type["spec"]["minReplicaCount"] = "one"
    assert crds.errors(scaled) == []
    assert any("maxReplicas" in e for e in crds.errors(misspelt))
    assert any("minReplicaCount" in e for e in crds.errors(wrong_type))


def test_the_temporal_trigger_uses_only_keys_kedas_scaler_reads(renders):
    """KEDA's trigger metadata is a free string map the CRD does not check; the keys the
    Temporal scaler reads are listed in tests/data/crds/README.md."""
    readme = (crds.CRDS / "README.md").read_text()
    known = set(re.findall(r"`(\w+)`", readme.split("What KEDA's Temporal scaler reads", 1)[1]
                           .split("Auth comes from", 1)[0]))
    assert {"endpoint", "taskQueue", "targetQueueSize", "queueTypes"} <= known
    for name in ("prod-keda", "dev"):
        for obj in renders[name][0].objects:
            if obj["kind"] == "ScaledObject":
                for trigger in obj["spec"]["triggers"]:
                    assert trigger["type"] == "temporal"
                    assert set(trigger["metadata"]) <= known, set(trigger["metadata"]) - known
                    assert all(isinstance(v, str) for v in trigger["metadata"].values())
