"""The render tool turned against its user: planted symlinks, renders racing into one directory,
a render stopped half-way, a guessable secret behind the checksum, plain-text secrets in a stack
file, a versioned rollout that must stay offline. Each case runs the real `python -m
tools.render` (or its `main`, in process, where only its input handling is at stake)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

import temporal_worker_spec as spec

from tests.support.stacks import CLOUD_TARGET
from tools import render
from tools.mockstack import PLACEHOLDER_DIGEST
from tools.render import REDACTED, REPO_ROOT

RECORDED = REPO_ROOT / "tests" / "data" / "temporal" / "worker_deployment.json"
RECORDING_KEY = json.loads(RECORDED.read_text())["recorded_with"]["signing_key"]
API_KEY = "tcld-api-key-for-attack-tests-0123456789"
# A production-like stack with one secret, on the command line.
PROD = ["--stack", "prod", *(f"--set={k}={v}" for k, v in CLOUD_TARGET.items())]


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.render", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _prod(out: Path, *extra: str) -> list[str]:
    return [*PROD, "--out", str(out), "--set-secret", f"temporalApiKey={API_KEY}", *extra]


def _listed(out: Path) -> list[str]:
    return (out / ".rendered").read_text().split()


def _yaml_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.yaml")) if p.is_file()}


# --- Writing: symlinks, races, half-way stops, stale files -------------------------------------

def test_a_symlink_planted_under_a_rendered_name_is_replaced_not_written_through(tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("keep me")
    planted = out / "01-namespace-temporal-worker.yaml"
    planted.symlink_to(victim)
    result = _run("--stack", "dev", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "keep me", "the render wrote through a symlink"
    assert not planted.is_symlink() and yaml.safe_load(planted.read_text())["kind"] == "Namespace"


def test_a_symlinked_index_is_replaced_not_written_through(tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("keep me\n")
    (out / ".rendered").symlink_to(victim)
    result = _run("--stack", "dev", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "keep me\n", "the render wrote its index through a symlink"
    assert not (out / ".rendered").is_symlink()
    assert sorted(_listed(out)) == sorted(_yaml_files(out))


def test_a_hard_link_planted_under_a_rendered_name_does_not_carry_the_write_outside(tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("keep me")
    os.link(victim, out / "01-namespace-temporal-worker.yaml")
    assert _run("--stack", "dev", "--out", str(out)).returncode == 0
    assert victim.read_text() == "keep me"


def test_a_prod_render_after_a_dev_render_leaves_only_its_own_files(tmp_path):
    dev_only, prod_only = tmp_path / "dev", tmp_path / "prod"
    assert _run("--stack", "dev", "--out", str(dev_only)).returncode == 0
    assert _run(*_prod(prod_only)).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert _run("--stack", "dev", "--out", str(out)).returncode == 0
    result = _run(*_prod(out))
    assert result.returncode == 0, result.stderr
    assert _yaml_files(out) == _yaml_files(prod_only)
    assert sorted(_listed(out)) == sorted(_yaml_files(prod_only))
    assert (out / "notes.txt").read_text() == "mine"
    assert any("temporal-dev" in name for name in _yaml_files(dev_only))


def test_a_render_stopped_half_way_leaves_no_file_the_next_render_keeps(tmp_path):
    """The prod render fails at its fifth file (a directory holds that name); the files it
    wrote before must still go when the next render, with another config, replaces it."""
    prod_only, dev_only = tmp_path / "prod", tmp_path / "dev"
    assert _run(*_prod(prod_only)).returncode == 0
    assert _run("--stack", "dev", "--out", str(dev_only)).returncode == 0
    fifth = sorted(_yaml_files(prod_only))[4]
    out = tmp_path / "out"
    (out / fifth).mkdir(parents=True)
    failed = _run(*_prod(out))
    assert failed.returncode == 2 and "error: --out" in failed.stderr, failed.stderr
    written_before = set(_yaml_files(out))
    assert written_before - set(_yaml_files(dev_only)), "the failed render wrote prod-only files"
    (out / fifth).rmdir()
    result = _run("--stack", "dev", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert _yaml_files(out) == _yaml_files(dev_only), \
        f"left from the failed render: {sorted(set(_yaml_files(out)) - set(_yaml_files(dev_only)))}"
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_renders_into_one_directory_leave_exactly_one_of_them(tmp_path):
    """Real renders, dev and prod side by side into the same --out, twice: afterwards the
    directory holds exactly one render's files, and its index lists exactly them. (The next
    test races the writing step itself many more times.)"""
    references = {"dev": tmp_path / "dev", "prod": tmp_path / "prod"}
    commands = {"dev": ["--stack", "dev"],
                "prod": [*PROD, "--set-secret", f"temporalApiKey={API_KEY}"]}
    for name, out in references.items():
        assert _run(*commands[name], "--out", str(out)).returncode == 0
    expected = {name: _yaml_files(out) for name, out in references.items()}
    for trial in range(2):
        out = tmp_path / f"trial-{trial}"
        runs = [subprocess.Popen([sys.executable, "-m", "tools.render", *commands[name],
                                  "--out", str(out)], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
                for name in ("dev", "prod")]
        for run in runs:
            _, stderr = run.communicate(timeout=180)
            assert run.returncode == 0, stderr
        files = _yaml_files(out)
        assert files in expected.values(), f"trial {trial}: a mix of both renders: {sorted(files)}"
        assert sorted(_listed(out)) == sorted(files), f"trial {trial}: index out of step"


def _configmaps(tag: str, count: int) -> render.Rendering:
    return render.Rendering([{"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": f"{tag}-{i:03d}"}, "data": {"by": tag}}
                             for i in range(count)])


def _write_after(barrier, tag: str, count: int, out: str) -> None:
    barrier.wait()
    render.write(_configmaps(tag, count), Path(out))


def test_many_writers_racing_into_one_directory_never_mix(tmp_path):
    """The writing step alone, many more times: four processes released together."""
    context = multiprocessing.get_context("fork")
    writers = {"a": 40, "b": 25, "c": 10, "d": 33}
    for trial in range(25):
        out = tmp_path / f"trial-{trial}"
        barrier = context.Barrier(len(writers))
        processes = [context.Process(target=_write_after, args=(barrier, tag, count, str(out)))
                     for tag, count in writers.items()]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
            assert process.exitcode == 0
        names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
        tags = {name.split("-")[2] for name in names}
        assert len(tags) == 1, f"trial {trial}: files of several writers: {sorted(tags)}"
        assert len(names) == writers[tags.pop()], f"trial {trial}: {names}"
        assert sorted(_listed(out)) == names, f"trial {trial}: index out of step"


# --- What the files say -------------------------------------------------------------------------

def _pin_run(tmp_path: Path, pin: str) -> Path:
    out = tmp_path / "out"
    result = _run(*PROD, "--out", str(out), "--set-secret", f"temporalApiKey={pin}")
    assert result.returncode == 0, result.stderr
    return out


def test_the_checksum_annotation_gives_no_guessable_secret_away(tmp_path):
    """The mocks key the checksum with bytes anyone can derive from the resource name; a
    4-digit PIN behind an annotation keyed that way falls to 10,000 tries."""
    out = _pin_run(tmp_path, "4711")
    (worker,) = [p for p in out.glob("*-deployment-*temporal-worker.yaml")]
    annotations = yaml.safe_load(worker.read_text())["spec"]["template"]["metadata"][
        "annotations"]
    value = annotations["checksum/secrets"]
    public_key = hashlib.sha256(b"random:temporal-worker-rollout-key").digest()
    recovered = [pin for pin in (f"{n:04d}" for n in range(10_000))
                 if hmac.new(public_key, json.dumps([pin]).encode(), hashlib.sha256)
                 .hexdigest() == value]
    assert not recovered, f"the PIN was recovered from the annotation: {recovered}"
    assert value == REDACTED
    assert base64.b64encode(public_key).decode() not in worker.read_text()


def test_the_placeholder_digest_comment_heads_only_the_objects_that_hold_it(tmp_path):
    result = _run("--stack", "dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    headed = {name for name, data in _yaml_files(tmp_path).items()
              if b"IMAGE DIGEST IS A PLACEHOLDER" in data}
    holding = {name for name, data in _yaml_files(tmp_path).items()
               if PLACEHOLDER_DIGEST.encode() in data}
    assert holding and headed == holding
    assert not any("temporal-dev" in name for name in headed), "the dev server has no placeholder"


def test_secrets_carry_the_workers_app_kubernetes_io_labels(tmp_path, stack_configs):
    config = stack_configs["prod"][1]
    args = ["--stack", "prod", "--out", str(tmp_path / "out")]
    for key, value in config.items():
        if key in spec.BY_NAME and spec.BY_NAME[key].secret:
            (tmp_path / key).write_text(value)
            args += ["--set-secret", f"{key}=@{tmp_path / key}"]
        else:
            args += ["--set", f"{key}={value}"]
    result = _run(*args)
    assert result.returncode == 0, result.stderr
    objects = [yaml.safe_load(d) for d in _yaml_files(tmp_path / "out").values()]
    (worker,) = [o for o in objects if o["kind"] == "Deployment"]
    wanted = {k: v for k, v in worker["metadata"]["labels"].items()
              if k.startswith("app.kubernetes.io/") and k != "app.kubernetes.io/version"}
    secrets = [o for o in objects if o["kind"] == "Secret"]
    assert len(secrets) >= 4
    for secret in secrets:
        labels = secret["metadata"].get("labels", {})
        assert wanted.items() <= labels.items(), f"Secret {secret['metadata']['name']}: {labels}"


@pytest.mark.parametrize("repository, flagged", [
    ("localhost:5001/temporal-worker", True), ("127.0.0.1:5000/team/worker", True),
    ("[::1]:5000/worker", True), ("registry.example.com/team/worker", False),
    ("team/worker", False)])
def test_a_production_render_pushing_to_this_machine_is_flagged(tmp_path, capsys, repository,
                                                               flagged):
    code = render.main(_prod(tmp_path / "out", "--set", f"imageRepository={repository}"))
    err = capsys.readouterr().err
    assert code == 0, err
    warnings = [line for line in err.splitlines()
                if line.startswith("warning: temporal-worker:imageRepository:")]
    assert bool(warnings) == flagged, err


def test_the_dev_stack_pushing_to_the_kind_registry_is_not_flagged(tmp_path):
    result = _run("--stack", "dev", "--out", str(tmp_path))
    assert result.returncode == 0 and "imageRepository" not in result.stderr, result.stderr


def test_check_says_in_one_line_what_passed(tmp_path):
    result = _run("--stack", "dev", "--out", str(tmp_path), "--check")
    assert result.returncode == 0, result.stderr
    summary = [line for line in result.stderr.splitlines() if line.startswith("check: ")]
    assert summary == ["check: passed: 1 worker Deployment and 5 objects around it match what "
                       "the worker reads"], result.stderr


# --- Config input: plain-text secrets, @FILE ---------------------------------------------------

def _stack_file(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump({"config": {f"temporal-worker:{k}": v
                                               for k, v in config.items()}}))
    return path


def test_a_stack_file_holding_a_secret_in_plain_text_is_refused_as_pulumi_up_would(tmp_path):
    stack = _stack_file(tmp_path / "Pulumi.prod.yaml", {**CLOUD_TARGET, "temporalApiKey": API_KEY})
    out = tmp_path / "out"
    result = _run("--stack", "prod", "--config", str(stack), "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: temporal-worker:temporalApiKey: is stored in plain "
                                    "text"), result.stderr
    assert API_KEY not in result.stderr + result.stdout
    assert not out.exists()


def test_a_secret_set_with_set_is_refused_as_plain_text(tmp_path):
    result = _run(*PROD, "--out", str(tmp_path / "out"), "--set", f"temporalApiKey={API_KEY}")
    assert result.returncode == 2 and "is stored in plain text" in result.stderr, result.stderr
    assert API_KEY not in result.stderr


def test_a_secure_value_in_a_stack_file_is_given_again_with_set_secret(tmp_path):
    stack = _stack_file(tmp_path / "Pulumi.prod.yaml",
                        {**CLOUD_TARGET, "temporalApiKey": {"secure": "v1:AAAA"}})
    missing = _run("--stack", "prod", "--config", str(stack), "--out", str(tmp_path / "a"))
    assert missing.returncode == 2, missing.stderr
    assert "temporal-worker:temporalApiKey is encrypted" in missing.stderr
    assert "--set-secret temporalApiKey=@FILE" in missing.stderr
    given = _run("--stack", "prod", "--config", str(stack), "--out", str(tmp_path / "b"),
                 "--set-secret", f"temporalApiKey={API_KEY}")
    assert given.returncode == 0, given.stderr
    assert any(p.name.endswith("-secret-payments-workers-temporal-api-key.yaml")
               for p in (tmp_path / "b").iterdir())


def test_set_reads_a_non_secret_value_from_a_file(tmp_path, cert_factory):
    ca = cert_factory.ca("set-at-file-ca")
    (tmp_path / "namespace.txt").write_text("payments.z9y8x\n")
    result = _run(*_prod(tmp_path / "out", "--set", f"tlsServerCa=@{ca.cert_path}",
                         "--set", f"temporalNamespace=@{tmp_path / 'namespace.txt'}"))
    assert result.returncode == 0, result.stderr
    objects = [yaml.safe_load(d) for d in _yaml_files(tmp_path / "out").values()]
    assert "temporal-server-ca" in {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"}
    (worker,) = [o for o in objects if o["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in
           worker["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TEMPORAL_NAMESPACE"] == "payments.z9y8x"


def test_set_at_a_missing_file_is_one_line_naming_flag_and_path(tmp_path):
    missing = tmp_path / "ca.pem"
    result = _run(*_prod(tmp_path / "out", "--set", f"tlsServerCa=@{missing}"))
    assert result.returncode == 2
    assert result.stderr == (f"error: --set tlsServerCa=@FILE: cannot read {missing}: "
                             "No such file or directory\n")


# --- A versioned rollout stays offline -----------------------------------------------------------

class _Listener:
    """A TCP port that counts the connections made to it (and closes them)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def temporal_port():
    listener = _Listener()
    yield listener
    listener.close()


