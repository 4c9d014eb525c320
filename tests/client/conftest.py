"""Fixtures of the client tests: clients bound to the session's embedded stack, and a local photo server."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from client import SegmentationClient, TritonSegmentationClient
from tests.gateway.local_http import serve_directory
from tests.support.paths import shared_dir


@pytest.fixture(scope="session")
def gateway_client(stack) -> Iterator[SegmentationClient]:
    with SegmentationClient(stack.gateway_url) as client:
        yield client


@pytest.fixture(scope="session")
def triton_client(stack) -> Iterator[TritonSegmentationClient]:
    with TritonSegmentationClient(stack.triton_grpc_url) as client:
        yield client


@pytest.fixture(scope="session")
def photos_url() -> Iterator[str]:
    with serve_directory(shared_dir() / "images") as url:
        yield url
