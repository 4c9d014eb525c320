"""Triton dies: the gateway answers 503 at once (no hang), stays live, and serves again once Triton is back."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(400)

# A bound, not a timing assertion: a gateway that waits on a dead Triton fails here instead of hanging.
FAST_S = 5
RESUME_WITHIN_S = 120


def _infer(gateway_url: str, timeout: float) -> requests.Response:
    with shared_image("dog2.jpg").open("rb") as photo:
        return requests.post(
            f"{gateway_url}/infer/file",
            files={"file": photo},
            timeout=timeout,
            data={"infer_model_type": "onnx", "requested_results_types": ["segmentation_map"]},
        )


def test_triton_stopped_is_503_and_service_resumes_by_itself(gateway_url: str, stack) -> None:
    assert _infer(gateway_url, 120).status_code == 200  # warm: the gateway holds a live connection

    stack.kill_triton()
    try:
        response = _infer(gateway_url, FAST_S)
        assert response.status_code == 503, response.text
        assert "Triton" in response.json()["detail"]
        ready = requests.get(f"{gateway_url}/ready", timeout=FAST_S)
        assert ready.status_code == 503
        assert ready.json()["detail"]
        assert requests.get(f"{gateway_url}/healthcheck", timeout=FAST_S).json() == {"status": "live"}
    finally:
        stack.wait_ready(300)  # the launcher restarts tritonserver

    # The same gateway process, never restarted, must serve again on its own.
    deadline = time.monotonic() + RESUME_WITHIN_S
    while (status := _infer(gateway_url, 120).status_code) != 200 and time.monotonic() < deadline:
        assert status == 503
        time.sleep(0.5)
    assert status == 200
    assert requests.get(f"{gateway_url}/ready", timeout=30).status_code == 200
