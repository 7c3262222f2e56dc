"""The warm process's wire: a client's request in, its status lines out, and a command
handed to a spare child (the format is in ``warm_server``'s docstring)."""

from __future__ import annotations

import os
import socket
import sys

from kiwi_mcp.kernel.faces.cli import warm

__all__ = ["check_peer", "hand", "read_request", "reply", "take"]

_MAX_REQUEST = 8 << 20


def hand(pipe: socket.socket, conn: socket.socket, fds: list[int], fields: list[bytes]) -> bool:
    """Give the spare at ``pipe`` the client's connection, streams and request."""
    data = b"\0".join(fields)
    try:
        socket.send_fds(pipe, [len(data).to_bytes(4, "big")], [conn.fileno(), *fds])
        pipe.sendall(data)
    except OSError:
        pipe.close()
        return False
    pipe.close()
    return True


def take(pipe: socket.socket) -> tuple[int, list[int], list[bytes]] | None:
    """In the spare: the connection, streams and request ``hand`` sent, or None."""
    header, fds, _, _ = socket.recv_fds(pipe, 4, 4)
    if len(header) != 4 or len(fds) != 4:
        for fd in fds:
            os.close(fd)
        return None
    data = _exactly(pipe, int.from_bytes(header, "big"))
    return None if data is None else (fds[0], fds[1:], data.split(b"\0"))


def read_request(conn: socket.socket) -> tuple[list[int], list[bytes]]:
    """A client's three streams and request fields; ValueError when it is not one (its
    streams closed)."""
    header, fds, _, _ = socket.recv_fds(conn, 4, 3)
    try:
        if len(fds) != 3 or len(header) != 4:
            raise ValueError("no standard streams passed")
        check_peer(conn)
        size = int.from_bytes(header, "big")
        if size > _MAX_REQUEST:
            raise ValueError(f"a request of {size} bytes")
        data = _exactly(conn, size)
        if data is None:
            raise ValueError("the request ended early")
        fields = data.split(b"\0")
        if fields[0] != warm.FORMAT or len(fields) < 11:
            raise ValueError("not a kiwi-warm 1 request")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds, fields


def check_peer(conn: socket.socket) -> None:
    """Linux: the peer must be this user (the folder's mode already says so elsewhere)."""
    peercred = getattr(socket, "SO_PEERCRED", None)
    if peercred is None:
        return
    creds = conn.getsockopt(socket.SOL_SOCKET, peercred, 12)
    uid = int.from_bytes(creds[4:8], sys.byteorder)
    if uid != os.getuid():
        raise ValueError(f"a peer of uid {uid}")


def reply(conn: socket.socket, line: bytes) -> bool:
    try:
        conn.sendall(line + b"\n")
    except OSError:
        return False
    return True


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    """The next ``size`` bytes from ``sock``, or None when it ends first."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(1 << 16, size - len(data)))
        if not chunk:
            return None
        data += chunk
    return bytes(data)
