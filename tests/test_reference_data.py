"""The reference data in tests/data is an exact copy of the team's shared folder."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.mark.parametrize("copy", sorted(p for p in DATA.rglob("*")
                                        if p.suffix in (".json", ".yaml")),
                         ids=lambda p: str(p.relative_to(DATA)))
def test_the_copy_matches_the_shared_folder(copy):
    original = SHARED / copy.relative_to(DATA)
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not on this machine; the copy is used as committed")
    assert original.read_bytes() == copy.read_bytes(), f"{copy} differs from {original}"
