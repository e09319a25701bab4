"""The render command: one YAML file per Kubernetes object, secrets redacted, digest marked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tools import render
from tools.mockstack import SECRET_KEYS
from tools.render import REDACTED, REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.render", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_render_dev_writes_one_file_per_object_and_marks_the_placeholder(tmp_path):
    result = _run("--stack", "dev", "--out", str(tmp_path), "--check")
    assert result.returncode == 0, result.stderr
    files = sorted(tmp_path.glob("*.yaml"))
    kinds = [yaml.safe_load(f.read_text())["kind"] for f in files]
    assert sorted(kinds) == ["Deployment", "Deployment", "Namespace", "NetworkPolicy", "Service",
                             "ServiceAccount"], kinds
    worker = next(f for f in files if "deployment-temporal-worker-temporal-worker" in f.name)
    assert "IMAGE DIGEST IS A PLACEHOLDER" in worker.read_text()
    assert "placeholder" in result.stderr
    assert "skipped (not a Kubernetes object): docker:index/image:Image" in result.stderr


def test_render_with_secrets_from_files_redacts_them(tmp_path, stack_configs):
    config = stack_configs["prod"][1]
    args = ["--stack", "prod", "--out", str(tmp_path / "out"), "--check",
            "--image-digest", "sha256:" + "1f" * 32]
    for key, value in config.items():
        if key in SECRET_KEYS:
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
    worker = next((tmp_path / "out").glob("*-deployment-temporal-worker-temporal-worker.yaml")
                  ).read_text()
    assert "@sha256:" + "2e" * 32 in worker and "PLACEHOLDER" not in worker


CONFIG_MAP = render.Rendering([{"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "cm"}}])


def test_rerender_deletes_only_files_directly_inside_the_output_dir(tmp_path):
    """The index is a plain file: names that lead out of --out are ignored, not deleted."""
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    outside, absolute, nested, listed = (tmp_path / "victim.txt", tmp_path / "absolute.txt",
                                         out / "sub" / "nested.yaml", out / "old.yaml")
    for path in (outside, absolute, nested, listed):
        path.write_text("keep me")
    (out / ".rendered").write_text(f"../victim.txt\n{absolute}\nsub/nested.yaml\nold.yaml\n")
    render.write(CONFIG_MAP, out)
    assert outside.read_text() == absolute.read_text() == nested.read_text() == "keep me"
    assert not listed.exists(), "a file the index names directly inside --out is replaced"
    assert (out / ".rendered").read_text().split() == ["01-configmap-cm.yaml"]


def test_rerender_ignores_index_entries_that_are_directories(tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / ".rendered").write_text("..\n.\nsub\n")
    assert [p.name for p in render.write(CONFIG_MAP, out)] == ["01-configmap-cm.yaml"]
    assert (out / "sub").is_dir()


def _assert_keys_sorted(value, where: str) -> None:
    if isinstance(value, dict):
        keys = list(value)
        assert keys == sorted(keys), f"{where}: keys not in kubectl order: {keys}"
        for key, child in value.items():
            _assert_keys_sorted(child, f"{where}.{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _assert_keys_sorted(child, f"{where}[{i}]")


def test_two_renders_are_byte_identical_with_keys_in_kubectl_order(tmp_path):
    """Protobuf maps come back in a per-process order; the files must not follow it."""
    # Side by side, so both see the same source files (the image tag hashes them).
    runs = {seed: subprocess.Popen(
        [sys.executable, "-m", "tools.render", "--stack", "dev", "--out", str(tmp_path / seed)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONHASHSEED": seed}) for seed in ("1", "2")}
    outputs = []
    for seed, run in runs.items():
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / seed).iterdir())})
    assert outputs[0] == outputs[1], [n for n in outputs[0] if outputs[0][n] != outputs[1].get(n)]
    for name, data in outputs[0].items():
        if name.endswith(".yaml"):
            _assert_keys_sorted(yaml.safe_load(data), name)


def test_render_prints_the_programs_warnings_to_stderr(tmp_path, stack_configs, capsys):
    """A client certificate that expires within 30 days deploys with a warning; so it renders."""
    config = stack_configs["prod"][1]  # its test certificate is valid for 7 days
    (tmp_path / "client.pem").write_text(config["tlsCert"])
    (tmp_path / "client.key").write_text(config["tlsKey"])
    code = render.main(["--stack", "prod", "--out", str(tmp_path / "out"),
                        "--set", f"temporalAddress={config['temporalAddress']}",
                        "--set-secret", f"tlsCert=@{tmp_path / 'client.pem'}",
                        "--set-secret", f"tlsKey=@{tmp_path / 'client.key'}"])
    err = capsys.readouterr().err
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert any(line.startswith("warning: temporal-worker:tlsCert: ") and "within 30 days" in line
               for line in warnings), err


SECRET_LOOKING = "hunter2-do-not-print-me"


@pytest.mark.parametrize("flag, problem", [
    (flag, problem) for flag in ("--config", "--set-secret", "--image-digest")
    for problem in ("missing", "directory", "not utf-8", "not its format")
    if (flag, problem) != ("--set-secret", "not its format")  # any text is a secret value
])
def test_an_unreadable_input_file_is_one_line_naming_flag_and_path(tmp_path, capsys, flag,
                                                                   problem):
    path = tmp_path / "input"
    if problem == "directory":
        path.mkdir()
    elif problem == "not utf-8":
        path.write_bytes(b"\xff\xfe" + SECRET_LOOKING.encode())
    elif problem == "not its format":
        path.write_text(f"config: [unclosed\n  {SECRET_LOOKING}: {{\n")
    argument = {"--config": [flag, str(path)],
                "--set-secret": [flag, f"tlsKey=@{path}"],
                "--image-digest": [flag, f"@{path}"]}[flag]
    code = render.main(["--stack", "dev", "--out", str(tmp_path / "out"), *argument])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert flag in err and str(path) in err, err
    assert SECRET_LOOKING not in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists(), "nothing is written after an input error"


def test_a_missing_secret_file_exits_2_without_a_traceback(tmp_path):
    missing = tmp_path / "client.key"
    result = _run("--stack", "dev", "--out", str(tmp_path / "out"),
                  "--set-secret", f"tlsKey=@{missing}")
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"error: --set-secret tlsKey=@FILE: cannot read {missing}: "
                             "No such file or directory\n")


def test_a_secret_given_without_its_key_is_not_echoed(tmp_path, capsys):
    assert render.main(["--out", str(tmp_path), "--set-secret", SECRET_LOOKING]) == 2
    err = capsys.readouterr().err
    assert err == "error: --set-secret: expected KEY=VALUE\n"


def test_objects_are_written_in_apply_order_whatever_order_they_were_registered_in(
        tmp_path, monkeypatch):
    """Registration order follows Output timing; the files must not. Namespaces first, the
    objects pods need before the Deployments, autoscalers and custom resources after."""
    def obj(kind, name, namespace="w"):
        return {"kind": kind, "metadata": {"name": name, "namespace": namespace}}

    registered = [obj("ScaledObject", "w-b"), obj("Deployment", "w-b"), obj("NetworkPolicy", "w"),
                  obj("HorizontalPodAutoscaler", "w"), obj("Deployment", "w-a"),
                  obj("Secret", "tls"), obj("Namespace", "w", None), obj("ServiceAccount", "w"),
                  obj("PodMonitor", "w")]
    expected = ["Namespace w", "NetworkPolicy w", "ServiceAccount w", "Secret tls",
                "Deployment w-a", "Deployment w-b", "HorizontalPodAutoscaler w", "PodMonitor w",
                "ScaledObject w-b"]
    for order in (registered, registered[::-1]):
        monkeypatch.setattr("tools.mockstack.run_stack", lambda *a, _o=order, **k: _fake_run(_o))
        rendering = render.render({})
        assert [f"{o['kind']} {o['metadata']['name']}" for o in rendering.objects] == expected
    written = render.write(rendering, tmp_path)
    assert [p.name.split("-", 1)[0] for p in written] == [f"{i:02d}" for i in range(1, 10)]


def _fake_run(objects):
    from tools.mockstack import MockResource, StackRun
    return StackRun(resources=[MockResource(
        type_=f"kubernetes:test/v1:{o['kind']}", name=o["metadata"]["name"], urn="urn", parent="",
        custom=True, inputs=o, secret_paths=frozenset()) for o in objects], exports={})