def _versioned(tmp_path: Path, listener: _Listener, *extra: str) -> subprocess.CompletedProcess:
    # The recording's records are signed with RECORDING_KEY for payments-workers' deployment.
    return _run("--stack", "prod", "--out", str(tmp_path / "out"),
                "--set", f"temporalAddress=127.0.0.1:{listener.port}",
                "--set", "temporalNamespace=payments", "--set", "rollout=progressive",
                "--set", "k8sNamespace=payments-workers",
                "--set-secret", f"rolloutSigningKey={RECORDING_KEY}",
                "--set", "imageTag=v2", *extra)


def _worker_deployments(out: Path) -> set[str]:
    return {yaml.safe_load(d)["metadata"]["name"] for d in _yaml_files(out).values()
            if yaml.safe_load(d)["kind"] == "Deployment"}


def test_a_progressive_rollout_renders_offline_by_default(tmp_path, temporal_port):
    result = _versioned(tmp_path, temporal_port)
    assert result.returncode == 0, result.stderr
    assert temporal_port.connections == 0, "the offline render connected to Temporal"
    assert _worker_deployments(tmp_path / "out") == {"temporal-worker-v2"}
    assert "note: rollout: rendered as the first rollout" in result.stderr
    assert "--versions-from" in result.stderr


def test_versions_from_renders_a_deployment_per_build_temporal_still_needs(tmp_path,
                                                                          temporal_port):
    result = _versioned(tmp_path, temporal_port, "--versions-from", str(RECORDED))
    assert result.returncode == 0, result.stderr
    assert temporal_port.connections == 0
    recorded = json.loads(RECORDED.read_text())["describe_worker_deployment"][
        "workerDeploymentInfo"]["routingConfig"]
    names = _worker_deployments(tmp_path / "out")
    for build in ("currentDeploymentVersion", "rampingDeploymentVersion"):
        assert f"temporal-worker-{recorded[build]['buildId']}" in names, names
    assert "temporal-worker-v2" in names


