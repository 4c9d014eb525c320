"""The only module that talks to Triton: one async gRPC client, model discovery, inference.

Every Triton failure leaves this module as a gateway.errors.ServiceError with the status a user
should see (503 down / not ready, 504 too slow), so routes never handle gRPC details.

Many replicas: the target may name several Triton servers (``dns:///name:port``, ``ipv4:a:p,b:p``);
grpc balances the calls over them (settings.triton_lb_policy), and a call that fails because its
replica was unreachable (UNAVAILABLE: gone, connection reset, refused) is sent again, to another
replica, at most settings.triton_retries times within the call's deadline. Inference is idempotent,
and an UNAVAILABLE call has given no answer, so a retry never doubles one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpc_aio
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from gateway.contract import INPUT_NAME, PARTIAL_OUTPUT_SETS, partial_model_name, partial_outputs_of
from gateway.core.config import Settings
from gateway.domain import ModelInfo
from gateway.errors import BadRequest, ServiceError, Unavailable, UpstreamTimeout, shown
from gateway.model_config import model_info_from_config

log = logging.getLogger(__name__)


_MAX_MESSAGE = 2**31 - 1  # logits of a full batch are far above gRPC's 4 MB default
# gRPC's default reconnect backoff grows to 2 minutes: after a Triton restart the gateway would keep
# answering 503 long after Triton is back. Retry the connection at least every second instead.
# min_reconnect_backoff_ms is gRPC's minimum *connect timeout* (MIN_CONNECT_TIMEOUT of its backoff protocol),
# not a pause: at 100 ms a handshake with a Triton that has just restarted on a busy machine timed out again and
# again, and the gateway answered "not reachable" while Triton was up (seen on a loaded 2-core CI runner).
_CHANNEL_ARGS = [
    ("grpc.max_send_message_length", _MAX_MESSAGE),
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 2_000),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    # A lost replica makes grpc ask DNS again; its default waits 30 s between two answers.
    ("grpc.dns_min_time_between_resolutions_ms", 5_000),
]
# grpc asks DNS again only when a connection fails: a replica added behind the name (a new pod) would get
# no call as long as the others live. A fresh channel, hence a fresh DNS answer, every CHANNEL_REFRESH_S.
CHANNEL_REFRESH_S = 30.0
# Pause before sending a failed call again: long enough for grpc to take the lost replica out of its picks.
RETRY_PAUSE_S = 0.1
# Pause before the later attempts: longer than grpc's reconnect backoff (max_reconnect_backoff_ms 1 s, +20 %
# jitter), so a Triton that has just come back (restarted, the only replica) is reconnected and reached
# instead of failing fast while its channel still waits out the backoff.
RECONNECT_PAUSE_S = 1.25

TritonLatencyObserver = Callable[[str, str, float], None]  # (model, outcome "ok|error|retried", seconds)


def channel_args(settings: Settings) -> list[tuple[str, Any]]:
    """The gRPC channel arguments: message sizes, reconnect pace, DNS pace, balancing policy."""
    return [*_CHANNEL_ARGS, ("grpc.lb_policy_name", settings.triton_lb_policy)]


def resolves_names(target: str) -> bool:
    """Whether the target's addresses come from DNS (so they can change), not from a fixed list."""
    if target.startswith(("ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")):
        return False
    if target.startswith("dns:"):
        return True
    host = target.rsplit(":", 1)[0].strip("[]") if ":" in target else target
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


