"""Defaults and names that more than one process uses (export, launcher, gateway, clients, bench), written once.

Lives in the gateway package because the gateway image ships only ``gateway/``; it imports nothing but
gateway.contract (standard library only), so the launcher and the clients can use it without pulling in the
gateway's dependencies. The model contract's names (tensors, parameters, runtimes, `<model>__<output>`) are
gateway.contract's.
"""

from __future__ import annotations

HOST = "127.0.0.1"  # every listener binds to loopback unless told otherwise
TRITON_HTTP_PORT = 8000
TRITON_GRPC_PORT = 8001
TRITON_METRICS_PORT = 8002
GATEWAY_PORT = 8080
MODEL_REPOSITORY = "model_repository"  # relative to the working directory
RUN_DIR = ".run"  # logs, pid files and the generated twin repository
DEFAULT_FAMILY = "deeplabv3"

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def reachable_host(host: str) -> str:
    """Where a local client reaches a server bound to ``host``: a wildcard bind address is not a destination."""
    return HOST if host in WILDCARD_HOSTS else host
