"""Prometheus metrics of the gateway: requests, latency by endpoint/backend/family/format/status, in flight, Triton latency.

Each app gets its own registry, so several apps in one process (tests) never clash.
"""
from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Inference on CPU takes 0.1-5 s, JSON with logits several seconds more: buckets reach far.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# Routes put the backend, model family and response format they served here (request.state.<key>), once
# checked (so label values stay bounded: never a raw user string), and the middleware labels with them.
BACKEND_STATE_KEY = "backend"
FAMILY_STATE_KEY = "family"
FORMAT_STATE_KEY = "response_format"
_STATE_LABELS = (BACKEND_STATE_KEY, FAMILY_STATE_KEY, FORMAT_STATE_KEY)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("endpoint", *_STATE_LABELS, "status")
        self.requests = Counter(
            "gateway_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "gateway_request_duration_seconds", "Time to answer an HTTP request.", labels,
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.in_flight = Gauge(
            "gateway_requests_in_flight", "HTTP requests being processed.", registry=self.registry
        )
        self.triton_latency = Histogram(
            "gateway_triton_request_duration_seconds", "Time of one Triton inference call.", ("model", "outcome"),
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )

    def observe_triton(self, model: str, outcome: str, seconds: float) -> None:
        self.triton_latency.labels(model, outcome).observe(seconds)

    def response(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by route template (not raw path: bounded cardinality)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        status = 500  # what the client sees if the app dies before answering
        started = time.perf_counter()

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            self.metrics.in_flight.dec()
            route = getattr(scope.get("route"), "path", None)
            endpoint = route.rstrip("/") or "/" if route else "unmatched"  # /infer/url/ counts as /infer/url
            labels = (endpoint, *(str(state.get(key, "")) for key in _STATE_LABELS), str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
