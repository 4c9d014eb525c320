"""Two real Triton servers (embedded stacks without a gateway) and gateways in front of both.

Both Tritons listen on the same gRPC port, one on 127.0.0.1 and one on 127.0.0.2, so one DNS name can
stand for both (as a Kubernetes headless Service does). They serve the ONNX model only (the quickest to
load) and are shared by every test of this package; a test that kills one waits until its launcher has
restarted it. Each gateway is a real `python -m gateway` process, stopped at the end of its test.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.exported_repository import DEFAULT_FAMILY
from tests.support.gateway import GatewayProcess
from tests.support.paths import shared_image
from tests.support.ports import free_ports
from tests.support.stack import EmbeddedStack, StackError

MODEL = f"{DEFAULT_FAMILY}_onnx"
HOSTS = ("127.0.0.1", "127.0.0.2")
GATEWAY_START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 120
IMAGE = shared_image("dog2.jpg")
# Map only, as a PNG: the cheapest answer, so the load is Triton's.
FORM = {"infer_model_type": "onnx", "requested_results_types": "segmentation_map", "response_format": "png"}


@dataclass
class ReplicaStack(EmbeddedStack):
    """An embedded Triton (no gateway) bound to ``host``."""

    host: str = "127.0.0.1"

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "TRITON_HOST": self.host}

    @property
    def triton_http_url(self) -> str:
        return f"http://{self.host}:{self.ports['TRITON_HTTP_PORT']}"

    @property
    def triton_grpc_url(self) -> str:
        return f"{self.host}:{self.ports['TRITON_GRPC_PORT']}"

    @property
    def triton_metrics_url(self) -> str:
        return f"http://{self.host}:{self.ports['TRITON_METRICS_PORT']}"

    def successes(self) -> int:
        """Triton's own count of successful inference requests of MODEL (0 after a restart)."""
        text = httpx.get(f"{self.triton_metrics_url}/metrics", timeout=5, trust_env=False).text
        pattern = rf'^nv_inference_request_success\{{[^}}]*model="{MODEL}"[^}}]*\}} (\S+)$'
        return int(sum(float(value) for value in re.findall(pattern, text, re.MULTILINE)))


@pytest.fixture(scope="package")
def replicas(exported_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ReplicaStack]]:
    """Two running Tritons, same gRPC port on 127.0.0.1 and 127.0.0.2; stopped and checked at the end."""
    root = tmp_path_factory.mktemp("replicas")
    repository = root / "repo"
    repository.mkdir()
    shutil.copytree(exported_repository / MODEL, repository / MODEL, symlinks=True)
    stacks = [ReplicaStack(repository, root / f"run{i}", gateway=False, host=host) for i, host in enumerate(HOSTS)]
    grpc_port = free_ports(1)[0]
    for stack in stacks:
        stack.ports["TRITON_GRPC_PORT"] = grpc_port
    try:
        for stack in stacks:
            stack.start()
        for stack in stacks:
            stack.wait_ready()
    except StackError as exc:
        _stop(stacks)
        pytest.fail(f"the Triton replicas did not start: {exc}", pytrace=False)
    yield stacks
    codes = _stop(stacks)
    assert codes == [0, 0], "\n".join(stack.logs() for stack in stacks)


def _stop(stacks: list[ReplicaStack]) -> list[int | None]:
    codes = []
    for stack in stacks:
        try:
            codes.append(stack.stop())
        except StackError:
            codes.append(None)
        stack.force_cleanup()
    return codes


def ensure_serving(stacks: list[ReplicaStack]) -> None:
    """Every replica up (a test before may have killed one: its launcher restarts it)."""
    for stack in stacks:
        stack.wait_ready(timeout=300)


def ipv4_target(stacks: list[ReplicaStack]) -> str:
    return "ipv4:" + ",".join(stack.triton_grpc_url for stack in stacks)


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator:
    """start_gateway(target, **GATEWAY_env) → a running GatewayProcess; every one is stopped after the test."""
    started: list[GatewayProcess] = []

    def start(target: str, **env: str) -> GatewayProcess:
        gateway = GatewayProcess(
            target, tmp_path / f"gateway{len(started)}.log", {"GATEWAY_MAX_IN_FLIGHT": "32", **env}
        )
        started.append(gateway)
        gateway.start()
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def infer(gateway_url: str, client: httpx.Client | None = None) -> int | str:
    """One map-only inference through the gateway: the HTTP status, or the transport error's type name."""
    try:
        with IMAGE.open("rb") as image:
            files = {"file": (IMAGE.name, image, "image/jpeg")}
            if client is not None:
                response = client.post(f"{gateway_url}/infer/file", data=FORM, files=files, timeout=REQUEST_TIMEOUT_S)
            else:
                response = httpx.post(
                    f"{gateway_url}/infer/file", data=FORM, files=files, timeout=REQUEST_TIMEOUT_S, trust_env=False
                )
        return response.status_code
    except httpx.TransportError as exc:
        return type(exc).__name__


def load(gateway_url: str, requests: int, concurrency: int, results: list[int | str] | None = None) -> list[int | str]:
    """``requests`` inferences, ``concurrency`` at a time, each worker on its own keep-alive connection.

    Statuses are appended to ``results`` as they come (another thread may watch the progress)."""
    results = [] if results is None else results

    def worker(count: int) -> None:
        with httpx.Client(trust_env=False) as client:
            for _ in range(count):
                results.append(infer(gateway_url, client))

    shares = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, shares))
    return results
