"""Refuse to start when a port is taken, naming the port and the variable that moves it."""
from __future__ import annotations

import socket

from serving.errors import ServingError
from serving.settings import PortSetting


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: a socket in TIME_WAIT from a previous run is no conflict.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ensure_free(ports: list[PortSetting]) -> None:
    taken = [p for p in ports if not port_is_free(p.host, p.port)]
    if taken:
        raise ServingError("\n".join(
            f"port {p.port} on {p.host} is already in use: stop what uses it or set {p.variable} to a free port"
            for p in taken
        ))
    seen: dict[int, str] = {}
    for p in ports:
        if p.port in seen:
            raise ServingError(f"{p.variable} and {seen[p.port]} are both {p.port}: give each its own port")
        seen[p.port] = p.variable
