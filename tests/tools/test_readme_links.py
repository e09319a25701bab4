"""README.md is the front door: its table of contents and every link inside it lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from tools import specgen

ROOT = Path(__file__).resolve().parents[2]


def test_every_link_to_a_readme_section_names_a_heading_that_exists():
    readme = (ROOT / "README.md").read_text()
    anchors = set(re.findall(r"\]\(#([^)]+)\)", specgen.contents(readme)))
    anchors.add("contents")
    links = set(re.findall(r"\]\(#([^)\s]+)\)", readme))
    assert links, "the README links to its sections"
    assert sorted(links - anchors) == []


def test_the_contents_follow_the_headings_and_skip_those_in_code_blocks():
    text = "## A (b)\n```\n## not a heading\n```\n### C: `d`\n## A (b)\n"
    assert specgen.contents(text) == ("- [A (b)](#a-b)\n  - [C: `d`](#c-d)\n"
                                      "- [A (b)](#a-b-1)")


def test_files_the_readme_points_to_exist():
    readme = (ROOT / "README.md").read_text()
    paths = set(re.findall(r"\]\((?!#|https?:)([^)\s]+)\)", readme))
    assert sorted(p for p in paths if not (ROOT / p.split("#")[0]).exists()) == []
