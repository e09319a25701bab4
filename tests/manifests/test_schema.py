"""Every rendered object passes `kubernetes-validate --strict` for Kubernetes 1.30 to the newest
schema version the package ships, for each stack config."""

from __future__ import annotations

import pytest
from kubernetes_validate import utils as kv
from packaging.version import Version

OLDEST = Version("1.30")
VERSIONS = [v for v in kv.all_versions() if Version(v) >= OLDEST]


def test_schema_versions_cover_1_30_to_newest():
    assert VERSIONS and VERSIONS[0].startswith("1.30"), VERSIONS
    assert VERSIONS[-1] == kv.latest_version()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_object_passes_strict_schema(rendering, config_name, version):
    assert rendering.objects, f"{config_name}: nothing rendered"
    errors = []
    for obj in rendering.objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
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
