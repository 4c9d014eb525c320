"""Python clients of the segmentation service: over HTTP to the gateway, or over gRPC straight to Triton."""
from client.gateway_client import GatewayError, SegmentationClient
from client.result import SegmentationResult
from client.triton_client import TritonSegmentationClient

__all__ = ["GatewayError", "SegmentationClient", "SegmentationResult", "TritonSegmentationClient"]
