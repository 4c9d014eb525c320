"""gateway_triton_requests_total from grpc's own per-address counts, against two small real gRPC servers."""

from __future__ import annotations

import asyncio
import contextlib
import re
from concurrent import futures

import grpc
import pytest
from prometheus_client import generate_latest

from gateway.metrics import Metrics
from tests.support.ports import free_ports

pytestmark = pytest.mark.timeout(60)


def _server(address: str, fail: bool) -> grpc.Server:
    def answer(_request: bytes, context: grpc.ServicerContext) -> bytes:
        if fail:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no")
        return b"ok"

    server = grpc.server(futures.ThreadPoolExecutor(2))
    handler = grpc.unary_unary_rpc_method_handler(answer)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Echo", {"Call": handler})])
    server.add_insecure_port(address)
    server.start()
    return server


def _samples(metrics: Metrics) -> dict[tuple[str, str], float]:
    text = generate_latest(metrics.registry).decode()
    found = re.findall(r'^gateway_triton_requests_total\{outcome="(\w+)",target="([^"]+)"\} (\S+)$', text, re.M)
    return {(target, outcome): float(value) for outcome, target, value in found}


def test_calls_are_counted_per_address_and_outcome() -> None:
    port = free_ports(1)[0]
    good, bad = f"127.0.0.1:{port}", f"127.0.0.2:{port}"
    servers = [_server(good, fail=False), _server(bad, fail=True)]
    metrics = Metrics()

    async def calls() -> dict[tuple[str, str], float]:
        """Ten calls on a new channel, then a scrape (while it is open, as the gateway's channel is)."""
        async with grpc.aio.insecure_channel(
            f"ipv4:{good},{bad}", options=[("grpc.lb_policy_name", "round_robin")]
        ) as channel:
            call = channel.unary_unary("/test.Echo/Call")
            await channel.channel_ready()
            for _ in range(10):
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await call(b"x", timeout=5)
            return _samples(metrics)

    try:
        first = asyncio.run(calls())
        second = asyncio.run(calls())
    finally:
        for server in servers:
            server.stop(None)
    # Each run a new channel (its own or shared subchannels): the totals only grow, by what was called.
    assert first[(good, "ok")] + first[(bad, "error")] == 10 and first[(good, "ok")] >= 4, first
    assert second[(good, "ok")] + second[(bad, "error")] == 20, second
    assert second.get((good, "error"), 0) == 0 and second.get((bad, "ok"), 0) == 0
    metrics.observe_triton("m", "retried", 0.1)
    assert _samples(metrics)[("all", "retried")] == 1