@pytest.mark.parametrize("content, problem", [
    ("{not json", "is not JSON"), ('{"format": "other"}', "is not a recorded Worker Deployment"),
])
def test_versions_from_a_file_that_is_no_recording_is_one_line(tmp_path, temporal_port, content,
                                                               problem):
    path = tmp_path / "answer.json"
    path.write_text(content)
    result = _versioned(tmp_path, temporal_port, "--versions-from", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: --versions-from: {path} {problem}"), result.stderr
    assert result.stderr.count("\n") == 1


# --- Hostile values: deep nesting and huge text ---------------------------------------------------

DEEP = {"secretEnv": '{"A": ' * 1000 + '"x"' + "}" * 1000, "rampSteps": "[" * 1000 + "]" * 1000,
        "gateInput": "[" * 1000 + "]" * 1000, "egressPorts": "[" * 1000 + "]" * 1000,
        "metricsNamespaces": '{"a": ' * 1000 + "1" + "}" * 1000}


@pytest.mark.parametrize("key", list(DEEP))
def test_a_thousand_levels_of_json_nesting_is_a_clear_error_naming_the_setting(tmp_path, capsys,
                                                                              key):
    flag = "--set-secret" if key == "secretEnv" else "--set"
    code = render.main([*PROD, "--out", str(tmp_path / "out"), "--set-secret",
                        f"temporalApiKey={API_KEY}", flag, f"{key}={DEEP[key]}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: temporal-worker:{key}: nests arrays or objects more than "), err
    assert "Recursion" not in err and err.count("\n") == 1


def test_nesting_just_inside_the_limit_is_accepted(tmp_path, capsys):
    # The gate input is an object (the rollout adds its step to it), 32 levels deep.
    deep = '{"a": ' * 31 + "[443]" + "}" * 31
    code = render.main([*PROD, "--out", str(tmp_path / "out"), "--set", f"gateInput={deep}",
                        "--set", "rollout=allAtOnce", "--set", "gateWorkflow=Smoke",
                        "--set-secret", f"temporalApiKey={API_KEY}",
                        "--set-secret", f"rolloutSigningKey={RECORDING_KEY}"])
    assert code == 0, capsys.readouterr().err


def test_a_deeply_nested_stack_file_is_one_line(tmp_path, capsys):
    stack = tmp_path / "Pulumi.deep.yaml"
    stack.write_text("config:\n  temporal-worker:gateInput: " + "[" * 5000 + "]" * 5000 + "\n")
    code = render.main(["--stack", "prod", "--config", str(stack), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: --config: {stack}") and err.count("\n") == 1, err


HUGE = "x" * 300_000 + " y"
CONFIG_SETTINGS = [s for s in spec.SETTINGS if s.config]


@pytest.mark.parametrize("setting", CONFIG_SETTINGS, ids=[s.name for s in CONFIG_SETTINGS])
def test_a_300_kb_value_gets_a_short_error_naming_the_setting(tmp_path, capsys, setting):
    flag = "--set-secret" if setting.secret else "--set"
    code = render.main([*PROD, "--out", str(tmp_path / "out"), flag, f"{setting.name}={HUGE}"])
    err = capsys.readouterr().err
    assert code == 2, err[:500]
    assert err.startswith(f"error: temporal-worker:{setting.name}: "), err[:500]
    assert err.count("\n") == 1 and len(err) < 400, f"{len(err)} characters: {err[:500]}"


def test_a_300_kb_unknown_key_gets_a_short_error(tmp_path, capsys):
    code = render.main([*PROD, "--out", str(tmp_path / "out"), "--set", f"{'k' * 300_000}=1"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown setting" in err and len(err) < 400, err[:500]


def test_a_300_kb_malformed_flag_gets_a_short_error(tmp_path, capsys):
    assert render.main(["--out", str(tmp_path / "out"), "--set", HUGE]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set: expected KEY=VALUE") and len(err) < 400, err[:500]
