"""Defaults and names that more than one process uses (export, launcher, gateway, clients, bench), written once.

Lives in the gateway package because the gateway image ships only ``gateway/``; it imports nothing, so the
launcher and the clients can use it without pulling in the gateway's dependencies. The model contract's names
(tensors, parameters, runtimes, `<model>__<output>`, result names) are gateway.contract's.
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
# Decode limits: the gateway's defaults (GATEWAY_MAX_UPLOAD_BYTES, GATEWAY_MAX_IMAGE_PIXELS), the photo models'
# (written into their config by the export) and the clients' own decoder's, so a photo one accepts the others do.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000  # width × height (decompression bombs)

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def reachable_host(host: str) -> str:
    """Where a local client reaches a server bound to ``host``: a wildcard bind address is not a destination."""
    return HOST if host in WILDCARD_HOSTS else host
