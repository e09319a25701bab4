"""The package's schema, inferred the way `pulumi package get-schema` does, is what other
languages see: valid per Pulumi's package metaschema, every input described and typed, and the
spec-backed inputs matching the settings spec."""

from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
from pulumi.provider.experimental.component import ComponentProvider

import temporal_worker_spec as spec
from temporal_worker_k8s import COMPONENTS, PACKAGE, TemporalWorkerArgs
from temporal_worker_k8s.enums import BY_SETTING
from temporal_worker_k8s.inputs import schema_name
from temporal_worker_k8s.worker_inputs import PLAIN_INPUTS, STRUCTURAL

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "components"
METASCHEMA = ROOT / "tests" / "data" / "schemas" / "pulumi-package.schema.json"
WORKER = f"{PACKAGE}:index:TemporalWorker"
DEV_SERVER = f"{PACKAGE}:index:TemporalDevServer"


def version() -> str:
    return tomllib.loads((PACKAGE_DIR / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def schema() -> dict:
    """What the plugin host (components/__main__.py) serves to the Pulumi CLI."""
    return json.loads(ComponentProvider(COMPONENTS, PACKAGE, version=version()).schema)


def metaschema_validator() -> jsonschema.protocols.Validator:
    # The metaschema writes named groups the ECMAScript way; Python's re needs (?P<name>...).
    text = METASCHEMA.read_text().replace("(?<", "(?P<")
    metaschema = json.loads(text)
    validator = jsonschema.validators.validator_for(metaschema)
    validator.check_schema(metaschema)
    return validator(metaschema, format_checker=validator.FORMAT_CHECKER)


def test_the_inferred_schema_validates_against_pulumis_package_metaschema(schema):
    errors = sorted(metaschema_validator().iter_errors(schema), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_metaschema_check_can_fail(schema):
    broken = json.loads(json.dumps(schema))
    broken["resources"][WORKER]["inputProperties"]["image"]["type"] = "text"
    assert list(metaschema_validator().iter_errors(broken))


def test_the_schema_names_the_package_version_and_both_components(schema):
    assert schema["name"] == PACKAGE and schema["version"] == version()
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", version()), "semver"
    assert set(schema["resources"]) == {WORKER, DEV_SERVER}
    assert all(r["isComponent"] for r in schema["resources"].values())


@pytest.mark.parametrize("resource", [WORKER, DEV_SERVER])
def test_every_input_and_output_has_a_description_and_a_type(schema, resource):
    definition = schema["resources"][resource]
    assert definition["description"]
    for kind in ("inputProperties", "properties"):
        for name, prop in definition[kind].items():
            assert prop.get("description"), f"{resource}.{kind}.{name} has no description"
            assert prop.get("type") or prop.get("$ref"), f"{resource}.{kind}.{name} untyped"
    for name, type_ in schema["types"].items():
        assert type_.get("description"), name
        for prop_name, prop in type_.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{prop_name} has no description"
        for member in type_.get("enum", []):
            assert member.get("description"), f"{name}.{member['name']} has no description"


def test_image_and_address_are_the_required_inputs(schema):
    """namespace is required too, as a name or as namespaceResource: the component says so."""
    assert sorted(schema["resources"][WORKER]["requiredInputs"]) == ["image", "temporalAddress"]
    assert schema["resources"][DEV_SERVER]["requiredInputs"] == ["namespace"]


@pytest.mark.parametrize("setting", [s for s in spec.SETTINGS if s.arg], ids=lambda s: s.name)
def test_spec_backed_inputs_match_the_settings_spec(schema, setting):
    """Name, type and description come from the spec; the TypedDict must follow it."""
    prop = schema["resources"][WORKER]["inputProperties"].get(setting.name)
    assert prop is not None, f"TemporalWorkerArgs has no {setting.python_name}"
    if setting.secret:
        assert prop["$ref"].endswith(":index:SecretKeyRef"), setting.name
    elif setting.kind.choices:
        enum = prop["$ref"].removeprefix("#/types/")
        assert [m["value"] for m in schema["types"][enum]["enum"]] == list(
            setting.kind.choices), setting.name
        assert schema["types"][enum]["type"] == setting.kind.type
    else:
        assert prop["type"] == setting.kind.type, setting.name
    expected = setting.description
    if setting.default is not None:
        expected += f" Default: `{setting.kind.text(setting.default)}`."
    if setting.secret:
        assert setting.env in prop["description"], setting.name
    else:
        assert prop["description"] == expected, (
            f"docstring of TemporalWorkerArgs.{setting.python_name} should be: {expected}")


def test_every_python_input_is_in_the_schema(schema):
    names = {re.sub(r"_([a-z])", lambda m: m[1].upper(), n)
             for n in TemporalWorkerArgs.__annotations__}
    assert names == set(schema["resources"][WORKER]["inputProperties"])


def test_every_input_takes_an_output_except_those_that_decide_which_objects_exist(schema):
    inputs = schema["resources"][WORKER]["inputProperties"]
    plain = {name for name, prop in inputs.items() if prop.get("plain")}
    assert plain == {schema_name(n) for n in PLAIN_INPUTS}
    for name, type_ in schema["types"].items():
        for prop_name, prop in type_.get("properties", {}).items():
            assert not prop.get("plain") or name.endswith(":BuildVersion"), (name, prop_name)


def test_the_args_description_names_every_input_that_takes_no_output(schema):
    # Users of every language read this list in the schema's description of the args.
    described = re.search(r"except those that decide which Kubernetes\s+objects exist \(([^)]*)\)",
                          TemporalWorkerArgs.__doc__)
    assert described, TemporalWorkerArgs.__doc__
    assert sorted(re.split(r",\s*", described.group(1))) == sorted(
        schema_name(n) for n in STRUCTURAL)


def test_every_setting_with_a_fixed_set_of_values_is_an_enum_of_the_package(schema):
    inputs = schema["resources"][WORKER]["inputProperties"]
    for setting in spec.SETTINGS:
        if setting.arg and setting.kind.choices:
            enum = BY_SETTING[setting.name]
            assert [m.value for m in enum] == list(setting.kind.choices), setting.name
            assert inputs[setting.name]["$ref"] == f"#/types/{PACKAGE}:index:{enum.__name__}"
    assert set(BY_SETTING) == {s.name for s in spec.SETTINGS if s.arg and s.kind.choices}


def test_references_point_into_the_kubernetes_package_schema(schema):
    version = importlib.metadata.version("pulumi-kubernetes")
    base = f"/kubernetes/v{version}/schema.json#/resources/kubernetes:core%2Fv1:"
    inputs = schema["resources"][WORKER]["inputProperties"]
    assert inputs["namespaceResource"]["$ref"] == base + "Namespace"
    for name in ("tlsSecret", "serverCaSecret", "imagePullSecretResource"):
        assert inputs[name]["$ref"] == base + "Secret", name
    assert schema["types"][f"{PACKAGE}:index:SecretKeyRef"]["properties"]["secret"]["$ref"] == \
        base + "Secret"
    assert {"name": "kubernetes", "version": version} in [
        {k: d[k] for k in ("name", "version")} for d in schema["dependencies"]]


def test_the_readme_documents_every_output_of_temporal_worker(schema):
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Outputs", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(\w+)`(?: \(`(\w+)`\))? \|", table, re.M)
    documented = {schema_name(python): (python, other or python) for python, other in rows}
    outputs = schema["resources"][WORKER]["properties"]
    assert set(documented) == set(outputs), "README's Outputs table vs the schema's outputs"
    assert all(camel == name for name, (_, camel) in documented.items())
