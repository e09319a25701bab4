"""Where the image tests cannot run, they say why (and conftest turns that into skip, or a
failure on CI)."""

from __future__ import annotations

from tests.image import oci


def test_without_root_the_reason_is_root(monkeypatch):
    monkeypatch.setattr(oci.os, "geteuid", lambda: 1000)
    assert "needs root" in oci.missing_prerequisites()


def test_without_the_debian_tools_the_reason_names_them(monkeypatch):
    monkeypatch.setattr(oci.os, "geteuid", lambda: 0)
    monkeypatch.setattr(oci.shutil, "which",
                        lambda name: "/usr/bin/buildah" if name == "buildah" else None)
    reason = oci.missing_prerequisites()
    assert "debootstrap" in reason and "docker-registry" in reason and "buildah," not in reason


def test_base_image_tag_follows_the_package_list(monkeypatch):
    name = oci.base_image_name()
    monkeypatch.setattr(oci, "BASE_PACKAGES", (*oci.BASE_PACKAGES, "curl"))
    assert oci.base_image_name() != name
    assert name.startswith("localhost/temporal-worker-base:bookworm-")
