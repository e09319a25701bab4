"""Whether this host can serve on IPv6 loopback, for the tests that probe `[::1]`."""

from __future__ import annotations

import socket

import pytest


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="this host has no IPv6 loopback "
                                "(binding ::1 fails), so [::1] cannot be probed")
