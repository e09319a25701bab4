"""The reference data in tests/data/schemas and tests/data/crds (with the notes on where each
file comes from) is an exact copy of the team's shared folder."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared"


# Only these folders are copies; tests/data/temporal holds answers recorded here (its README).
COPIED = ("schemas", "crds")


@pytest.mark.parametrize("copy", sorted(p for folder in COPIED for p in (DATA / folder).rglob("*")
                                        if p.suffix in (".json", ".yaml", ".md")),
                         ids=lambda p: str(p.relative_to(DATA)))
def test_the_copy_matches_the_shared_folder(copy):
    original = SHARED / copy.relative_to(DATA)
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not on this machine; the copy is used as committed")
    assert original.read_bytes() == copy.read_bytes(), f"{copy} differs from {original}"


def test_every_data_folder_is_either_a_checked_copy_or_a_recording():
    folders = {p.name for p in DATA.iterdir() if p.is_dir()}
    assert folders == {*COPIED, "temporal"}, "a new tests/data folder: add it to COPIED, or " \
        "document where its files come from as tests/data/temporal/README.md does"
