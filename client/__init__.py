"""Python clients of the segmentation service: over HTTP to the gateway, or over gRPC straight to Triton."""

from __future__ import annotations

from typing import TYPE_CHECKING

from client.gateway_client import GatewayError, SegmentationClient
from client.result import SegmentationResult

if TYPE_CHECKING:
    from client.triton_client import TritonSegmentationClient

__all__ = ["GatewayError", "SegmentationClient", "SegmentationResult", "TritonSegmentationClient"]


def __getattr__(name: str) -> object:
    # The gRPC client pulls in tritonclient.grpc and the gateway's decoder: import it only when asked,
    # so the `segment` CLI (HTTP only) starts fast.
    if name == "TritonSegmentationClient":
        from client.triton_client import TritonSegmentationClient

        return TritonSegmentationClient
    raise AttributeError(f"module 'client' has no attribute {name!r}")
