"""A stand-in for gateway.triton.TritonClient, for in-process route tests (never for integration tests).

It serves one family (``deeplabv3``, onnx and torch, 21 classes, 512×512) and answers every inference with
arrays of the right shapes and types (zeros: class 0 everywhere), counting the calls. ``app_with_fake_triton``
wires it into a real app through FastAPI's ``dependency_overrides`` (and ``app.state``, which the raw-body route
reads), so validation tests run the real routes, forms, limits and error handlers with no Triton behind them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import numpy as np
from fastapi.testclient import TestClient

from gateway.api.deps import get_catalogue, get_inference, get_triton
from gateway.contract import OUTPUT_NAMES
from gateway.core.config import Settings
from gateway.domain import ModelInfo
from gateway.inference import InferenceService
from gateway.main import create_app
from gateway.triton import ModelCatalogue

LABELS = ("background", *(f"class{index}" for index in range(1, 21)))
SIZE = (512, 512)
RANDOM = {"kind": "random", "weights_are_random": True}
MODELS = [
    ModelInfo("deeplabv3_onnx", "deeplabv3", "onnx", LABELS, SIZE, 8, RANDOM, outputs=OUTPUT_NAMES),
    ModelInfo("deeplabv3_torchscript", "deeplabv3", "torch", LABELS, SIZE, 8, RANDOM, outputs=OUTPUT_NAMES),
]


class FakeTriton:
    def __init__(self) -> None:
        self.inferences: list[tuple[str, tuple[int, ...], tuple[str, ...]]] = []

    async def discover(self) -> tuple[list[ModelInfo], dict[str, str]]:
        return list(MODELS), {}

    async def server_ready(self) -> bool:
        return True

    async def repository_index(self) -> list[dict[str, Any]]:
        return [{"name": info.name, "state": "READY"} for info in MODELS]

    async def infer(self, model: str, batch: np.ndarray, outputs: Iterable[str], request_id: str = "") -> dict:  # noqa: ARG002 - TritonClient's signature
        wanted = tuple(outputs)
        self.inferences.append((model, batch.shape, wanted))
        count, height, width = batch.shape[0], batch.shape[2], batch.shape[3]
        arrays = {
            "logits": np.zeros((count, len(LABELS), height, width), np.float32),
            "probabilities": np.full((count, len(LABELS), height, width), 1 / len(LABELS), np.float32),
            "segmentation_map": np.zeros((count, height, width), np.uint8),
            "confidence": np.full((count, height, width), 1 / len(LABELS), np.float32),
        }
        return {name: arrays[name] for name in wanted}

    async def close(self) -> None:
        return None


@contextmanager
def app_with_fake_triton(**settings: Any) -> Iterator[tuple[TestClient, FakeTriton]]:
    app = create_app(Settings(**settings))
    triton = FakeTriton()
    with TestClient(app, raise_server_exceptions=False) as client:
        stand_in: Any = triton
        service = InferenceService(
            triton=stand_in,
            catalogue=ModelCatalogue(stand_in),
            settings=app.state.settings,
            cpu=anyio.CapacityLimiter(2),
        )
        app.dependency_overrides[get_inference] = lambda: service
        app.dependency_overrides[get_triton] = lambda: stand_in
        app.dependency_overrides[get_catalogue] = lambda: service.catalogue
        app.state.inference = service
        yield client, triton
