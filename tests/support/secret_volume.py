"""A Secret volume laid out and updated the way kubelet does it (its AtomicWriter).

    dir/tls.crt -> ..data/tls.crt        one symlink per key, made once
    dir/..data  -> ..2026_11_30_07_27_49.123456789    swapped atomically by rename(2)
    dir/..2026_11_30_07_27_49.123456789/tls.crt      the files of one version

A rotation writes a new timestamped directory, points a temporary symlink at it and renames
that over `..data`, then removes the old directory: a reader sees the old set or the new one,
never a mix, and the per-key paths never change. That is what the worker must notice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

DATA = "..data"


class SecretVolume:
    """One mounted Secret: `write(files)` publishes a new version of all its keys at once."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.versions = 0

    def path(self, key: str) -> Path:
        """The path a pod reads `key` at (the per-key symlink)."""
        return self.directory / key

    def write(self, files: Mapping[str, bytes]) -> None:
        """Publish `files` (key -> content) as the volume's new content, atomically."""
        self.versions += 1
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S", time.gmtime())
        version = self.directory / f"{stamp}.{time.time_ns() % 10**9:09d}{self.versions}"
        version.mkdir(mode=0o755)
        for key, content in files.items():
            (version / key).write_bytes(content)
            (version / key).chmod(0o440)
        data = self.directory / DATA
        old = os.readlink(data) if data.is_symlink() else None
        staging = self.directory / "..data_tmp"
        staging.unlink(missing_ok=True)
        staging.symlink_to(version.name)
        os.rename(staging, data)
        for key in files:
            link = self.directory / key
            if not link.is_symlink():
                link.symlink_to(f"{DATA}/{key}")
        if old is not None:
            for leftover in (self.directory / old).iterdir():
                leftover.chmod(0o600)
                leftover.unlink()
            (self.directory / old).rmdir()
