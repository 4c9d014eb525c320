"""Fixtures of the hardening suites.

``stack`` (tests/conftest.py) is the session's embedded stack; its gateway allowlists 127.0.0.1 and
localhost so tests can serve images from loopback. The SSRF refusals need a gateway that allowlists
nothing on 127.0.0.1: ``strict_gateway`` is a second ``python -m gateway`` on the same Triton, with
an API key, a small upload limit and short fetch timeouts. Its allowlist holds only 127.0.0.2, where
``slow_server`` runs, so the timeout cases can be reached while every other loopback URL is refused.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.hardening.hostile_server import HostileServer, serve
from tests.support.gateway import GatewayProcess

STRICT_API_KEY = "hardening-test-key"
STRICT_MAX_UPLOAD_BYTES = 3_000_000
STRICT_FETCH_TOTAL_TIMEOUT_S = 1.5
STRICT_ALLOWED_HOST = "127.0.0.2"
START_TIMEOUT_S = 90


@pytest.fixture(scope="session")
def hostile_server() -> Iterator[HostileServer]:
    """Misbehaving server on 127.0.0.1: reachable from the stack's (allowlisting) gateway only."""
    with serve("127.0.0.1") as server:
        yield server


@pytest.fixture(scope="session")
def slow_server() -> Iterator[HostileServer]:
    """The same server on 127.0.0.2, the one loopback address the strict gateway may reach."""
    with serve(STRICT_ALLOWED_HOST) as server:
        yield server


@pytest.fixture(scope="session")
def strict_gateway(stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(
        stack.triton_grpc_url,
        tmp_path_factory.mktemp("strict-gateway") / "gateway.log",
        {
            "GATEWAY_URL_ALLOWLIST": STRICT_ALLOWED_HOST,
            "GATEWAY_API_KEYS": STRICT_API_KEY,
            "GATEWAY_MAX_UPLOAD_BYTES": str(STRICT_MAX_UPLOAD_BYTES),
            "GATEWAY_FETCH_CONNECT_TIMEOUT_S": "1",
            "GATEWAY_FETCH_READ_TIMEOUT_S": "1",
            "GATEWAY_FETCH_TOTAL_TIMEOUT_S": str(STRICT_FETCH_TOTAL_TIMEOUT_S),
        },
        ready_path="/healthcheck",
    )
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()
