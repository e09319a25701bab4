"""Fixtures for the monitoring tests: Debian's `promtool` and `prometheus`.

Without them (no root or apt to install them) the tests that need them skip with the reason; on
CI (`CI=true`) they fail instead, because there scripts/test.sh installs them.
"""

from __future__ import annotations

import os
import shutil

import pytest


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    reason = (f"`{name}` is missing (Debian package prometheus; scripts/test.sh installs it "
              "when run as root with apt)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run these tests")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _tool("prometheus")
