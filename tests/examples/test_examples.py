"""The package outside this repository: installed by pip into a fresh venv (from a path and from
a Git URL), the Python example run from that venv under mocks, the YAML example checked against
Pulumi's project schema and the package's inferred schema."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from pulumi.provider.experimental.component import ComponentProvider

from temporal_worker_k8s import COMPONENTS, PACKAGE
from tests.support.package import PackageVenv, git_repository_of_the_package
from tools.mockstack import run_program

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "components" / "pyproject.toml").read_text())["project"][
    "version"]
SCHEMAS = ROOT / "tests" / "data" / "schemas"
IMAGE = "registry.example.com/payments/worker@sha256:" + "12" * 32
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
WORKER = f"{PACKAGE}:index:TemporalWorker"


def validate_project(path: Path) -> list[str]:
    schema = json.loads((SCHEMAS / "pulumi-project.schema.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]


def test_the_package_imports_from_a_fresh_venv_outside_the_repository(package_venv: PackageVenv,
                                                                      tmp_path):
    out = package_venv.run(
        "import temporal_worker_k8s as k, temporal_worker_spec as s, importlib.metadata as m\n"
        "print(k.__file__); print(s.__file__); print(m.version('temporal-worker-k8s'))\n"
        "print(k.TemporalWorker.__name__, k.TemporalDevServer.__name__)", cwd=tmp_path)
    component, spec_file, version, names = out.strip().splitlines()
    for path in (component, spec_file):
        assert "site-packages" in path and not path.startswith(str(ROOT)), path
    assert version == VERSION
    assert names == "TemporalWorker TemporalDevServer"


def test_the_package_installs_from_a_git_url(tmp_path_factory):
    repository, commit = git_repository_of_the_package(tmp_path_factory.mktemp("git-release"))
    venv = PackageVenv.empty(tmp_path_factory.mktemp("git-venv"))
    # --no-deps: the path install above proves the dependencies; this proves the Git form.
    venv.pip("install", "--no-deps", f"git+file://{repository}@{commit}#subdirectory=components")
    out = venv.run(
        "import json, importlib.metadata as m, temporal_worker_spec\n"
        "d = m.distribution('temporal-worker-k8s')\n"
        "print(d.version); print(json.loads(d.read_text('direct_url.json'))['vcs_info']"
        "['commit_id']); print(temporal_worker_spec.BY_NAME['taskQueue'].env)",
        cwd=tmp_path_factory.mktemp("elsewhere"))
    assert out.split() == [VERSION, commit, "TEMPORAL_TASK_QUEUE"]


def test_the_python_example_deploys_two_workers_into_an_existing_namespace(
        package_venv: PackageVenv):
    assert not validate_project(ROOT / "examples" / "python" / "Pulumi.yaml")
    run = package_venv.run_program(ROOT / "examples" / "python", "payments-workers", {
        "image": IMAGE, "namespace": "payments", "temporalAddress": "pay.a1b2c.tmprl.cloud:7233",
        "temporalNamespace": "pay.a1b2c", "tlsSecretName": "temporal-client-cert",
        "stripeSecretName": "stripe"})
    types = [r["type"] for r in run["resources"]]
    assert types.count(WORKER) == 2 and types.count(DEPLOYMENT) == 2
    assert not [t for t in types if t.endswith((":Namespace", ":Secret"))], types
    deployments = {r["name"]: r["inputs"] for r in run["resources"] if r["type"] == DEPLOYMENT}
    queues = set()
    for deployment in deployments.values():
        assert deployment["metadata"]["namespace"] == "payments"
        pod = deployment["spec"]["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        queues.add(env["TEMPORAL_TASK_QUEUE"]["value"])
        assert pod["containers"][0]["image"] == IMAGE
        assert [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v] == [
            "temporal-client-cert"]
    assert queues == {"orders", "refunds"}
    refunds = deployments["refunds-deployment"]["spec"]["template"]["spec"]["containers"][0]
    stripe = next(e for e in refunds["env"] if e["name"] == "STRIPE_API_KEY")
    assert stripe["valueFrom"]["secretKeyRef"] == {"name": "stripe", "key": "apiKey"}
    assert set(run["exports"]) == {"ordersDeployment", "refundsDeployment"}
    # refunds calls Stripe over HTTPS: its NetworkPolicy lets that out without any setting.
    policies = {r["name"]: r["inputs"] for r in run["resources"]
                if r["type"] == "kubernetes:networking.k8s.io/v1:NetworkPolicy"}
    assert {"port": 443, "protocol": "TCP"} in policies["refunds-network-policy"]["spec"][
        "egress"][1]["ports"]


def yaml_example() -> dict:
    return yaml.safe_load((ROOT / "examples" / "yaml" / "Pulumi.yaml").read_text())


def test_the_yaml_example_validates_against_pulumis_project_schema():
    errors = validate_project(ROOT / "examples" / "yaml" / "Pulumi.yaml")
    assert not errors, errors
    assert yaml_example()["packages"][PACKAGE] == "../../components"
    assert (ROOT / "examples" / "yaml" / yaml_example()["packages"][PACKAGE] /
            "PulumiPlugin.yaml").exists()


def test_the_yaml_examples_resources_construct_through_the_provider():
    """Each resource's properties are inputs of the inferred schema, with every required one,
    and constructing them registers the Deployments."""
    program = yaml_example()
    provider = ComponentProvider(COMPONENTS, PACKAGE)
    schema = json.loads(provider.schema)
    config = {"image": IMAGE, **{k: v.get("default") for k, v in program["config"].items()
                                 if "default" in v}}

    def substitute(value):
        if isinstance(value, str):
            return re.sub(r"\$\{(\w+)\}", lambda m: config[m[1]], value)
        if isinstance(value, dict):
            return {k: substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [substitute(v) for v in value]
        return value

    resources = program["resources"]
    for name, resource in resources.items():
        definition = schema["resources"][resource["type"]]
        assert set(resource["properties"]) <= set(definition["inputProperties"]), name
        assert set(definition["requiredInputs"]) <= set(resource["properties"]), name

    def construct_all():
        for name, resource in resources.items():
            provider.construct(name, resource["type"], substitute(resource["properties"]))

    run = run_program(construct_all)
    assert sorted(r.name for r in run.of_type(DEPLOYMENT)) == sorted(
        f"{name}-deployment" for name in resources)
    refunds = run.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "refunds-network-policy")
    assert {"port": 443, "protocol": "TCP"} in refunds.get("spec", "egress")[1]["ports"]
    for output in program["outputs"].values():
        resource, attribute = re.fullmatch(r"\$\{(\w+)\.(\w+)\}", output).groups()
        assert attribute in schema["resources"][resources[resource]["type"]]["properties"]
