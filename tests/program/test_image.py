"""The image helpers: a content tag that changes only with the build context, the registry host."""

from __future__ import annotations

import pytest

from components.image import content_tag, registry_host


def test_content_tag_is_deterministic_and_follows_the_build_context(tmp_path):
    (tmp_path / "main.py").write_text("print('v1')\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    first = content_tag(tmp_path)
    assert first == content_tag(tmp_path)
    assert first.startswith("src-") and len(first) == 16
    (tmp_path / "main.py").write_text("print('v2')\n")
    assert content_tag(tmp_path) != first


def test_content_tag_ignores_bytecode_caches(tmp_path):
    (tmp_path / "main.py").write_text("print('v1')\n")
    before = content_tag(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0" * 16)
    (tmp_path / "stray.pyc").write_bytes(b"\1")
    assert content_tag(tmp_path) == before


def test_content_tag_sees_renames(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    before = content_tag(tmp_path)
    (tmp_path / "a.py").rename(tmp_path / "b.py")
    assert content_tag(tmp_path) != before


@pytest.mark.parametrize("repository, host", [
    ("localhost:5001/temporal-worker", "localhost:5001"),
    ("registry.example.com/team/worker", "registry.example.com"),
    ("localhost/worker", "localhost"),
    ("team/worker", "docker.io"),
    ("worker", "docker.io"),
])
def test_registry_host_is_taken_from_the_repository(repository, host):
    assert registry_host(repository) == host
