"""The dev server the tests share starts even when another process takes one of its ports
between the pick and the bind, and a failed start says why."""

from __future__ import annotations

import socket

import pytest

from tools.devserver import DevServer


@pytest.mark.slow
def test_a_start_whose_port_was_taken_meanwhile_is_tried_again_on_another():
    server = DevServer()
    taken = server.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with server:
            assert server.port != taken
            assert server.healthy()


@pytest.mark.slow
def test_a_port_the_caller_chose_is_not_replaced_and_the_error_says_why():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"can't set frontend port {port}.*address "
                                                "already in use"):
            DevServer(port=port).start()
