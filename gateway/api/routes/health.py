"""Liveness (no Triton call), readiness (Triton and every model) and Prometheus metrics."""
from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.responses import Response

from gateway.api.deps import CatalogueDep, MetricsDep, SettingsDep, TritonDep
from gateway.errors import Unavailable, error_responses
from gateway.server import DRAIN

router = APIRouter(tags=["health"])


class Live(BaseModel):
    status: str = Field("live", examples=["live"])


class Ready(BaseModel):
    status: str = Field("ready", examples=["ready"])
    models: dict[str, str] = Field(
        description="Every model of Triton's repository and its state.",
        examples=[{"deeplabv3_onnx": "READY", "deeplabv3_torchscript": "READY"}],
    )


@router.get("/healthcheck", response_model=Live, summary="Liveness: the gateway process answers")
async def healthcheck() -> Live:
    """Answers without contacting Triton, so it says only that the gateway itself is up."""
    return Live()


@router.get(
    "/ready",
    response_model=Ready,
    summary="Readiness: Triton and every model can serve",
    responses=error_responses(503, 504),
)
async def ready(triton: TritonDep, catalogue: CatalogueDep, settings: SettingsDep) -> Ready:
    """200 only when Triton is ready, every model in its repository is READY and the default model is
    served; otherwise 503 naming what is not ready. With several Triton replicas the questions go to
    one that answers (an unreachable one is skipped): 200 means at least one replica serves every model.
    From a stop signal (SIGTERM) on: 503, while requests are still served for a settle time."""
    if DRAIN.draining:
        raise Unavailable("the gateway is shutting down")
    if not await triton.server_ready():
        raise Unavailable("Triton is not ready")
    index = await triton.repository_index()
    states = {entry["name"]: entry.get("state") or "UNKNOWN" for entry in index}
    not_ready = [f"{name} ({state})" for name, state in sorted(states.items()) if state != "READY"]
    if not_ready:
        raise Unavailable(f"model not ready: {', '.join(not_ready)}")
    if not states:
        raise Unavailable("Triton serves no models")
    # Triton may have restarted with another repository: the answer comes from a fresh discovery.
    families = {info.family for info in await catalogue.refresh_models()}
    if settings.default_family not in families:
        raise Unavailable(f"default model '{settings.default_family}' is not served")
    return Ready(models=states)


@router.get("/metrics", summary="Prometheus metrics of the gateway", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
async def metrics(metrics: MetricsDep) -> Response:
    """Requests and latency by endpoint, backend and status; requests in flight; Triton call latency;
    gRPC calls per Triton address (`gateway_triton_requests_total{target, outcome}`)."""
    return metrics.response()
