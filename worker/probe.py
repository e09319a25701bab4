"""Exec probe for the file-heartbeat mode: exit 0 only if the heartbeat file is fresh.

Usage: `python -m worker.probe --file /tmp/worker-ready --max-age 30` (see
`temporal_worker_spec.contract.heartbeat_probe_command`). Standard library only, so it starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from temporal_worker_spec import contract


def check(path: str, max_age_seconds: float) -> tuple[bool, str]:
    """Whether `path` was modified within `max_age_seconds`, and why not."""
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError as err:
        return False, f"{path}: {err.strerror}"
    if age > max_age_seconds:
        return False, f"{path}: stale, last written {age:.0f}s ago (max {max_age_seconds:g}s)"
    return True, f"{path}: fresh ({age:.1f}s old)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {contract.PROBE_MODULE}",
                                     description=__doc__)
    parser.add_argument("--file", default=contract.HEARTBEAT_FILE)
    parser.add_argument("--max-age", type=float, default=contract.HEARTBEAT_MAX_AGE_SECONDS)
    args = parser.parse_args(argv)
    ok, reason = check(args.file, args.max_age)
    print(reason, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
