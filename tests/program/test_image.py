"""The image helpers: the build context `.dockerignore` allows, a content tag that changes only
with it, and the registry host."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.image import content_tag, context_files, registry_host

ROOT = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> Path:
    (root / "worker").mkdir()
    (root / "worker" / "main.py").write_text("print('v1')\n")
    (root / "worker" / "requirements.txt").write_text("temporalio==1\n")
    (root / "worker" / "Dockerfile").write_text("FROM scratch\n")
    (root / "stack.py").write_text("outside the context\n")
    (root / ".dockerignore").write_text("# comment\n*\n!worker/*.py\n!worker/requirements.txt\n")
    return root


def test_the_repository_context_is_the_worker_and_the_spec_only():
    files = {p.relative_to(ROOT).as_posix() for p in context_files(ROOT)}
    assert "worker/main.py" in files and "worker/requirements.txt" in files
    assert "components/temporal_worker_spec/settings.py" in files
    assert not {f for f in files if not f.startswith(("worker/", "components/temporal_worker_spec/"))}
    assert not {f for f in files if f.startswith("components/temporal_worker_k8s")}


def test_content_tag_is_deterministic_and_follows_the_build_context(tmp_path):
    root = _tree(tmp_path)
    first = content_tag(root)
    assert first == content_tag(root)
    assert first.startswith("src-") and len(first) == 16
    (root / "worker" / "main.py").write_text("print('v2')\n")
    assert content_tag(root) != first


def test_content_tag_ignores_what_the_build_never_sees(tmp_path):
    root = _tree(tmp_path)
    before = content_tag(root)
    (root / "stack.py").write_text("changed\n")
    (root / "worker" / "__pycache__").mkdir()
    (root / "worker" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0" * 16)
    (root / "worker" / "stray.pyc").write_bytes(b"\1")
    assert content_tag(root) == before


def test_content_tag_sees_renames(tmp_path):
    root = _tree(tmp_path)
    before = content_tag(root)
    (root / "worker" / "main.py").rename(root / "worker" / "other.py")
    assert content_tag(root) != before


def test_dockerignore_must_be_an_allowlist(tmp_path):
    root = _tree(tmp_path)
    (root / ".dockerignore").write_text("**/__pycache__\n")
    with pytest.raises(ValueError, match="must be `\\*` followed by `!` exceptions"):
        context_files(root)


@pytest.mark.parametrize("repository, host", [
    ("localhost:5001/temporal-worker", "localhost:5001"),
    ("registry.example.com/team/worker", "registry.example.com"),
    ("localhost/worker", "localhost"),
    ("team/worker", "docker.io"),
    ("worker", "docker.io"),
])
def test_registry_host_is_taken_from_the_repository(repository, host):
    assert registry_host(repository) == host
