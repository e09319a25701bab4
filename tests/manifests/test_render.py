"""The render command: one YAML file per Kubernetes object, secrets redacted, digest marked."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tools import render
from tools.render import REDACTED, REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.render", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_render_dev_writes_one_file_per_object_and_marks_the_placeholder(tmp_path):
    result = _run("--stack", "dev", "--out", str(tmp_path), "--check")
    assert result.returncode == 0, result.stderr
    files = sorted(tmp_path.glob("*.yaml"))
    kinds = [yaml.safe_load(f.read_text())["kind"] for f in files]
    assert kinds == ["Namespace", "Deployment", "Service", "Deployment"], kinds
    worker = next(f for f in files if "temporal-worker-temporal-worker" in f.name)
    assert "IMAGE DIGEST IS A PLACEHOLDER" in worker.read_text()
    assert "placeholder" in result.stderr
    assert "skipped (not a Kubernetes object): docker:index/image:Image" in result.stderr


def test_render_with_secrets_from_files_redacts_them(tmp_path, stack_configs):
    config = stack_configs["prod"][1]
    args = ["--stack", "prod", "--out", str(tmp_path / "out"), "--check",
            "--image-digest", "sha256:" + "1f" * 32]
    for key, value in config.items():
        if key in ("tlsCert", "tlsKey", "temporalApiKey", "chatgptApiKey", "secretEnv"):
            path = tmp_path / key
            path.write_text(value)
            args += ["--set-secret", f"{key}=@{path}"]
        else:
            args += ["--set", f"{key}={value}"]
    result = _run(*args)
    assert result.returncode == 0, result.stderr
    text = "".join(p.read_text() for p in (tmp_path / "out").glob("*.yaml"))
    assert config["temporalApiKey"] not in text and "PRIVATE KEY" not in text
    assert f"{REDACTED}" in text and "PLACEHOLDER" not in text
    assert "@sha256:" + "1f" * 32 in text
    for output in (result.stdout, result.stderr):
        assert config["temporalApiKey"] not in output and "PRIVATE KEY" not in output


def test_rerender_replaces_only_its_own_files(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    assert _run("--stack", "dev", "--out", str(tmp_path)).returncode == 0
    (tmp_path / "01-namespace-temporal-worker.yaml").rename(tmp_path / "old.yaml.bak")
    assert _run("--stack", "dev", "--out", str(tmp_path)).returncode == 0
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "01-namespace-temporal-worker.yaml").exists()


def test_render_rejects_a_malformed_digest():
    result = _run("--stack", "dev", "--out", "/nonexistent", "--image-digest", "sha256:abc")
    assert result.returncode != 0 and "--image-digest" in result.stderr


def test_check_flag_fails_on_a_contract_break(monkeypatch, tmp_path, capsys):
    """`--check` exits 1 when the rendered worker does not fit the contract."""
    real = render.render

    def broken(*args, **kwargs):
        rendering = real(*args, **kwargs)
        for obj in rendering.objects:
            if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "temporal-worker":
                obj["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"][
                    "path"] = "/"
        return rendering

    monkeypatch.setattr(render, "render", broken)
    assert render.main(["--stack", "dev", "--out", str(tmp_path), "--check"]) == 1
    assert "livenessProbe path / is not /healthz" in capsys.readouterr().err


def test_api_version_and_kind_come_from_the_type_token():
    manifest = render.to_manifest("kubernetes:core/v1:ConfigMap", "cm", {"data": {"a": "b"}})
    assert manifest == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                        "data": {"a": "b"}}
    assert render.to_manifest("docker:index/image:Image", "img", {}) is None
    secret = render.to_manifest("kubernetes:core/v1:Secret", "s",
                                {"stringData": {"k": "v"}, "metadata": {"annotations": {"x": "y"}}},
                                secret_paths=[("stringData",), ("metadata", "annotations", "x")])
    assert secret["stringData"] == {"k": REDACTED}
    assert secret["metadata"]["annotations"]["x"] == REDACTED


def test_render_reports_a_config_error_without_a_traceback(tmp_path):
    result = _run("--stack", "dev", "--out", str(tmp_path), "--set", "replicas=-1")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "replicas" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_reads_the_digest_from_a_push_digest_file(tmp_path):
    digest_file = tmp_path / "worker.digest"
    digest_file.write_text("sha256:" + "2e" * 32 + "\n")
    result = _run("--stack", "dev", "--out", str(tmp_path / "out"), "--image-digest",
                  f"@{digest_file}")
    assert result.returncode == 0, result.stderr
    worker = next((tmp_path / "out").glob("*-temporal-worker-temporal-worker.yaml")).read_text()
    assert "@sha256:" + "2e" * 32 in worker and "PLACEHOLDER" not in worker
