"""checkov on the rendered manifests and on worker/Dockerfile, with skips (and their reasons) in
.checkov.yaml next to this file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.conformance import DOCKERFILE, worker_deployments

HERE = Path(__file__).parent
CONFIG = HERE / ".checkov.yaml"
DEV_SERVER_CONFIG = HERE / ".checkov-dev-server.yaml"


def checkov(binary: str, config: Path, framework: str, files: list[Path]) -> list[dict]:
    """Failed checks as checkov reports them (JSON); raises if checkov itself breaks.
    `framework` may name several, space-separated: one run (checkov's start-up is most of its
    time) reports on each."""
    args = [binary, "--config-file", str(config), "--framework", *framework.split(), "-o",
            "json"]
    for f in files:
        args += ["-f", str(f)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"checkov failed ({result.returncode}): {result.stderr[-2000:]}")
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert {r.get("check_type") for r in reports} <= set(framework.split()), reports
    assert sum(r["summary"]["passed"] for r in reports) > 0, "checkov ran no check"
    return [f for r in reports for f in r["results"]["failed_checks"]]


def _describe(failed: list[dict]) -> str:
    return "\n".join(f"{f['check_id']} {f['resource']}: {f['check_name']}" for f in failed)


def _split(directory: Path) -> tuple[list[Path], list[Path]]:
    """(files checked with the main config, the dev server's Deployment checked with its own)."""
    main, dev_server = [], []
    for path in sorted(directory.glob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        if obj["kind"] == "Deployment" and not worker_deployments([obj]):
            dev_server.append(path)
        else:
            main.append(path)
    return main, dev_server


def test_checkov_passes_on_rendered_manifests(renders, config_name, checkov_bin):
    _, directory = renders[config_name]
    main, dev_server = _split(directory)
    failed = checkov(checkov_bin, CONFIG, "kubernetes", main)
    if dev_server:
        failed += checkov(checkov_bin, DEV_SERVER_CONFIG, "kubernetes", dev_server)
    assert not failed, f"{config_name}:\n{_describe(failed)}"


def test_checkov_reports_a_weakened_worker(renders, checkov_bin, tmp_path):
    """The check can fail: a worker that runs privileged as root with no limits is reported."""
    _, directory = renders["prod"]
    worker = next(p for p in directory.glob("*.yaml")
                  if worker_deployments([yaml.safe_load(p.read_text())]))
    obj = yaml.safe_load(worker.read_text())
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"].update(privileged=True, runAsUser=0, runAsNonRoot=False)
    del container["resources"]["limits"]
    broken = tmp_path / "worker.yaml"
    broken.write_text(yaml.safe_dump(obj))
    ids = {f["check_id"] for f in checkov(checkov_bin, CONFIG, "kubernetes", [broken])}
    assert {"CKV_K8S_16", "CKV_K8S_11", "CKV_K8S_13"} <= ids, ids


def test_checkov_passes_on_the_dockerfile(checkov_bin):
    if not DOCKERFILE.exists():
        pytest.fail(f"{DOCKERFILE} is missing")
    failed = checkov(checkov_bin, CONFIG, "dockerfile", [DOCKERFILE])
    assert not failed, _describe(failed)


def test_skipped_checks_each_have_a_reason():
    for config in (CONFIG, DEV_SERVER_CONFIG):
        lines = config.read_text().splitlines()
        skipped = yaml.safe_load(config.read_text())["skip-check"]
        for check_id in skipped:
            i = lines.index(f"  - {check_id}")
            assert lines[i - 1].strip().startswith("# ") and len(lines[i - 1]) > 20, \
                f"{config.name}: {check_id} has no one-line reason above it"


def test_checkov_reports_a_root_dockerfile(checkov_bin, tmp_path):
    """The check can fail: a Dockerfile that ends as root and uses ADD is reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nADD https://example.com/x /x\nUSER root\n"
                   'ENTRYPOINT ["python"]\n')
    ids = {f["check_id"] for f in checkov(checkov_bin, CONFIG, "dockerfile", [bad])}
    assert {"CKV_DOCKER_4", "CKV_DOCKER_8"} <= ids, ids


def test_every_skipped_check_is_still_needed(renders, checkov_bin, tmp_path):
    """A skip that no longer matches a failure is stale: remove it from the config."""
    bare = tmp_path / "no-skips.yaml"
    bare.write_text("compact: true\nquiet: true\nskip-download: true\n")
    # dev, prod and the Dockerfile in one checkov run (its start-up is most of its time).
    files = [path for name in ("dev", "prod") for path in sum(_split(renders[name][1]), [])]
    failing = {f["check_id"] for f in checkov(checkov_bin, bare, "kubernetes dockerfile",
                                              [*files, DOCKERFILE])}
    for config in (CONFIG, DEV_SERVER_CONFIG):
        stale = set(yaml.safe_load(config.read_text())["skip-check"]) - failing
        assert not stale, f"{config.name}: {sorted(stale)} no longer fail; drop the skip"
