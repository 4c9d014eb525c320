"""What an anonymous or slow client can cost, against real gateways over HTTP on the session's Triton.

``keyed_gateway`` has an API key, 4 inference slots and a 4 s body timeout; ``memory_gateway`` has the
defaults and serves only the burst of ``test_memory_comes_back_after_a_burst_of_large_answers`` (its RSS is
its own). Every loop is bounded in count and time; sockets are raw where the point is what is sent when.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import requests
from PIL import Image

from tests.support.gateway import GatewayProcess
from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(300)

KEY = "abuse-test-key"
SLOTS = 4
BODY_TIMEOUT_S = 4
DOG = shared_image("dog1.jpg").read_bytes()


@pytest.fixture(scope="module")
def keyed_gateway(stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(
        stack.triton_grpc_url,
        tmp_path_factory.mktemp("keyed") / "gateway.log",
        {
            "GATEWAY_API_KEYS": KEY,
            "GATEWAY_MAX_IN_FLIGHT": str(SLOTS),
            "GATEWAY_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        },
    )
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def memory_gateway(stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(stack.triton_grpc_url, tmp_path_factory.mktemp("memory") / "gateway.log")
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


def _jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(DOG)).convert("RGB").resize(size).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _upload_head(gateway: GatewayProcess, length: int, key: str | None) -> bytes:
    lines = [
        "POST /infer/file?infer_model_type=onnx HTTP/1.1",
        f"Host: 127.0.0.1:{gateway.port}",
        "Content-Type: image/jpeg",
        f"Content-Length: {length}",
    ]
    if key:
        lines.append(f"X-API-Key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _connect(gateway: GatewayProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.port), timeout=10)


def _read_answer(sock: socket.socket, timeout_s: float) -> bytes:
    """Everything the server sends until it closes the connection or ``timeout_s`` passes."""
    sock.settimeout(timeout_s)
    received = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        received += chunk
    return received


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def _infer(gateway: GatewayProcess, key: str | None = KEY, **fields: str) -> requests.Response:
    headers = {"X-API-Key": key} if key else {}
    return requests.post(
        f"{gateway.url}/infer/file",
        headers=headers,
        timeout=60,
        data={"infer_model_type": "onnx", "requested_results_types": "segmentation_map", **fields},
        files={"file": ("dog1.jpg", DOG, "image/jpeg")},
    )


def _triton_inferences(stack) -> int:
    """Requests every model of the session's Triton has run (successes and failures)."""
    stats = httpx.get(f"{stack.triton_http_url}/v2/models/stats", timeout=10).json()["model_stats"]
    return sum(
        model["inference_stats"]["success"]["count"] + model["inference_stats"]["fail"]["count"] for model in stats
    )


# --- 1 and 2: the key is checked from the headers; a body being received holds no slot ---------------------


def test_slow_keyless_uploads_are_refused_from_their_headers_and_hold_no_slot(keyed_gateway) -> None:
    slow = []
    try:
        for _ in range(2 * SLOTS):  # twice the slots: before the fix, four of these locked every client out
            sock = _connect(keyed_gateway)
            sock.sendall(_upload_head(keyed_gateway, 100_000, key=None) + b"\xff\xd8\xff")
            slow.append(sock)
        for sock in slow:
            answer = _read_answer(sock, timeout_s=5)
            assert _status(answer) == 401, answer[:300]
            assert b"connection: close" in answer.lower()
        response = _infer(keyed_gateway)
        assert response.status_code == 200, response.text[:300]
    finally:
        for sock in slow:
            sock.close()


def test_slow_keyed_uploads_hold_no_slot_and_are_cut_at_the_body_timeout(keyed_gateway) -> None:
    slow = []
    try:
        for _ in range(2 * SLOTS):
            sock = _connect(keyed_gateway)
            sock.sendall(_upload_head(keyed_gateway, 100_000, key=KEY) + b"\xff\xd8\xff")
            slow.append(sock)
        started = time.monotonic()
        response = _infer(keyed_gateway)  # every slot is free: bodies being received take none
        assert response.status_code == 200, response.text[:300]
        for sock in slow:
            answer = _read_answer(sock, timeout_s=BODY_TIMEOUT_S + 10)
            assert _status(answer) == 408, answer[:300]
            assert b"GATEWAY_BODY_TIMEOUT_S" in answer
        assert time.monotonic() - started < BODY_TIMEOUT_S + 10
    finally:
        for sock in slow:
            sock.close()


def test_a_large_keyless_upload_is_answered_401_before_its_body_is_sent(keyed_gateway) -> None:
    """The 401 comes from the headers alone: not one byte of the 19 MB body has been sent when it arrives."""
    with _connect(keyed_gateway) as sock:
        sock.sendall(_upload_head(keyed_gateway, 19 * 1024 * 1024, key=None))
        answer = _read_answer(sock, timeout_s=5)  # the old gateway waited here for the whole body
    assert _status(answer) == 401, answer[:300]
    assert b"an API key is required" in answer


def test_ready_names_the_models_only_with_a_key(keyed_gateway) -> None:
    anonymous = httpx.get(f"{keyed_gateway.url}/ready", timeout=10)
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ready"}
    keyed = httpx.get(f"{keyed_gateway.url}/ready", headers={"X-API-Key": KEY}, timeout=10).json()
    assert "deeplabv3_onnx" in keyed["models"]


