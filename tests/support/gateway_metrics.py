"""How much inference a running gateway has done, from its own /metrics (to count requests per user action)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def inference_calls(gateway_url: str) -> tuple[float, float]:
    """(HTTP requests to /infer/*, Triton inference calls) the gateway has answered so far."""
    text = httpx.get(f"{gateway_url}/metrics", timeout=30, trust_env=False).text
    requests = calls = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_requests_total" and sample.labels.get("endpoint", "").startswith("/infer"):
                requests += sample.value
            if sample.name == "gateway_triton_request_duration_seconds_count":
                calls += sample.value
    return requests, calls
