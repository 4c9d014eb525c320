"""Refuse to start when a port is taken, naming the port and the variable that moves it."""

from __future__ import annotations

import errno
import socket

from serving.errors import ServingError
from serving.settings import PortSetting

HOST_VARIABLES = {"TRITON": "TRITON_HOST", "GATEWAY": "GATEWAY_HOST"}


def bind_error(host: str, port: int) -> OSError | None:
    """Why (host, port) cannot be bound now, or None if it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: a socket in TIME_WAIT from a previous run is no conflict.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


def ensure_free(ports: list[PortSetting]) -> None:
    problems = []
    seen: dict[int, str] = {}
    for p in ports:
        if p.port in seen:
            problems.append(f"{p.variable} and {seen[p.port]} are both {p.port}: give each its own port")
        seen[p.port] = p.variable
        error = bind_error(p.host, p.port)
        if error is None:
            continue
        if error.errno == errno.EADDRINUSE:
            problems.append(
                f"port {p.port} on {p.host} is already in use: stop what uses it or set {p.variable} to a free port"
            )
        else:
            host_variable = HOST_VARIABLES[p.variable.split("_", 1)[0]]
            problems.append(
                f"cannot listen on {p.host}:{p.port} ({error.strerror}): check {host_variable} and {p.variable}"
            )
    if problems:
        raise ServingError("\n".join(dict.fromkeys(problems)))
