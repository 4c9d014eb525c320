"""GET /metrics: Prometheus metrics of the gateway (open unless GATEWAY_PROTECT_METRICS)."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from gateway.api.deps import MetricsDep

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics of the gateway", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
async def metrics(metrics: MetricsDep) -> Response:
    """Requests and latency by endpoint, backend and status; requests in flight; Triton call latency;
    gRPC calls per Triton address (`gateway_triton_requests_total{target, outcome}`)."""
    return metrics.response()
