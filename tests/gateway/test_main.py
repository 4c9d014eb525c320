"""The app factory's error contract and wiring, in process, with no Triton behind it."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from gateway.core.config import Settings
from gateway.main import create_app
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def client():
    with socket.socket() as probe:  # a port nobody listens on: Triton is "down"
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(Settings(triton_url=f"127.0.0.1:{port}", model_repository=None))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret at /etc/gateway/keys.txt")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_healthcheck_needs_no_triton(client: TestClient) -> None:
    assert client.get("/healthcheck").json() == {"status": "live"}


def test_triton_down_is_503_naming_triton(client: TestClient) -> None:
    ready = client.get("/ready")
    assert ready.status_code == 503 and "Triton" in ready.json()["detail"]
    infer = client.post("/infer/file", data={"infer_model_type": "onnx"}, files={"file": ("a.jpg", b"x")})
    assert infer.status_code == 503 and "Triton" in infer.json()["detail"]


def test_invalid_input_is_refused_before_triton_is_asked(client: TestClient) -> None:
    response = client.post("/infer/url", data={"infer_model_type": "mxnet", "url_image": "http://x"})
    assert response.status_code == 400
    assert response.json() == {"detail": "unknown infer_model_type 'mxnet'; allowed: torch, onnx, onnx_int8"}


@pytest.mark.parametrize(("path", "data", "missing"), [
    ("/infer/url", {"infer_model_type": "onnx"}, "url_image"),
    ("/infer/file", {"infer_model_type": "onnx"}, "file"),
    ("/infer/file/", {}, "infer_model_type"),
])
def test_missing_fields_are_named_in_a_text_detail(client: TestClient, path: str, data: dict, missing: str) -> None:
    response = client.post(path, data=data)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and missing in detail


def test_unknown_path_is_a_json_404(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_unhandled_errors_are_500_without_details(client: TestClient) -> None:
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert "secret" not in response.text and "/etc" not in response.text


def test_trailing_slash_is_served_not_redirected(client: TestClient) -> None:
    response = client.post("/infer/url/", data={"infer_model_type": "bad", "url_image": "http://x"},
                           follow_redirects=False)
    assert response.status_code == 400


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    client.get("/healthcheck")
    text = client.get("/metrics").text
    assert 'gateway_requests_total{backend="",endpoint="/healthcheck",status="200"}' in text


def test_module_has_a_help() -> None:
    result = subprocess.run([sys.executable, "-m", "gateway", "--help"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "GATEWAY_" in result.stdout and "--port" in result.stdout
