"""The one inference path behind every endpoint: image bytes → decoded photo → model tensor → Triton → result.

URL, file and batch endpoints differ only in how they obtain the bytes; from there everything runs here.
CPU-heavy steps (decode, resize, and the callers' rendering) run on a bounded pool of threads so the
event loop keeps answering health checks and other requests.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import anyio
import numpy as np
from PIL import Image

from gateway import images
from gateway.core.config import Settings
from gateway.errors import BadRequest, ServiceError, Unavailable
from gateway.results import RESULT_TO_OUTPUT, RESULT_TYPES, InferenceResult, ModelInfo
from gateway.triton import ModelCatalogue, TritonClient

T = TypeVar("T")
ImageType = Literal["url", "file"]
RUNTIMES: tuple[str, ...] = ("torch", "onnx")


def parse_result_types(values: Iterable[str] | None) -> tuple[str, ...]:
    """Requested result types from repeated form fields and/or comma-separated values; none → all three.

    Order is the caller's, duplicates dropped; an unknown name → 400 naming it and the allowed ones.
    """
    names = [part.strip() for value in values or () for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in RESULT_TO_OUTPUT]
    if unknown:
        raise BadRequest(
            f"unknown requested_results_types value '{unknown[0]}'; allowed: {', '.join(RESULT_TYPES)}"
        )
    return tuple(dict.fromkeys(names)) or RESULT_TYPES


def check_runtime(infer_model_type: str) -> str:
    if infer_model_type not in RUNTIMES:
        raise BadRequest(f"unknown infer_model_type '{infer_model_type}'; allowed: {', '.join(RUNTIMES)}")
    return infer_model_type


@dataclass
class InferenceService:
    """What a request needs to run inference: Triton, the model catalogue, settings and the CPU pool."""

    triton: TritonClient
    catalogue: ModelCatalogue
    settings: Settings
    cpu: anyio.CapacityLimiter

    async def run_cpu(self, func: Callable[..., T], *args: object) -> T:
        """Run blocking ``func(*args)`` on one of settings.cpu_workers threads."""
        return await anyio.to_thread.run_sync(func, *args, limiter=self.cpu)

    async def model(self, family: str | None, runtime: str) -> ModelInfo:
        return await self.catalogue.resolve(family or self.settings.default_family, check_runtime(runtime))

    def _prepare(self, data: bytes, size: tuple[int, int]) -> tuple[Image.Image, np.ndarray]:
        photo = images.decode_image(data, self.settings)
        return photo, images.to_model_input(photo, size)

    async def infer(
        self,
        data: bytes,
        *,
        image_type: ImageType,
        model: ModelInfo,
        requested: Sequence[str],
        compute: Iterable[str] | None = None,
    ) -> InferenceResult:
        """One image. ``requested``: the result types the answer reports; ``compute``: the ones Triton
        must produce for the answer's format (default: the requested ones)."""
        photo, tensor = await self.run_cpu(self._prepare, data, model.input_size)
        arrays = await self._run_batch(model, tensor[np.newaxis], requested if compute is None else compute)
        return InferenceResult(
            model=model,
            image_type=image_type,
            requested=tuple(requested),
            arrays={name: batch[0] for name, batch in arrays.items()},
            original=photo,
        )

    async def infer_many(
        self,
        items: Sequence[bytes],
        *,
        image_type: ImageType,
        model: ModelInfo,
        requested: Sequence[str],
        compute: Iterable[str] | None = None,
    ) -> list[InferenceResult | ServiceError]:
        """Several images, in order, in as few Triton calls as the model's batch size allows.

        An image that cannot be decoded gets its own error in its place; the others still run.
        A Triton failure fails the whole batch (raised), as it would fail each image.
        """
        prepared: list[tuple[Image.Image, np.ndarray] | ServiceError] = []
        for data in items:
            try:
                prepared.append(await self.run_cpu(self._prepare, data, model.input_size))
            except ServiceError as error:
                prepared.append(error)
        good = [index for index, item in enumerate(prepared) if not isinstance(item, ServiceError)]
        results: list[InferenceResult | ServiceError] = [
            item if isinstance(item, ServiceError) else None for item in prepared  # type: ignore[misc]
        ]
        step = max(model.max_batch_size, 1)
        for start in range(0, len(good), step):
            chunk = good[start:start + step]
            batch = np.stack([prepared[index][1] for index in chunk])  # type: ignore[index]
            arrays = await self._run_batch(model, batch, requested if compute is None else compute)
            for position, index in enumerate(chunk):
                results[index] = InferenceResult(
                    model=model,
                    image_type=image_type,
                    requested=tuple(requested),
                    arrays={name: values[position] for name, values in arrays.items()},
                    original=prepared[index][0],  # type: ignore[index]
                )
        return results

    async def _run_batch(self, model: ModelInfo, batch: np.ndarray, result_types: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = tuple(dict.fromkeys(result_types))
        try:
            outputs = await self.triton.infer(model.name, batch, [RESULT_TO_OUTPUT[name] for name in wanted])
        except Unavailable:
            self.catalogue.invalidate()  # Triton restarted or dropped the model: discover afresh next time
            raise
        return {name: outputs[RESULT_TO_OUTPUT[name]] for name in wanted}
