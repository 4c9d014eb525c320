"""The FastAPI app: one Triton client and model catalogue for the app's life, errors as ``{"detail"}``, routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from gateway.api.routes import batch, health, infer, models, v2, web
from gateway.core.config import Settings, get_settings
from gateway.drain import DrainState
from gateway.errors import ServiceError, restyle, shown
from gateway.inference import InferenceService
from gateway.limits import BodyLimitsMiddleware, InferenceSlots, InferenceSlotsMiddleware
from gateway.memory import FreedMemoryReleaser, keep_freed_memory
from gateway.metrics import Metrics, MetricsMiddleware
from gateway.request_id import RequestIdMiddleware
from gateway.security import ApiKeyMiddleware
from gateway.triton import ModelCatalogue, TritonClient

log = logging.getLogger("gateway")

DESCRIPTION = """
Image segmentation (DeepLabV3, 21 PASCAL VOC classes by default) served by NVIDIA Triton.

Errors are `{"detail": "<what went wrong, naming the value>"}` with the HTTP status that fits:
400 invalid input (a field's value not allowed: the detail names the field and the allowed values), 401
missing/wrong API key, 413 too large, 415 not an image, 422 a required field missing, 502/504 URL not
fetchable / too slow, 503 Triton or a model not ready (or overload, with `Retry-After`), 500 a fault of the service.
"""


def _describe_validation_error(exc: RequestValidationError) -> str:
    """One readable sentence naming each bad field, e.g. "infer_model_type: field required"."""
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "header", "path")]
        problems.append(f"{shown('.'.join(location)) or 'request'}: {error.get('msg', 'invalid').lower()}")
    return "; ".join(problems) or "invalid request"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # A text detail, not FastAPI's list: existing clients print `detail` as a message.
        # (A body that is not a form at all never gets here: Starlette answers it 400 itself.)
        return JSONResponse({"detail": _describe_validation_error(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": restyle(str(exc.detail))}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # No trace, path or value in the answer, and only the exception's type in the log at the default
        # level (a trace can carry file paths and request data); GATEWAY_LOG_LEVEL=debug adds the trace.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        log.debug("trace of the unhandled error", exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)


def _document_settings(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI schema states the limits that depend on settings: the files of a batch (1 to the most)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            body = schema["paths"]["/infer/files"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
            name = body["$ref"].rsplit("/", 1)[-1]
            files = schema["components"]["schemas"][name]["properties"]["file"]
            files.update(minItems=1, maxItems=settings.max_batch_files)
        return app.openapi_schema  # type: ignore[return-value]  # set by generate()

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, drain: DrainState | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info(keep_freed_memory(settings.keep_freed_mb).describe())
        triton = TritonClient(settings, observe_latency=metrics.observe_triton)
        app.state.inference = InferenceService(
            triton=triton,
            catalogue=ModelCatalogue(triton, settings.catalogue_refresh_s, settings.catalogue_min_refresh_s),
            settings=settings,
            cpu=anyio.CapacityLimiter(settings.cpu_workers),
        )
        try:
            yield
        finally:
            await triton.close()

    # FastAPIOffline = FastAPI whose /docs and /redoc load Swagger UI and ReDoc from the package's own
    # files (under /static-offline-docs) instead of a CDN: the docs render on machines with no internet.
    app = FastAPIOffline(
        title="Segmentation gateway",
        description=DESCRIPTION,
        version="1.0.0",
        lifespan=lifespan,
        # /infer/url/ must work like /infer/url: a redirect would make clients drop the POST body.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.drain = drain or DrainState()  # the server's, so that /ready sees its stop signal
    app.state.metrics = metrics
    releaser = FreedMemoryReleaser()
    app.state.slots = InferenceSlots(settings.max_in_flight, on_change=metrics.in_flight.set, on_idle=releaser.release)
    _install_error_handlers(app)
    _document_settings(app, settings)
    # Added last = outermost. From the outside in: the request id (every answer has it), metrics (they see
    # every answer, the limits' 401/408/413/503 too), the key check (from the headers, before any body byte),
    # the body's bounds, then the inference slot (taken once the body is in, given back once answered).
    app.add_middleware(InferenceSlotsMiddleware, settings=settings, slots=app.state.slots)
    app.add_middleware(BodyLimitsMiddleware, settings=settings)
    app.add_middleware(ApiKeyMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware, log_format=settings.log_format)
    # Which paths need an API key (when GATEWAY_API_KEYS is set) is decided in gateway/security.py.
    for module in (health, models, infer, batch, v2, web):
        app.include_router(module.router)
    return app
