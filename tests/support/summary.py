"""Lines for the end-of-run summary (e.g. the image's size and build time), carried by test
reports so that they reach the printing process under pytest-xdist too."""

from __future__ import annotations

import pytest

SUMMARY_PREFIX = "summary:"


def report_lines(report: pytest.TestReport, section: str, lines: dict[str, str]) -> None:
    """Attach `lines` under `section` to `report`; tests/conftest.py prints them at the end."""
    report.user_properties.extend(
        (f"{SUMMARY_PREFIX}{section}:{key}", value) for key, value in lines.items())
