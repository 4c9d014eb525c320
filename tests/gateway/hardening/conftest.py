"""Fixtures of the hardening suites.

``stack`` (tests/conftest.py) is the session's embedded stack; its gateway allowlists 127.0.0.1 and
localhost so tests can serve images from loopback. The SSRF refusals need a gateway that allowlists
nothing on 127.0.0.1: ``strict_gateway`` is a second ``python -m gateway`` on the same Triton, with
an API key, a small upload limit and short fetch timeouts. Its allowlist holds only 127.0.0.2, where
``slow_server`` runs, so the timeout cases can be reached while every other loopback URL is refused.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.gateway.hardening.hostile_server import HostileServer, serve
from tests.support.paths import REPO_ROOT
from tests.support.ports import free_ports

STRICT_API_KEY = "hardening-test-key"
STRICT_MAX_UPLOAD_BYTES = 3_000_000
STRICT_FETCH_TOTAL_TIMEOUT_S = 1.5
STRICT_ALLOWED_HOST = "127.0.0.2"
START_TIMEOUT_S = 90


@dataclass
class GatewayProcess:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""


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
    (port,) = free_ports(1)
    log = tmp_path_factory.mktemp("strict-gateway") / "gateway.log"
    env = {
        **os.environ,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_TRITON_URL": stack.triton_grpc_url,
        "GATEWAY_URL_ALLOWLIST": STRICT_ALLOWED_HOST,
        "GATEWAY_API_KEYS": STRICT_API_KEY,
        "GATEWAY_MAX_UPLOAD_BYTES": str(STRICT_MAX_UPLOAD_BYTES),
        "GATEWAY_FETCH_CONNECT_TIMEOUT_S": "1",
        "GATEWAY_FETCH_READ_TIMEOUT_S": "1",
        "GATEWAY_FETCH_TOTAL_TIMEOUT_S": str(STRICT_FETCH_TOTAL_TIMEOUT_S),
        "GATEWAY_LOG_LEVEL": "info",
    }
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=REPO_ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    gateway = GatewayProcess(url=f"http://127.0.0.1:{port}", log=log, process=process)
    try:
        _wait_healthy(gateway)
        yield gateway
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_healthy(gateway: GatewayProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            pytest.fail(f"the strict gateway exited with {gateway.process.returncode}:\n{gateway.log_text()[-3000:]}")
        try:
            if httpx.get(f"{gateway.url}/healthcheck", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"the strict gateway did not answer /healthcheck in {START_TIMEOUT_S} s:\n{gateway.log_text()[-3000:]}")
