"""API keys through the real app (create_app): which route needs a key, Bearer or X-API-Key, 401 + challenge.

ROUTE_ACCESS is the table of every route the gateway serves and whether it needs a key when keys are set; a
route added without an entry here fails `test_the_table_lists_every_route`, so the decision is always made.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from gateway.core.config import Settings
from gateway.main import create_app
from gateway.security import key_matches

pytestmark = pytest.mark.timeout(60)

KEY, OTHER_KEY = "k1", "k2"
OPEN, KEY_NEEDED, METRICS = "open", "key", "key only with GATEWAY_PROTECT_METRICS"

# (method, path) -> access. Why open: probes (/healthcheck, /ready) have no key; the page, its assets and
# the API docs are static and send the key themselves on the calls that need one.
ROUTE_ACCESS: dict[tuple[str, str], str] = {
    ("GET", "/healthcheck"): OPEN,
    ("GET", "/ready"): OPEN,
    # The Open Inference Protocol: its probes open as the gateway's own, the rest keyed.
    ("GET", "/v2/health/live"): OPEN,
    ("GET", "/v2/health/ready"): OPEN,
    ("GET", "/v2"): KEY_NEEDED,
    ("GET", "/v2/models/{family}"): KEY_NEEDED,
    ("GET", "/v2/models/{family}/ready"): KEY_NEEDED,
    ("GET", "/v2/models/{family}/versions/{version}"): KEY_NEEDED,
    ("GET", "/v2/models/{family}/versions/{version}/ready"): KEY_NEEDED,
    ("POST", "/v2/models/{family}/infer"): KEY_NEEDED,
    ("POST", "/v2/models/{family}/versions/{version}/infer"): KEY_NEEDED,
    ("GET", "/metrics"): METRICS,
    ("GET", "/models"): KEY_NEEDED,
    ("POST", "/infer/url"): KEY_NEEDED,
    ("POST", "/infer/file"): KEY_NEEDED,
    ("POST", "/infer/files"): KEY_NEEDED,
    ("POST", "/infer/url/"): KEY_NEEDED,  # clients may add a slash: no redirect, same rules
    ("POST", "/infer/file/"): KEY_NEEDED,
    ("POST", "/infer/files/"): KEY_NEEDED,
    ("GET", "/"): OPEN,
    ("GET", "/static/{name}"): OPEN,
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/docs/oauth2-redirect"): OPEN,
    ("GET", "/redoc"): OPEN,
    ("MOUNT", "/static-offline-docs"): OPEN,
}
EXAMPLE_PATHS = {"/static/{name}": "/static/app.js", "/static-offline-docs": "/static-offline-docs/swagger-ui.css"}


def _flatten(routes: list[BaseRoute]) -> Iterator[tuple[str, str]]:
    for route in routes:
        original = getattr(route, "original_router", None)  # FastAPI's included routers
        if original is not None:
            yield from _flatten(original.routes)
        elif isinstance(route, Mount):
            yield "MOUNT", route.path
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield method, route.path


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    return set(_flatten(app.router.routes))


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_client(api_keys: str, **settings: object) -> TestClient:
    # Triton "down" on an unused port: a route that passes the key check answers 503/400, never 401.
    app = create_app(
        Settings(api_keys=api_keys, triton_url=f"127.0.0.1:{_unused_port()}", triton_ready_timeout_s=0.3, **settings)
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def keyed() -> Iterator[TestClient]:
    with make_client(f"{KEY},{OTHER_KEY}") as client:
        yield client


def call(client: TestClient, method: str, path: str, headers: dict | None = None):
    url = EXAMPLE_PATHS.get(path, path)
    if method == "POST":
        return client.post(url, headers=headers, data={"infer_model_type": "onnx", "url_image": "https://x.test/a"})
    return client.get(url, headers=headers)


def test_the_table_lists_every_route(keyed: TestClient) -> None:
    assert served_routes(keyed.app) == set(ROUTE_ACCESS)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTE_ACCESS), ids=lambda value: str(value))
def test_each_route_needs_a_key_exactly_as_the_table_says(keyed: TestClient, method: str, path: str) -> None:
    access = ROUTE_ACCESS[(method, path)]
    response = call(keyed, method, path)
    if access == KEY_NEEDED:
        assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
        assert response.headers["WWW-Authenticate"] == "Bearer"
        # With the key the same call gets past the check (Triton is down here: 503, or 4xx for the form).
        assert call(keyed, method, path, {"X-API-Key": KEY}).status_code != 401
    else:
        assert response.status_code != 401, (method, path, response.text[:200])


def test_models_needs_a_key_when_keys_are_set(keyed: TestClient) -> None:
    """The review's finding: /models answered 200 without a key."""
    assert keyed.get("/models").status_code == 401
    assert keyed.get("/models", headers={"Authorization": f"Bearer {OTHER_KEY}"}).status_code == 503


def test_metrics_needs_a_key_only_when_protected() -> None:
    with make_client(KEY) as open_metrics:
        assert open_metrics.get("/metrics").status_code == 200
    with make_client(KEY, protect_metrics=True) as protected:
        assert protected.get("/metrics").status_code == 401
        assert protected.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200


def test_no_keys_configured_means_open() -> None:
    with make_client("") as client:
        assert client.get("/models").status_code == 503  # past the (absent) key check, Triton is down
        assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer k2"}, {"Authorization": "bearer   k1 "}, {"X-API-Key": "k1"}],
    ids=["bearer", "bearer-lowercase-spaces", "x-api-key"],
)
def test_valid_key_is_accepted(keyed: TestClient, headers: dict[str, str]) -> None:
    assert keyed.get("/models", headers=headers).status_code == 503


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "API key is required"),
        ({"Authorization": "Basic azE6"}, "API key is required"),
        ({"Authorization": "Bearer"}, "API key is required"),
        ({"Authorization": "Bearer wrong"}, "not valid"),
        ({"X-API-Key": "k1x"}, "not valid"),
        ({"X-API-Key": "K1"}, "not valid"),
        ({"X-API-Key": "ключ".encode()}, "not valid"),
    ],
    ids=["none", "basic", "empty-bearer", "wrong-bearer", "prefix-match", "case", "non-ascii"],
)
def test_missing_or_wrong_key_is_401_with_challenge(
    keyed: TestClient, headers: dict[str, str | bytes], detail: str
) -> None:
    response = keyed.post("/infer/url", headers=headers, data={"infer_model_type": "onnx"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert detail in response.json()["detail"]
    assert "k1" not in response.text and "k2" not in response.text  # never echoes a key


def test_key_matches_compares_every_key() -> None:
    assert key_matches("b", ["a", "b", "c"])
    assert not key_matches("", ["a"])
    assert not key_matches("a", [])
