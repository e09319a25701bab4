"""Socket moves for tests that play a misbehaving client."""

from __future__ import annotations

import socket
import struct


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN: the abrupt way a client can vanish."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
