"""The one inference path behind every endpoint: image bytes → decoded photo → model tensor → Triton → result.

URL, file and batch endpoints differ only in how they obtain the bytes; from there everything runs here.
CPU-heavy steps (decode, resize, and the callers' rendering) run on a bounded pool of threads so the
event loop keeps answering health checks and other requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import anyio
import numpy as np
from PIL import Image

from gateway import images
from gateway.answer_size import check_answer_size
from gateway.contract import PROBABILITIES, in_contract_order, partial_model_name
from gateway.core.config import Settings
from gateway.domain import (
    COMPUTED_TO_OUTPUT,
    CONFIDENCE_RESULT,
    RESULT_TO_OUTPUT,
    RESULT_TYPES,
    RUNTIMES,
    ImageType,
    InferenceResult,
    ModelInfo,
    RenderOptions,
)
from gateway.errors import BadRequest, ServiceError, Unavailable, shown
from gateway.request_id import current_request_id
from gateway.triton import ModelCatalogue, TritonClient

T = TypeVar("T")


def parse_result_types(values: Iterable[str] | None) -> tuple[str, ...]:
    """Requested result types from repeated form fields and/or comma-separated values; none → all three.

    Order is the caller's, duplicates dropped; an unknown name → 400 naming it and the allowed ones.
    """
    names = [part.strip() for value in values or () for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in RESULT_TO_OUTPUT]
    if unknown:
        raise BadRequest(
            f"unknown requested_results_types value '{shown(unknown[0])}'; allowed: {', '.join(RESULT_TYPES)}"
        )
    return tuple(dict.fromkeys(names)) or RESULT_TYPES


WEIGHTS_RANDOM_HEADER = "X-Weights-Random"


def weights_are_random(model: ModelInfo) -> bool | None:
    """Whether the model was exported with random weights (its Triton config's ``segmentation.weights``);
    None for a repository exported before that parameter existed."""
    return model.weights.get("weights_are_random")


def weights_headers(model: ModelInfo) -> dict[str, str]:
    """``X-Weights-Random: true|false`` for an answer of ``model`` (absent when unknown); bodies stay as they are."""
    random = weights_are_random(model)
    return {} if random is None else {WEIGHTS_RANDOM_HEADER: "true" if random else "false"}


FLAG_VALUES = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def parse_flag(field: str, value: str | None, default: bool) -> bool:
    """A true/false form field; anything else → 400 naming the field and the allowed values."""
    if value is None or not value.strip():
        return default
    flag = FLAG_VALUES.get(value.strip().lower())
    if flag is None:
        raise BadRequest(f"unknown {field} '{shown(value)}'; allowed: true, false")
    return flag


async def upload_bytes(field: str, upload: object) -> bytes:
    """The bytes of a file field; a plain text value (curl's ``-F file=photo.jpg``, without ``@``) → 400."""
    if isinstance(upload, str):
        raise BadRequest(f"{field} must be a file upload, not a text value (with curl: -F {field}=@photo.jpg)")
    return await upload.read()  # type: ignore[attr-defined]


def file_schema(schema: dict) -> None:
    """OpenAPI of a file field typed ``UploadFile | str`` (the str only to answer 400, see upload_bytes): a file."""
    schema.pop("anyOf", None)
    schema.update({"type": "string", "format": "binary"})


def check_runtime(infer_model_type: str) -> str:
    if infer_model_type not in RUNTIMES:
        raise BadRequest(f"unknown infer_model_type '{shown(infer_model_type)}'; allowed: {', '.join(RUNTIMES)}")
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

    async def resolve_model(self, family: str | None, runtime: str) -> ModelInfo:
        """The served model (a ModelInfo) for the request's ``model`` family (None: the default) and runtime."""
        # ``runtime`` was checked where the request was parsed (gateway/api/forms.py).
        return await self.catalogue.resolve(family or self.settings.default_family, runtime)

    def _prepare(self, data: bytes, size: tuple[int, int]) -> tuple[Image.Image, np.ndarray]:
        # draft: a big JPEG is decoded at a reduced scale close to the model's size (3-4x faster on a
        # 12 MP photo); the photo's true size stays in photo.info["original_size"] for mask_size=original.
        photo = images.decode_image(data, self.settings, draft_size=size)
        return photo, images.to_model_input(photo, size)

    async def infer(
        self,
        data: bytes,
        *,
        image_type: ImageType,
        model: ModelInfo,
        requested: Sequence[str],
        compute: Iterable[str] | None = None,
        options: RenderOptions | None = None,
    ) -> InferenceResult:
        """One image; its error (a ServiceError) is raised. Arguments as for ``infer_many``."""
        (outcome,) = await self.infer_many(
            [data], image_type=image_type, model=model, requested=requested, compute=compute, options=options
        )
        if isinstance(outcome, ServiceError):
            raise outcome
        return outcome

    async def infer_many(
        self,
        items: Sequence[bytes],
        *,
        image_type: ImageType,
        model: ModelInfo,
        requested: Sequence[str],
        compute: Iterable[str] | None = None,
        options: RenderOptions | None = None,
    ) -> list[InferenceResult | ServiceError]:
        """Several images, in order, in as few Triton calls as the model's batch size allows.

        ``requested``: the result types the answer reports; ``compute``: the ones Triton must produce
        for the answer's format (default: the requested ones); ``options``: how the answer will be
        rendered, so its size is checked against settings.max_answer_bytes once the photos are decoded
        and before Triton is called (413 for the whole request). An image that cannot be decoded gets
        its own error in its place and the others still run; a Triton failure is raised, as it would
        fail every image.
        """
        outcomes: dict[int, InferenceResult | ServiceError] = {}
        prepared: dict[int, tuple[Image.Image, np.ndarray]] = {}

        async def prepare(index: int, data: bytes) -> None:
            try:
                prepared[index] = await self.run_cpu(self._prepare, data, model.input_size)
            except ServiceError as error:
                outcomes[index] = error

        # The photos decode side by side on the CPU pool (settings.cpu_workers threads; Pillow releases the GIL).
        async with anyio.create_task_group() as decoding:
            for index, data in enumerate(items):
                decoding.start_soon(prepare, index, data)
        wanted = tuple(requested if compute is None else compute)
        ready = sorted(prepared)
        if options is not None and ready:
            height, width = model.input_size
            check_answer_size(
                options,
                requested,
                len(model.labels),
                (width, height),
                [images.photo_size(prepared[index][0]) for index in ready],
                self.settings.max_answer_bytes,
            )
        step = max(model.max_batch_size, 1)
        for start in range(0, len(ready), step):
            chunk = ready[start : start + step]
            tensors = [prepared[index][1] for index in chunk]
            batch = tensors[0][np.newaxis] if len(tensors) == 1 else np.stack(tensors)  # one image: no copy
            arrays = await self._run_batch(model, batch, wanted)
            for position, index in enumerate(chunk):
                outcomes[index] = InferenceResult(
                    model=model,
                    image_type=image_type,
                    requested=tuple(requested),
                    arrays={name: values[position] for name, values in arrays.items()},
                    original=prepared[index][0],
                    original_size=images.photo_size(prepared[index][0]),
                )
        return [outcomes[index] for index in range(len(items))]

    async def _run_batch(
        self, model: ModelInfo, batch: np.ndarray, result_types: Iterable[str]
    ) -> dict[str, np.ndarray]:
        wanted = tuple(dict.fromkeys(result_types))
        names = [COMPUTED_TO_OUTPUT[name] for name in wanted]
        # A model exported before the confidence output: the winning probability from the distribution.
        derive_confidence = COMPUTED_TO_OUTPUT[CONFIDENCE_RESULT] in names and CONFIDENCE_RESULT not in model.outputs
        if derive_confidence:
            names = list(
                dict.fromkeys(
                    PROBABILITIES if name == COMPUTED_TO_OUTPUT[CONFIDENCE_RESULT] else name for name in names
                )
            )
        try:
            outputs = await self._infer(model, batch, names)
        except Unavailable:
            self.catalogue.invalidate()  # Triton restarted or dropped the model: discover afresh next time
            raise
        if derive_confidence:
            outputs[COMPUTED_TO_OUTPUT[CONFIDENCE_RESULT]] = outputs[PROBABILITIES].max(axis=1)
        return {name: outputs[COMPUTED_TO_OUTPUT[name]] for name in wanted}

    async def _infer(self, model: ModelInfo, batch: np.ndarray, outputs: list[str]) -> dict[str, np.ndarray]:
        """Outputs that Triton serves as a set of their own: that model, which computes nothing else; else the full
        model (other sets, or a repository exported before those models existed). A full model that selects its
        partial files itself (the embedded twin) is asked directly: it computes only the set too."""
        subset = in_contract_order(outputs)
        direct = model.selects_partials or subset not in model.partials
        name = model.name if direct else partial_model_name(model.name, subset)
        return await self.triton.infer(name, batch, outputs, request_id=current_request_id())
