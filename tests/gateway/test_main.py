"""The app factory's error contract and wiring, in process, with no Triton behind it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
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
    app = create_app(Settings(triton_url=f"127.0.0.1:{port}"))

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


@pytest.mark.parametrize(
    ("path", "data", "missing"),
    [
        ("/infer/url", {"infer_model_type": "onnx"}, "url_image"),
        ("/infer/file", {"infer_model_type": "onnx"}, "file"),
        ("/infer/file/", {}, "infer_model_type"),
    ],
)
def test_missing_fields_are_named_in_a_text_detail(client: TestClient, path: str, data: dict, missing: str) -> None:
    response = client.post(path, data=data)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and missing in detail


def test_unknown_path_is_a_json_404(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404 and response.json() == {"detail": "not found"}


def test_unhandled_errors_are_500_without_details(client: TestClient) -> None:
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert "secret" not in response.text and "/etc" not in response.text


def test_trailing_slash_is_served_not_redirected(client: TestClient) -> None:
    response = client.post(
        "/infer/url/", data={"infer_model_type": "bad", "url_image": "http://x"}, follow_redirects=False
    )
    assert response.status_code == 400


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    client.get("/healthcheck")
    text = client.get("/metrics").text
    assert (
        'gateway_requests_total{backend="",endpoint="/healthcheck",family="",response_format="",status="200"}' in text
    )


def test_module_has_a_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "GATEWAY_" in result.stdout and "--port" in result.stdout


# --- python -m gateway: KServe transformer arguments, and the stop signal ----------------------------


def test_kserve_arguments_map_to_settings() -> None:
    from gateway.__main__ import build_parser, kserve_environment

    args, ignored = build_parser().parse_known_args(
        [
            "--model_name",
            "deeplabv3",
            "--predictor_host",
            "triton.segmentation.svc.cluster.local",
            "--http_port",
            "8081",
            "--workers",
            "2",
            "--protocol",
            "v2",
            "--predictor_protocol",
            "grpc-v2",
            "--predictor_use_ssl",
            "False",
            "--enable_docs_url=True",
        ]
    )
    assert kserve_environment(args) == {
        "GATEWAY_DEFAULT_FAMILY": "deeplabv3",
        "GATEWAY_TRITON_URL": "dns:///triton.segmentation.svc.cluster.local:8001",
        "GATEWAY_PORT": "8081",
        "GATEWAY_WORKERS": "2",
    }
    assert ignored == [
        "--protocol",
        "v2",
        "--predictor_protocol",
        "grpc-v2",
        "--predictor_use_ssl",
        "False",
        "--enable_docs_url=True",
    ]
    args, _ = build_parser().parse_known_args(["--predictor_host", "triton:9001"])
    assert kserve_environment(args) == {"GATEWAY_TRITON_URL": "dns:///triton:9001"}
    assert kserve_environment(build_parser().parse_known_args([])[0]) == {}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code
    except httpx.TransportError:
        return None


def test_gateway_started_with_kserve_arguments_answers_and_drains_on_sigterm(tmp_path) -> None:
    """Launched as KServe launches a transformer; SIGTERM: /ready 503 while still serving, then refused, exit 0."""
    port = _closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_DRAIN_SETTLE_S="2", GATEWAY_DRAIN_TIMEOUT_S="5")
    command = [
        sys.executable,
        "-m",
        "gateway",
        "--model_name",
        "deeplabv3",
        "--predictor_host",
        f"127.0.0.1:{_closed_port()}",
        "--http_port",
        str(port),
        "--protocol",
        "v2",
        "--enable_docs_url",
        "True",
    ]
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get(f"{base}/healthcheck") != 200:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert _get(f"{base}/ready") == 503  # no Triton behind it
        assert httpx.get(f"{base}/healthcheck", timeout=2, trust_env=False).headers.get("connection") != "close"
        assert "(accepted for KServe): --protocol v2 --enable_docs_url True" in log.read_text()
        assert "memory: keeping up to 64 MiB of freed buffers for reuse" in log.read_text()  # gateway/memory.py

        process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        time.sleep(0.5)
        ready = httpx.get(f"{base}/ready", timeout=2, trust_env=False)
        assert ready.status_code == 503 and "shutting down" in ready.json()["detail"]
        live = httpx.get(f"{base}/healthcheck", timeout=2, trust_env=False)  # still serving during the settle time
        assert live.status_code == 200 and live.headers["connection"] == "close"  # keep-alive clients move on
        assert process.wait(timeout=15) == 0, log.read_text()
        assert time.monotonic() - stopped_at >= 2  # not before the settle time
        assert _get(f"{base}/healthcheck") is None  # refused
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_bad_setting_is_named_without_a_trace() -> None:
    env = {**os.environ, "GATEWAY_TRITON_LB_POLICY": "random"}
    result = subprocess.run(
        [sys.executable, "-m", "gateway"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "triton_lb_policy" in result.stderr and "Traceback" not in result.stderr
