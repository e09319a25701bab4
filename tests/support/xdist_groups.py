"""`--dist loadgroup` that works on pytest 9.2: pytest-xdist 3.8 groups the tests of one
`xdist_group` by appending `@<group>` to their node id through `item._nodeid`, which pytest 9.2
no longer reads (the id lives in `item._id`). Without this plugin the tests of a group are
spread over the workers, each running the group's module fixtures (and the image tests' fixed
ports) again. Loaded with `-p tests.support.xdist_groups` (pytest.ini); drop it when xdist
sets the id itself (tests/tools/test_xdist_groups.py tells)."""

from __future__ import annotations

import pytest
from _pytest.nodeid import coerce_node_id


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers only
        return
    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix):
            item._id = coerce_node_id(item.nodeid + suffix)
