"""Socket moves for tests that play a misbehaving client, and a count of a process's
connections (to see that none leak)."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN: the abrupt way a client can vanish."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def connections_to(pid: int, port: int) -> int:
    """TCP connections process `pid` holds to 127.0.0.1:`port` that are not closed yet
    (established, or half-closed by the peer), from Linux /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port, state, inode = int(fields[2].split(":")[1], 16), fields[3], fields[9]
        # 01 ESTABLISHED, 02 SYN_SENT, 08 CLOSE_WAIT: sockets still open on this side.
        if remote_port == port and state in ("01", "02", "08") and inode in inodes:
            count += 1
    return count
