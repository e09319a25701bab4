"""The render's output directory: one render at a time, its own files only, never a symlink.

`publish(out_dir, files)` replaces the files an earlier render left in `out_dir` with `files`:

- it holds an exclusive `flock` on the directory while it works, so renders into the same
  directory run one after the other and the directory always matches its index;
- the index (`.rendered`, one bare file name a line) is rewritten first to list the old and the
  new names, and last to list only the new ones, so a render stopped half-way leaves no file
  that the next render would not remove;
- every file is written to a fresh temporary name (`O_EXCL | O_NOFOLLOW`) and renamed over its
  name, all relative to the directory's descriptor: a symlink or hard link planted in the
  directory is replaced, never written through;
- it removes only regular files the index names directly inside the directory (and its own
  temporary files); anything else, inside or outside the directory, is left alone.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

INDEX = ".rendered"
MAX_INDEX_BYTES = 1 << 20
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{16}\.tmp")


def publish(out_dir: Path, files: Mapping[str, str]) -> list[Path]:
    """Write `files` (bare name -> text) into `out_dir` as described above; the paths written."""
    for name in files:
        if not _bare(name) or name == INDEX:
            raise ValueError(f"not a file name for the output directory: {name!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    directory = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
        old = _read_index(directory)
        _remove_temporaries(directory)
        _write(directory, INDEX, _index_text([*old, *files]))
        for name in old:
            if name not in files:
                _remove(directory, name)
        for name, text in files.items():
            _write(directory, name, text)
        _write(directory, INDEX, _index_text(files))
    finally:
        os.close(directory)  # releases the lock
    return [out_dir / name for name in files]


def _bare(name: str) -> bool:
    """A name directly inside the directory: no separator, not `.` or `..`, no NUL."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")


def _index_text(names) -> str:
    return "".join(f"{name}\n" for name in dict.fromkeys(names))


def _read_index(directory: int) -> list[str]:
    """The names the index lists; none when it is missing, not a regular file, or a symlink
    (which this module never writes, so it is not ours to believe)."""
    try:
        fd = os.open(INDEX, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=directory)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as index:
        if not stat.S_ISREG(os.fstat(index.fileno()).st_mode):
            return []
        data = index.read(MAX_INDEX_BYTES)
    return [name for name in data.decode("utf-8", "replace").split()
            if _bare(name) and name != INDEX]


def _remove(directory: int, name: str) -> None:
    """Unlink `name` if it is a regular file (a symlink, directory or FIFO is not ours)."""
    try:
        if stat.S_ISREG(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode):
            os.unlink(name, dir_fd=directory)
    except FileNotFoundError:
        pass


def _remove_temporaries(directory: int) -> None:
    """Temporary files of a render that was killed before it could rename them."""
    for name in os.listdir(directory):
        if _TEMPORARY.fullmatch(name):
            _remove(directory, name)


def _write(directory: int, name: str, text: str) -> None:
    """`text` into a new file renamed over `name` (atomic; a symlink there is replaced)."""
    temporary = f".{name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644, dir_fd=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=directory)
        except FileNotFoundError:
            pass
        raise
