"""How Triton's gRPC failures reach the user: each status becomes one gateway error with a clear detail.

In process, no Triton: tritonclient's aio client inside gateway.triton.TritonClient is replaced by a stand-in
that fails with the status under test, so this checks the mapping, not the network (tests/gateway/routes and
tests/gateway/replicas check the real thing).
"""

from __future__ import annotations

from typing import Any

import anyio
import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from gateway import triton
from gateway.core.config import Settings
from gateway.errors import ServiceError, Unavailable, UpstreamTimeout
from gateway.triton import TritonClient

MODEL = "deeplabv3_onnx"


class _Answer:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self._arrays = arrays

    def as_numpy(self, name: str) -> np.ndarray:
        return self._arrays[name]


class StandInClient:
    """Answers every call with the next of ``outcomes``: an exception is raised, anything else returned."""

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        self.calls: list[str] = []

    def _next(self, method: str) -> Any:
        self.calls.append(method)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def infer(self, model: str, *_args: Any, **_kwargs: Any) -> Any:
        return self._next(f"infer {model}")

    async def is_server_ready(self, **_kwargs: Any) -> Any:
        return self._next("is_server_ready")

    async def close(self) -> None:
        pass


def failure(status: str, message: str = "failed") -> InferenceServerException:
    return InferenceServerException(message, status=f"StatusCode.{status}")


def _client(
    monkeypatch: pytest.MonkeyPatch, outcomes: list[Any], **settings: Any
) -> tuple[TritonClient, StandInClient]:
    stand_in = StandInClient(outcomes)
    monkeypatch.setattr(triton.grpc_aio, "InferenceServerClient", lambda *_args, **_kwargs: stand_in)
    return TritonClient(Settings(**settings)), stand_in


def _infer(client: TritonClient) -> dict[str, np.ndarray]:
    async def call() -> dict[str, np.ndarray]:
        try:
            return await client.infer(MODEL, np.zeros((1, 3, 8, 8), np.uint8), ["segmentation_map"])
        finally:
            await client.close()

    return anyio.run(call)


def test_deadline_exceeded_is_504_naming_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    client, stand_in = _client(monkeypatch, [failure("DEADLINE_EXCEEDED")], triton_timeout_s=7)
    with pytest.raises(UpstreamTimeout, match=f"model '{MODEL}' within 7 s") as caught:
        _infer(client)
    assert caught.value.status_code == 504
    assert stand_in.calls == [f"infer {MODEL}"]  # a slow model is not asked again


def test_resource_exhausted_is_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = _client(monkeypatch, [failure("RESOURCE_EXHAUSTED")], retry_after_s=4)
    with pytest.raises(Unavailable, match="overloaded") as caught:
        _infer(client)
    assert caught.value.status_code == 503
    assert caught.value.headers == {"Retry-After": "4"}


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("NOT_FOUND", "failed"),
        ("INVALID_ARGUMENT", f"Request for unknown model: '{MODEL}'"),
        ("UNAVAILABLE", f"Request for unknown model: '{MODEL}' is not found"),
    ],
)
def test_a_model_not_served_is_503_naming_it(monkeypatch: pytest.MonkeyPatch, status: str, message: str) -> None:
    client, _ = _client(monkeypatch, [failure(status, message)], triton_retries=0)
    with pytest.raises(Unavailable, match=f"model '{MODEL}' is not ready on Triton") as caught:
        _infer(client)
    assert caught.value.status_code == 503


def test_unavailable_after_every_retry_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    client, stand_in = _client(
        monkeypatch, [failure("UNAVAILABLE", "connection refused")], triton_retries=2, triton_url="127.0.0.1:9"
    )
    with pytest.raises(Unavailable, match=r"Triton is not reachable at 127\.0\.0\.1:9") as caught:
        _infer(client)
    assert caught.value.status_code == 503
    assert len(stand_in.calls) == 3  # the call and two retries


def test_unavailable_once_is_retried_and_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = _Answer({"segmentation_map": np.ones((1, 8, 8), np.uint8)})
    client, stand_in = _client(monkeypatch, [failure("UNAVAILABLE"), answer], triton_retries=1)
    assert _infer(client)["segmentation_map"].shape == (1, 8, 8)
    assert len(stand_in.calls) == 2


def test_other_failures_are_500_without_triton_details(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = _client(monkeypatch, [failure("INVALID_ARGUMENT", "unexpected shape for input 'image'")])
    with pytest.raises(ServiceError) as caught:
        _infer(client)
    assert caught.value.status_code == 500
    assert "shape" not in caught.value.detail


def test_a_status_call_past_its_deadline_is_503_not_504(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = _client(monkeypatch, [failure("DEADLINE_EXCEEDED")], triton_ready_timeout_s=0.5)

    async def call() -> bool:
        try:
            return await client.server_ready()
        finally:
            await client.close()

    with pytest.raises(Unavailable, match=r"readiness check within 0\.5 s") as caught:
        anyio.run(call)
    assert caught.value.status_code == 503
