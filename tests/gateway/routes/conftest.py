"""Fixtures of the route tests: the gateway of the session's embedded stack and a local photo server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.local_http import serve_directory
from tests.support.paths import shared_dir


@pytest.fixture(scope="session")
def gateway_url(stack) -> str:
    return stack.gateway_url


@pytest.fixture(scope="session")
def photos_url() -> Iterator[str]:
    """``<photos_url>/dog1.jpg`` etc.: the shared photos over HTTP from 127.0.0.1 (allowlisted by the stack)."""
    with serve_directory(shared_dir() / "images") as url:
        yield url
