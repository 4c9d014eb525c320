"""Prometheus metrics of the gateway: requests, latency by endpoint/backend/family/format/status, in flight,
Triton latency, and the calls each Triton replica (address) got.

Each app gets its own registry, so several apps in one process (tests) never clash.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator
from types import ModuleType

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
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

log = logging.getLogger(__name__)

REPLICA_METRIC = "gateway_triton_requests"
RETRIED_TARGET = "all"
# grpc lists at most 100 channels per channelz page; the gateway holds one or two.
_CHANNELZ_MAX_PAGES = 10


def _channelz() -> ModuleType | None:
    try:
        from grpc._cython import cygrpc  # channelz: grpc's own per-address call counts
    except ImportError:  # pragma: no cover - every grpcio build has it
        return None
    return cygrpc if hasattr(cygrpc, "channelz_get_top_channels") else None


class ReplicaCalls(Collector):
    """``gateway_triton_requests_total{target, outcome}``: gRPC calls per Triton address.

    tritonclient hides which replica answered a call, and grpc's balancing picks it; grpc's channelz
    counts, per subchannel (one per address), the calls started, succeeded and failed. At each scrape
    the growth of those counts since the previous scrape is added here: outcome ``ok`` (answered) and
    ``error`` (failed on that address: lost replica, refused, or an error status), every call counted
    (inference and status calls). Outcome ``retried`` counts inference calls sent again after an
    UNAVAILABLE failure, labelled with the gateway's target (the failed address is not known then; its
    failure is in its ``error`` count).
    """

    def __init__(self) -> None:
        self._cygrpc = _channelz()
        self._totals: Tally[tuple[str, str]] = Tally()
        self._seen: dict[int, tuple[int, int]] = {}  # subchannel id → (succeeded, failed) already added
        self._lock = threading.Lock()

    def count_retry(self, target: str) -> None:
        with self._lock:
            self._totals[(target, "retried")] += 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self._lock:
            self._update()
            family = CounterMetricFamily(
                REPLICA_METRIC, "gRPC calls to each Triton address (replica), by outcome.", labels=("target", "outcome")
            )
            for (target, outcome), value in sorted(self._totals.items()):
                family.add_metric((target, outcome), value)
        yield family

    def _update(self) -> None:
        for subchannel in self._subchannels():
            data = subchannel.get("data", {})
            ident = int(subchannel.get("ref", {}).get("subchannelId", 0))
            target = str(data.get("target", "")).removeprefix("ipv4:").removeprefix("ipv6:")
            counts = int(data.get("callsSucceeded", 0)), int(data.get("callsFailed", 0))
            before = self._seen.get(ident, (0, 0))
            if counts[0] < before[0] or counts[1] < before[1]:
                before = (0, 0)  # a new subchannel under a reused id
            self._totals[(target, "ok")] += counts[0] - before[0]
            self._totals[(target, "error")] += counts[1] - before[1]
            self._seen[ident] = counts

    def _subchannels(self) -> list[dict]:
        if self._cygrpc is None:
            return []
        try:
            ids: set[int] = set()
            start = 0
            for _ in range(_CHANNELZ_MAX_PAGES):
                page = json.loads(self._cygrpc.channelz_get_top_channels(start))
                for channel in page.get("channel", []):
                    ids.update(int(ref["subchannelId"]) for ref in channel.get("subchannelRef", []))
                    start = max(start, int(channel["ref"]["channelId"]) + 1)
                if page.get("end") or not page.get("channel"):  # proto3 JSON leaves out end=false
                    break
        except (ValueError, KeyError, RuntimeError) as exc:  # channelz answered something unexpected: no figures
            log.debug("channelz could not be read: %s", exc)
            return []
        subchannels = []
        for ident in sorted(ids):
            try:
                subchannels.append(json.loads(self._cygrpc.channelz_get_subchannel(ident))["subchannel"])
            except (ValueError, KeyError, RuntimeError):  # gone since the channel listed it
                continue
        return subchannels


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("endpoint", *_STATE_LABELS, "status")
        self.requests = Counter("gateway_requests", "HTTP requests answered.", labels, registry=self.registry)
        self.latency = Histogram(
            "gateway_request_duration_seconds",
            "Time to answer an HTTP request.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "gateway_requests_in_flight",
            "Inference requests holding a slot (from the end of their body to the end of their answer).",
            registry=self.registry,
        )
        self.triton_latency = Histogram(
            "gateway_triton_request_duration_seconds",
            "Time of one Triton inference call.",
            ("model", "outcome"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.replicas = ReplicaCalls()
        self.registry.register(self.replicas)

    def observe_triton(self, model: str, outcome: str, seconds: float) -> None:
        """One Triton inference call: ``ok``, ``error``, or ``retried`` (one failed attempt, sent again)."""
        self.triton_latency.labels(model, outcome).observe(seconds)
        if outcome == "retried":
            # The failed address is not known here (its failure is in its own `error` count).
            self.replicas.count_retry(RETRIED_TARGET)

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

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            route = getattr(scope.get("route"), "path", None)
            endpoint = route.rstrip("/") or "/" if route else "unmatched"  # /infer/url/ counts as /infer/url
            labels = (endpoint, *(str(state.get(key, "")) for key in _STATE_LABELS), str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