class TritonClient:
    """One async gRPC channel to Triton (one replica or many), with failures mapped to gateway errors."""

    def __init__(self, settings: Settings, observe_latency: TritonLatencyObserver | None = None) -> None:
        self.settings = settings
        self._client = self._connect()
        self._connected_at = time.monotonic()
        self._refreshes = resolves_names(settings.triton_url)
        self._retiring: list[tuple[grpc_aio.InferenceServerClient, asyncio.Task[None]]] = []
        self._observe = observe_latency or (lambda _model, _outcome, _seconds: None)

    def _connect(self) -> grpc_aio.InferenceServerClient:
        return grpc_aio.InferenceServerClient(self.settings.triton_url, channel_args=channel_args(self.settings))

    def _channel(self) -> grpc_aio.InferenceServerClient:
        """The client for the next call: a fresh channel every CHANNEL_REFRESH_S when the target is a DNS name."""
        if self._refreshes and time.monotonic() - self._connected_at > CHANNEL_REFRESH_S:
            old, self._client, self._connected_at = self._client, self._connect(), time.monotonic()
            self._retiring.append((old, asyncio.get_running_loop().create_task(self._retire(old))))
        return self._client

    async def _retire(self, old: grpc_aio.InferenceServerClient) -> None:
        # Calls already started on the old channel end by their own deadline; then it goes.
        await asyncio.sleep(max(self.settings.triton_timeout_s, self.settings.triton_ready_timeout_s) + 1)
        await old.close()
        self._retiring = [entry for entry in self._retiring if entry[0] is not old]

    async def close(self) -> None:
        for old, task in self._retiring:
            task.cancel()
            await old.close()
        self._retiring = []
        await self._client.close()

    async def _failover(
        self,
        what: str,
        timeout_s: float,
        call: Callable[[grpc_aio.InferenceServerClient, float], Awaitable[Any]],
        on_retry: Callable[[], None] = lambda: None,
    ) -> Any:
        """``call(client, seconds_left)``, sent again (to another replica) while it fails UNAVAILABLE.

        At most settings.triton_retries more attempts, all within ``timeout_s``; the last failure is raised.
        """
        deadline = time.monotonic() + timeout_s
        for attempt in range(self.settings.triton_retries + 1):
            try:
                return await call(self._channel(), max(deadline - time.monotonic(), 0.001))
            except InferenceServerException as exc:
                last = attempt == self.settings.triton_retries
                pause = RETRY_PAUSE_S if attempt == 0 else RECONNECT_PAUSE_S
                if _status_code(exc) != "UNAVAILABLE" or last or deadline - time.monotonic() <= pause:
                    raise
                log.info("Triton %s failed (UNAVAILABLE: %s); sending it again", what, exc.message())
                on_retry()
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    # --- status: each call has a short deadline of its own, so a wedged Triton never hangs /ready ---
    async def server_ready(self) -> bool:
        """True when Triton answers ready, False when it answers not ready; Unavailable when unreachable."""
        return await self._status("readiness check", "is_server_ready")

    async def repository_index(self) -> list[dict[str, Any]]:
        """Every model of the repository with its ``state`` (READY, UNAVAILABLE, ...)."""
        index = await self._status("repository index", "get_model_repository_index", as_json=True)
        return list(index.get("models", []))

    async def model_config(self, name: str) -> dict[str, Any]:
        response = await self._status(f"config of model '{name}'", "get_model_config", name, as_json=True)
        return response["config"]

    async def discover(self) -> tuple[list[ModelInfo], dict[str, str]]:
        """Segmentation models that are READY, and the state of every model that is not."""
        infos: list[ModelInfo] = []
        not_ready: dict[str, str] = {}
        index = await self.repository_index()
        ready = {entry["name"] for entry in index if (entry.get("state") or "UNKNOWN") == "READY"}
        for entry in index:
            name, state = entry["name"], entry.get("state") or "UNKNOWN"
            if state != "READY":
                not_ready[name] = state
                continue
            if partial_outputs_of(name) is not None:  # some outputs of a full model: recorded on that model below
                continue
            try:
                config = await self.model_config(name)
            except ServiceError:  # unloaded between the index and this call: not ready, not a failed discovery
                not_ready[name] = "UNAVAILABLE"
                continue
            info = model_info_from_config(config)
            if info is not None:
                partials = frozenset(
                    outputs for outputs in PARTIAL_OUTPUT_SETS if partial_model_name(name, outputs) in ready
                )
                infos.append(dataclasses.replace(info, partials=partials))
        return infos, not_ready

    async def _status(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``method`` of the tritonclient on some replica; one that is unreachable is left for another."""

        async def call(client: grpc_aio.InferenceServerClient, seconds: float) -> Any:
            return await getattr(client, method)(*args, client_timeout=seconds, **kwargs)

        try:
            return await self._failover(what, self.settings.triton_ready_timeout_s, call)
        except InferenceServerException as exc:
            if _status_code(exc) == "DEADLINE_EXCEEDED":
                # Not answering its status within the deadline = not ready to serve: 503, not 504.
                raise Unavailable(
                    f"Triton did not answer the {what} within {self.settings.triton_ready_timeout_s:g} s"
                ) from None
            raise self._map_error(what, exc) from None

    # --- inference --------------------------------------------------------------------------
    async def infer(
        self, model: str, batch: np.ndarray, outputs: Iterable[str], request_id: str = ""
    ) -> dict[str, np.ndarray]:
        """Run ``model`` on a uint8 [N, 3, H, W] batch and return only the named outputs ([N, ...] each)."""
        names = list(outputs)
        image = InferInput(INPUT_NAME, list(batch.shape), "UINT8")
        image.set_data_from_numpy(np.ascontiguousarray(batch, dtype=np.uint8))
        requested = [InferRequestedOutput(name) for name in names]
        started = attempt_started = time.perf_counter()
        outcome = "error"

        async def call(client: grpc_aio.InferenceServerClient, seconds: float) -> Any:
            nonlocal attempt_started
            attempt_started = time.perf_counter()
            return await client.infer(model, [image], outputs=requested, client_timeout=seconds, request_id=request_id)

        def retried() -> None:
            self._observe(model, "retried", time.perf_counter() - attempt_started)

        try:
            result = await self._failover(
                f"inference on model '{model}'", self.settings.triton_timeout_s, call, retried
            )
            outcome = "ok"
        except InferenceServerException as exc:
            raise self._map_error(f"inference on model '{model}'", exc, model) from None
        finally:
            self._observe(model, outcome, time.perf_counter() - started)
        return {name: result.as_numpy(name) for name in names}

    # --- error mapping ----------------------------------------------------------------------
    def _map_error(self, what: str, exc: InferenceServerException, model: str | None = None) -> ServiceError:
        status, message = _status_code(exc), exc.message() or ""
        log.warning("Triton %s failed: %s %s", what, status, message)
        if status == "DEADLINE_EXCEEDED":
            return UpstreamTimeout(f"Triton did not finish the {what} within {self.settings.triton_timeout_s:g} s")
        if model and (status == "NOT_FOUND" or any(sign in message for sign in _MODEL_NOT_SERVED)):
            return Unavailable(f"model '{model}' is not ready on Triton")
        if status == "UNAVAILABLE":
            return Unavailable(f"Triton is not reachable at {self.settings.triton_url}")
        if status == "RESOURCE_EXHAUSTED":
            return Unavailable(
                f"Triton is overloaded ({what})", headers={"Retry-After": str(self.settings.retry_after_s)}
            )
        # INVALID_ARGUMENT and the rest: the gateway built the request, so the fault is ours or the model's.
        return ServiceError(f"Triton failed the {what}")


# How Triton words "that model is not loaded" (its gRPC status varies between UNAVAILABLE and NOT_FOUND).
_MODEL_NOT_SERVED = ("unknown model", "not ready", "no available versions", "is not found")


def _status_code(exc: InferenceServerException) -> str:
    return (exc.status() or "").removeprefix("StatusCode.")


class ModelCatalogue:
    """The served models by (family, runtime), discovered from Triton and cached.

    A discovery (the repository index and one config call per model) is reused for ``refresh_s``; it is made
    again after that, after ``invalidate()`` (which the inference path calls whenever Triton was unreachable or
    lost a model: a restarted Triton may serve another repository), and when a request names a model the cache
    does not hold — at most once per ``min_forced_s``, so requests for unknown models cannot make the gateway
    discover on every call. Concurrent callers share one discovery.
    """

    def __init__(
        self,
        triton: TritonClient,
        refresh_s: float = 10.0,
        min_forced_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._triton = triton
        self._models: dict[tuple[str, str], ModelInfo] | None = None
        self._not_ready: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._refresh_s = refresh_s
        self._min_forced_s = min_forced_s
        self._clock = clock
        self._discovered_at = -math.inf
        self.discoveries = 0

    def invalidate(self) -> None:
        self._models = None

    @property
    def age_s(self) -> float:
        return self._clock() - self._discovered_at

    async def refresh(self, *, forced: bool = True) -> dict[tuple[str, str], ModelInfo]:
        """Discover again, unless a discovery finished while this call waited for another, or ``forced`` and the
        last one is younger than ``min_forced_s``."""
        asked_at = self._clock()
        async with self._lock:
            fresh = self._models is not None and (
                self._discovered_at >= asked_at or (forced and self.age_s < self._min_forced_s)
            )
            if fresh and self._models is not None:
                return self._models
            self._models = None
            infos, self._not_ready = await self._triton.discover()
            self.discoveries += 1
            self._discovered_at = self._clock()
            self._models = {(info.family, info.runtime): info for info in infos}
            return self._models

    async def _current(self) -> dict[tuple[str, str], ModelInfo]:
        if self._models is not None and self.age_s < self._refresh_s:
            return self._models
        return await self.refresh(forced=False)

    async def models(self) -> list[ModelInfo]:
        """The served models, from a discovery at most ``refresh_s`` old."""
        return self.sorted_models(await self._current())

    @staticmethod
    def sorted_models(models: dict[tuple[str, str], ModelInfo]) -> list[ModelInfo]:
        return sorted(models.values(), key=lambda info: (info.family, info.runtime))

    async def resolve(self, family: str, runtime: str) -> ModelInfo:
        """The model serving ``family`` with ``runtime``.

        A family that is nowhere in the repository is the caller's mistake (400); one whose models
        exist but are not ready is Triton's state (503). Both name the model.
        """
        models = await self._current()
        if (family, runtime) not in models:
            models = await self.refresh()  # loaded since? (not more often than min_forced_s)
        if (family, runtime) in models:
            return models[(family, runtime)]
        loading = sorted(name for name in self._not_ready if name.startswith(f"{family}_"))
        if loading:
            raise Unavailable(f"model '{family}' is not ready on Triton ({', '.join(loading)})")
        families = sorted({fam for fam, _ in models})
        if family not in families:
            raise BadRequest(f"unknown model '{shown(family)}'; served models: {', '.join(families) or 'none'}")
        runtimes = sorted(run for fam, run in models if fam == family)
        raise BadRequest(f"model '{shown(family)}' has no '{runtime}' backend; it has: {', '.join(runtimes)}")
