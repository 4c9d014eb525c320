"""The page's files are served by name from gateway/static/, and nothing else is (no stack needed)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.core.config import Settings
from gateway.main import create_app

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def client() -> TestClient:
    # Not entered as a context manager: no lifespan, so no Triton connection is attempted.
    return TestClient(create_app(Settings(triton_url="127.0.0.1:9")))


def test_index_is_html_and_references_its_assets(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'src="static/app.js"' in response.text and 'href="static/style.css"' in response.text


@pytest.mark.parametrize("name, media_type", [("app.js", "text/javascript"), ("style.css", "text/css")])
def test_assets_are_served_with_their_media_type(client, name, media_type):
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)


@pytest.mark.parametrize("path", ["/static/index.html.bak", "/static/..%2Fmain.py", "/static/%2E%2E/main.py"])
def test_other_paths_are_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "detail" in response.json()


def test_the_page_is_not_in_the_api_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/static/{name}" not in paths
