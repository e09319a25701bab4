"""The command line both generators share (`tools.specgen`, `tools.monitoring`): write the files
derived from a source, or with `--check` change nothing and exit 1 when one is out of date."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stale(generated: dict[Path, str]) -> list[Path]:
    """The files whose content differs from `generated` (or that do not exist)."""
    return [path for path, text in generated.items()
            if not path.exists() or path.read_text() != text]


def main(prog: str, description: str, generated: Callable[[], dict[Path, str]],
         argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=description)
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = parser.parse_args(argv)
    files = generated()
    if args.check:
        outdated = stale(files)
        for path in outdated:
            print(f"{path.relative_to(ROOT)} is out of date; run python -m {prog}",
                  file=sys.stderr)
        return 1 if outdated else 0
    for path in stale(files):
        path.write_text(files[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0
