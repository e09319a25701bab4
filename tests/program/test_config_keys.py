"""The stack's config keys: every one comes from the settings spec, Pulumi.yaml declares them as
Pulumi's own project schema allows, and a key the spec does not know stops the program."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pulumi
import pytest
import yaml

import temporal_worker_spec as spec
from tools import specgen
from tools.mockstack import run_stack

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "data" / "schemas"


def project_schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / "pulumi-project.schema.json").read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


@pytest.mark.parametrize("typo, meant", [("replica", "replicas"), ("tlscert", "tlsCert"),
                                         ("TaskQueue", "taskQueue"),
                                         ("temporalAdress", "temporalAddress")])
def test_a_mistyped_key_stops_the_program_with_a_suggestion(dev_config, typo, meant):
    with pytest.raises(ValueError) as caught:
        run_stack({**dev_config, typo: "7"})
    assert str(caught.value).startswith(f"temporal-worker:{typo}: unknown setting; did you "
                                        f"mean temporal-worker:{meant}?"), caught.value
    assert caught.value.registered_resources == ()


def test_an_unknown_key_without_a_near_match_is_refused_without_a_guess(dev_config):
    with pytest.raises(ValueError, match=r"^temporal-worker:frobnicate: unknown setting \("):
        run_stack({**dev_config, "frobnicate": "1"})


def test_a_mistyped_secret_key_is_refused_without_echoing_it(dev_config):
    with pytest.raises(ValueError) as caught:
        run_stack({**dev_config, "temporalApiKeys": "tmprl-secret-value-123"})
    assert "tmprl-secret-value-123" not in str(caught.value)
    assert "did you mean temporal-worker:temporalApiKey?" in str(caught.value)


def test_keys_of_other_namespaces_are_left_to_their_owners(dev_config):
    run_stack({**dev_config, "kubernetes:context": "kind-kind", "pulumi:tags": "{}"})


def test_pulumi_yaml_validates_against_pulumis_project_schema():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    errors = sorted(project_schema_validator().iter_errors(project), key=str)
    assert not errors, "\n".join(e.message for e in errors)


def test_pulumi_yaml_declares_every_plain_key_of_the_spec_and_no_secret_one():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    plain = [s for s in spec.SETTINGS if s.config and not s.secret]
    assert list(declared) == [s.name for s in plain]
    for setting in plain:
        entry = declared[setting.name]
        assert entry.get("type") == specgen.declared_type(setting.kind), setting.name
        assert entry["description"] == setting.description, setting.name
        # A declared key without a default would be required by the CLI.
        expected = "" if setting.default is None else setting.default
        if setting.kind.type == "string" and setting.default is not None:
            expected = setting.kind.text(setting.default)  # a duration's 3600 reads 1h
        assert entry["default"] == expected, setting.name


def test_pulumi_yaml_and_the_readme_tables_are_generated_from_the_current_spec():
    assert specgen.stale() == [], "run: .venv/bin/python -m tools.specgen"


def test_every_readme_config_row_names_a_spec_key():
    readme = (ROOT / "README.md").read_text()
    for setting in spec.SETTINGS:
        if setting.config:
            assert f"| `{setting.name}` |" in readme, setting.name


@pytest.mark.parametrize("case", ["unknown key", "bad value", "secret in plain text"])
def test_every_config_error_is_one_message_without_a_traceback(dev_config, prod_config, case):
    """A `pulumi.RunError`: `pulumi up` prints its message and exits non-zero, instead of the
    Python traceback of the program an ordinary exception gets."""
    runs = {
        "unknown key": lambda: run_stack({**dev_config, "replica": "2"}),
        "bad value": lambda: run_stack({**dev_config, "replicas": "-1"}),
        "secret in plain text": lambda: run_stack(prod_config, stack="prod", secret_keys=()),
    }
    with pytest.raises(ValueError) as caught:
        runs[case]()
    assert isinstance(caught.value, pulumi.RunError), type(caught.value).__mro__
    assert str(caught.value).startswith("temporal-worker:"), caught.value
    assert caught.value.registered_resources == ()
