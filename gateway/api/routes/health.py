"""Probes and monitoring: liveness (no Triton call) and readiness (Triton and every model), open for probes;
GET /metrics, Prometheus metrics of the gateway (open unless GATEWAY_PROTECT_METRICS: gateway/security.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from gateway.api.deps import CatalogueDep, MetricsDep, SettingsDep, TritonDep
from gateway.core.config import Settings
from gateway.errors import Unavailable, error_responses
from gateway.security import has_valid_key
from gateway.triton import ModelCatalogue, TritonClient

MODEL_NOT_READY = "model not ready: "

router = APIRouter(tags=["health"])


class Live(BaseModel):
    status: str = Field("live", examples=["live"])


class Ready(BaseModel):
    status: str = Field("ready", examples=["ready"])
    models: dict[str, str] | None = Field(
        None,
        description="Every model of Triton's repository and its state; with API keys configured, only for a "
        "request that sends a valid key (GET /models needs one too).",
        examples=[{"deeplabv3_onnx": "READY", "deeplabv3_torchscript": "READY"}],
    )


@router.get("/healthcheck", response_model=Live, summary="Liveness: the gateway process answers")
async def healthcheck() -> Live:
    """Answers without contacting Triton, so it says only that the gateway itself is up (HEAD too)."""
    return Live()


@router.head("/healthcheck", include_in_schema=False)
async def healthcheck_head() -> Live:
    return Live()


@router.get(
    "/ready",
    response_model=Ready,
    response_model_exclude_none=True,
    summary="Readiness: Triton and every model can serve",
    responses=error_responses(503, 504),
)
async def ready(request: Request, triton: TritonDep, catalogue: CatalogueDep, settings: SettingsDep) -> Ready:
    """200 only when Triton is ready, every model in its repository is READY and the default model is
    served; otherwise 503 naming what is not ready. With several Triton replicas the questions go to
    one that answers (an unreachable one is skipped), and a replica that answers "not ready" (starting,
    stopping) is followed by the next one, up to 1 + GATEWAY_TRITON_RETRIES replicas: 200 means at
    least one replica serves every model. From a stop signal (SIGTERM) on: 503, while requests are
    still served for a settle time."""
    if request.app.state.drain.draining:
        raise Unavailable("the gateway is shutting down")
    shows_models = not settings.api_keys or has_valid_key(request.headers, settings)
    problem: str | None = "Triton is not ready"
    for _ in range(settings.triton_retries + 1):  # round robin: each round asks the next replica
        problem, states = await _readiness(triton, catalogue, settings)
        if problem is None:
            return Ready(models=states if shows_models else None)
    if problem and problem.startswith(MODEL_NOT_READY) and not shows_models:
        problem = f"{MODEL_NOT_READY}(names only with an API key)"
    raise Unavailable(problem or "Triton is not ready")


async def _readiness(
    triton: TritonClient, catalogue: ModelCatalogue, settings: Settings
) -> tuple[str | None, dict[str, str]]:
    """What keeps the Triton asked from serving (None: nothing), and the state of each of its models."""
    if not await triton.server_ready():
        return "Triton is not ready", {}
    index = await triton.repository_index()
    states = {entry["name"]: entry.get("state") or "UNKNOWN" for entry in index}
    not_ready = [f"{name} ({state})" for name, state in sorted(states.items()) if state != "READY"]
    if not_ready:
        return f"{MODEL_NOT_READY}{', '.join(not_ready)}", states
    if not states:
        return "Triton serves no models", states
    # The catalogue's discovery is at most GATEWAY_CATALOGUE_REFRESH_S old; one that names a model the index no
    # longer holds READY (Triton restarted with another repository) is made again (at most once a second).
    infos = await catalogue.models()
    if any(states.get(info.name) != "READY" for info in infos):
        infos = catalogue.sorted_models(await catalogue.refresh())
    families = {info.family for info in infos}
    if settings.default_family not in families:
        return f"default model '{settings.default_family}' is not served", states
    return None, states


@router.get(
    "/metrics",
    summary="Prometheus metrics of the gateway",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(metrics: MetricsDep) -> Response:
    """Requests and latency by endpoint, backend and status; requests in flight; Triton call latency;
    gRPC calls per Triton address (`gateway_triton_requests_total{target, outcome}`)."""
    return metrics.response()
