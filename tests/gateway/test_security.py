"""require_api_key on a tiny app: open without keys; Bearer or X-API-Key; 401 + WWW-Authenticate otherwise."""
from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.testclient import TestClient

from gateway.core.config import Settings
from gateway.errors import ServiceError
from gateway.security import key_matches, require_api_key

pytestmark = pytest.mark.timeout(60)


def make_client(api_keys: str) -> TestClient:
    app = FastAPI()
    app.state.settings = Settings(api_keys=api_keys)

    @app.exception_handler(ServiceError)
    async def service_error(request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/healthcheck")
    async def health() -> dict:
        return {"status": "live"}

    @app.post("/infer/url", dependencies=[Depends(require_api_key)])
    async def infer() -> dict:
        return {"Status": "OK"}

    return TestClient(app)


def test_no_keys_configured_means_open() -> None:
    assert make_client("").post("/infer/url").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer k2"}, {"Authorization": "bearer   k1 "}, {"X-API-Key": "k1"}],
    ids=["bearer", "bearer-lowercase-spaces", "x-api-key"],
)
def test_valid_key_is_accepted(headers: dict[str, str]) -> None:
    assert make_client("k1,k2").post("/infer/url", headers=headers).status_code == 200


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
def test_missing_or_wrong_key_is_401_with_challenge(headers: dict[str, str | bytes], detail: str) -> None:
    response = make_client("k1,k2").post("/infer/url", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert detail in response.json()["detail"]
    assert "k1" not in response.text and "k2" not in response.text  # never echoes a key


def test_health_stays_open_with_keys() -> None:
    assert make_client("k1").get("/healthcheck").status_code == 200


def test_key_matches_compares_every_key() -> None:
    assert key_matches("b", ["a", "b", "c"])
    assert not key_matches("", ["a"])
    assert not key_matches("a", [])
