"""Liveness, readiness, Prometheus metrics and the OpenAPI page of the running gateway."""

from __future__ import annotations

import re

import pytest
import requests

from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(300)

FORM_FIELDS = {
    "/infer/url": {"infer_model_type", "requested_results_types", "url_image", "model", "response_format", "mask_size"},
    "/infer/file": {"infer_model_type", "requested_results_types", "file", "model", "response_format", "mask_size"},
}


def test_healthcheck_says_live(gateway_url: str) -> None:
    response = requests.get(f"{gateway_url}/healthcheck", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "live"}


def test_ready_lists_every_model_of_the_repository(gateway_url: str, stack) -> None:
    response = requests.get(f"{gateway_url}/ready", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    served = stack.model_names
    assert body["models"] == {name: "READY" for name in served}


def _sample(metrics_text: str, name: str, **labels: str) -> float | None:
    for line in metrics_text.splitlines():
        if line.startswith(name + "{") and all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_requests_by_endpoint_backend_family_format_and_status(gateway_url: str) -> None:
    def scrape() -> str:
        response = requests.get(f"{gateway_url}/metrics", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return response.text

    labels = {
        "endpoint": "/infer/file",
        "backend": "onnx",
        "family": "deeplabv3",
        "response_format": "json",
        "status": "200",
    }
    before = _sample(scrape(), "gateway_requests_total", **labels) or 0.0
    with shared_image("dog2.jpg").open("rb") as photo:
        response = requests.post(
            f"{gateway_url}/infer/file/",
            timeout=120,
            files={"file": photo},
            data={"infer_model_type": "onnx", "requested_results_types": "segmentation_map"},
        )
    assert response.status_code == 200, response.text
    requests.post(f"{gateway_url}/infer/file", data={"infer_model_type": "keras"}, files={"file": b"x"}, timeout=10)

    text = scrape()
    assert _sample(text, "gateway_requests_total", **labels) == before + 1
    assert (_sample(text, "gateway_requests_total", endpoint="/infer/file", backend="", status="400") or 0) >= 1
    assert _sample(text, "gateway_request_duration_seconds_count", **labels) == before + 1
    assert _sample(text, "gateway_request_duration_seconds_bucket", le="+Inf", **labels) == before + 1
    # A map-only request goes to the full model, which in the embedded twin runs the map's own file
    # (serving.selects_partials; tests/serving/test_twin.py counts the file that ran).
    assert (
        _sample(text, "gateway_triton_request_duration_seconds_count", model="deeplabv3_onnx", outcome="ok") or 0
    ) >= 1
    # Only inference requests holding a slot are in flight: not the scrape itself, not an idle gateway.
    assert re.search(r"^gateway_requests_in_flight 0\.0$", text, re.MULTILINE)


def test_openapi_documents_every_field_and_error(gateway_url: str) -> None:
    assert requests.get(f"{gateway_url}/docs", timeout=10).status_code == 200
    schema = requests.get(f"{gateway_url}/openapi.json", timeout=10).json()
    for path, fields in FORM_FIELDS.items():
        operation = schema["paths"][path]["post"]
        assert operation.get("summary") and operation.get("description")
        body_ref = operation["requestBody"]["content"][
            "multipart/form-data" if "file" in fields else "application/x-www-form-urlencoded"
        ]["schema"]["$ref"]
        properties = schema["components"]["schemas"][body_ref.rsplit("/", 1)[1]]["properties"]
        assert fields <= set(properties), fields - set(properties)
        for field in fields:
            assert properties[field].get("description"), f"{path} field {field} has no description"
        for status in ("200", "400", "413", "415", "422", "502", "503", "504"):
            assert operation["responses"][status]["description"], f"{path} does not document {status}"
    for path in ("/healthcheck", "/ready", "/models", "/metrics"):
        assert path in schema["paths"]
    assert "/infer/url/" not in schema["paths"], "the trailing-slash aliases are not separate operations"
