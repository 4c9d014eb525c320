"""Defaults and names that more than one process uses (export, launcher, gateway, clients, bench), written once.

Lives in the gateway package because the gateway image ships only ``gateway/``; it imports nothing, so the
launcher and the clients can use it without pulling in the gateway's dependencies.
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


# Beside each full model, the export writes one model per output that computes only that output
# (docs/architecture.md, "The repository"): `<model>__<output>`, e.g. deeplabv3_onnx__segmentation_map.
# The export names them, the gateway and the bench ask them: one rule, here.
SINGLE_OUTPUT_SEPARATOR = "__"


def single_output_model_name(model_name: str, output: str) -> str:
    return f"{model_name}{SINGLE_OUTPUT_SEPARATOR}{output}"
