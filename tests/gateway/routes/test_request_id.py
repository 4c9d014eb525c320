"""X-Request-ID: accepted or generated, echoed in every answer, on the gateway's log lines of that request
(text, or JSON with GATEWAY_LOG_FORMAT=json), and given to Triton as the inference request's id."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.request_id import REQUEST_ID_HEADER, RequestIdMiddleware, current_request_id
from tests.support.gateway import GatewayProcess
from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(600)
TIMEOUT_S = 120
MAP_ONLY = {"infer_model_type": "onnx", "requested_results_types": "segmentation_map", "response_format": "summary"}


def _infer(gateway_url: str, headers: dict[str, str] | None = None, **fields: str) -> requests.Response:
    with shared_image("dog2.jpg").open("rb") as photo:
        return requests.post(
            f"{gateway_url}/infer/file",
            data={**MAP_ONLY, **fields},
            files={"file": photo},
            headers=headers or {},
            timeout=TIMEOUT_S,
        )


def _lines_with(log: Path, text: str) -> list[str]:
    """The log's lines holding ``text``, waiting a little for the gateway to write them (bounded)."""
    deadline = time.monotonic() + 10
    while True:
        found = [line for line in log.read_text(errors="replace").splitlines() if text in line]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_given_id_is_echoed_and_on_the_requests_log_lines(stack, gateway_url: str) -> None:
    request_id = f"trace-{uuid.uuid4().hex[:12]}"
    response = _infer(gateway_url, {REQUEST_ID_HEADER: request_id})
    assert response.status_code == 200, response.text
    assert response.headers[REQUEST_ID_HEADER] == request_id
    lines = _lines_with(stack.run_dir / "gateway.log", request_id)
    assert any("POST /infer/file" in line for line in lines), lines  # the access line carries it


def test_an_id_is_generated_when_missing_or_unusable_and_errors_carry_it_too(gateway_url: str) -> None:
    first, second = _infer(gateway_url), _infer(gateway_url, {REQUEST_ID_HEADER: "has spaces and\ttabs"})
    ids = [response.headers[REQUEST_ID_HEADER] for response in (first, second)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids) and ids[0] != ids[1]
    refused = _infer(gateway_url, {REQUEST_ID_HEADER: "bad-legend-1"}, legend="maybe")
    assert refused.status_code == 400 and refused.headers[REQUEST_ID_HEADER] == "bad-legend-1"


def test_the_gateways_own_log_lines_carry_the_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    seen = []
    app = FastAPI()

    @app.get("/work")
    async def work() -> dict:
        seen.append(current_request_id())
        logging.getLogger("gateway").warning("something worth a line")
        return {}

    app.add_middleware(RequestIdMiddleware)
    try:
        with TestClient(app) as client:
            assert client.get("/work", headers={REQUEST_ID_HEADER: "abc-123"}).headers[REQUEST_ID_HEADER] == "abc-123"
    finally:
        logging.getLogger().removeHandler(handler)
    assert seen == ["abc-123"]
    assert "[abc-123] something worth a line" in stream.getvalue()


@pytest.fixture(scope="module")
def json_gateway(stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(
        stack.triton_grpc_url,
        tmp_path_factory.mktemp("json-gateway") / "gateway.log",
        {"GATEWAY_LOG_FORMAT": "json"},
        ready_path="/healthcheck",
    )
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


def test_json_log_lines_carry_the_id(json_gateway: GatewayProcess) -> None:
    request_id = f"json-{uuid.uuid4().hex[:12]}"
    assert _infer(json_gateway.url, {REQUEST_ID_HEADER: request_id}).status_code == 200
    lines = _lines_with(json_gateway.log_file, request_id)
    entries = [json.loads(line) for line in lines]
    assert entries and all(entry["request_id"] == request_id for entry in entries)
    assert any("POST /infer/file" in entry["message"] for entry in entries), entries
    after_start = [line for line in json_gateway.log_text().splitlines() if line.startswith("{")]
    assert all({"time", "level", "logger", "message", "request_id"} <= set(json.loads(line)) for line in after_start)