def test_the_in_flight_gauge_counts_inference_requests_only(keyed_gateway) -> None:
    assert _infer(keyed_gateway).status_code == 200
    text = httpx.get(f"{keyed_gateway.url}/metrics", timeout=10).text
    gauge = [line for line in text.splitlines() if line.startswith("gateway_requests_in_flight ")]
    assert gauge == ["gateway_requests_in_flight 0.0"]  # the scrape itself is not counted


# --- 3 and 4: every answer is bounded before inference ---------------------------------------------------


def test_a_small_photo_asking_for_a_huge_answer_is_refused_before_inference(stack) -> None:
    photo = _jpeg((1787, 1788))
    assert len(photo) < 1_000_000
    before = _triton_inferences(stack)
    response = requests.post(
        f"{stack.gateway_url}/infer/file",
        timeout=60,
        data={"infer_model_type": "onnx", "mask_size": "original"},
        files={"file": ("big.jpg", photo, "image/jpeg")},
    )
    assert response.status_code == 413, response.text[:300]
    detail = response.json()["detail"]
    assert "GiB" in detail and "over the limit of 256 MiB (GATEWAY_MAX_ANSWER_BYTES)" in detail
    assert _triton_inferences(stack) == before  # Triton was never called


def test_a_batch_asking_for_a_huge_answer_at_the_photos_size_is_refused_before_inference(stack) -> None:
    photo = _jpeg((800, 800))
    before = _triton_inferences(stack)
    response = requests.post(
        f"{stack.gateway_url}/infer/files",
        timeout=60,
        data={
            "infer_model_type": "onnx",
            "mask_size": "original",
            "requested_results_types": "logits,pixels_distribution",
        },
        files=[("file", (f"p{index}.jpg", photo, "image/jpeg")) for index in range(3)],
    )
    assert response.status_code == 413, response.text[:300]
    assert "these photos" in response.json()["detail"]
    assert _triton_inferences(stack) == before


def test_the_map_at_a_large_photos_size_stays_within_the_bound(stack) -> None:
    response = requests.post(
        f"{stack.gateway_url}/infer/file",
        timeout=120,
        data={"infer_model_type": "onnx", "mask_size": "original", "requested_results_types": "segmentation_map"},
        files={"file": ("big.jpg", _jpeg((1787, 1788)), "image/jpeg")},
    )
    assert response.status_code == 200, response.text[:300]
    assert np.asarray(response.json()["requested_results"]["segmentation_map"]).shape == (1788, 1787)


# --- 5: memory comes back ----------------------------------------------------------------------------------


def _rss(process_id: int) -> int:
    for line in Path(f"/proc/{process_id}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_memory_comes_back_after_a_burst_of_large_answers(memory_gateway) -> None:
    assert memory_gateway.process is not None
    pid = memory_gateway.process.pid
    for _ in range(3):  # warm: connections, first-call allocations
        assert _infer(memory_gateway, key=None).status_code == 200
    idle = _rss(pid)
    photo = _jpeg((800, 800))

    def large() -> int:  # logits at the photo's size: ~138 MB of JSON each
        response = requests.post(
            f"{memory_gateway.url}/infer/file",
            timeout=120,
            data={"infer_model_type": "onnx", "mask_size": "original", "requested_results_types": "logits"},
            files={"file": ("p.jpg", photo, "image/jpeg")},
        )
        return response.status_code

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: large(), range(6))) == [200] * 6
    deadline = time.monotonic() + 10
    while _rss(pid) > 2 * idle and time.monotonic() < deadline:
        time.sleep(0.5)
    after = _rss(pid)
    assert after <= 2 * idle, f"RSS {after >> 20} MiB 10 s after the burst, idle {idle >> 20} MiB"


# --- 6: a raw body of any type is the photo -----------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["image/jpg", "image/pjpeg", "application/x-www-form-urlencoded", None])
def test_a_raw_body_of_another_type_is_taken_as_the_photo(stack, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    raw = httpx.post(
        f"{stack.gateway_url}/infer/file?infer_model_type=onnx&requested_results_types=segmentation_map",
        content=DOG,
        headers=headers,
        timeout=60,
    )
    assert raw.status_code == 200, raw.text[:300]
    form = requests.post(
        f"{stack.gateway_url}/infer/file",
        timeout=60,
        data={"infer_model_type": "onnx", "requested_results_types": "segmentation_map"},
        files={"file": ("dog1.jpg", DOG, "image/jpeg")},
    )
    assert raw.json()["requested_results"] == form.json()["requested_results"]


def test_a_raw_body_in_a_format_not_served_is_415_naming_it(stack) -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    response = httpx.post(
        f"{stack.gateway_url}/infer/file?infer_model_type=onnx",
        content=heic,
        headers={"Content-Type": "image/heic"},
        timeout=30,
    )
    assert response.status_code == 415, response.text[:300]


def test_a_raw_body_without_the_backend_names_the_query_parameter(stack) -> None:
    response = httpx.post(
        f"{stack.gateway_url}/infer/file", content=DOG, headers={"Content-Type": "image/jpg"}, timeout=30
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("infer_model_type: field required (a raw-body upload")
