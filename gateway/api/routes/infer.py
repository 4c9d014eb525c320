"""POST /infer/url and /infer/file: today's contract. Thin: obtain the bytes, infer, render."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.responses import Response

from gateway import fetch
from gateway.api.deps import ApiKeyDep, InferenceDep, label_backend, label_family, label_format
from gateway.errors import error_responses
from gateway.inference import RUNTIMES, ImageType, InferenceService, check_runtime, parse_result_types
from gateway.results import RESULT_TYPES, registry
from gateway.results.resize import check_mask_size

router = APIRouter(tags=["inference"], dependencies=[ApiKeyDep])


@dataclass(frozen=True)
class InferRequest:
    """The form fields every inference endpoint shares, checked before any work is done."""

    runtime: str
    requested: tuple[str, ...]  # what the answer reports
    compute: tuple[str, ...]  # what Triton must compute for the answer's format
    model: str | None
    options: registry.RenderOptions


def infer_request(
    request: Request,
    infer_model_type: Annotated[str, Form(
        description=f"Backend that runs the model: one of {', '.join(RUNTIMES)}.", examples=["onnx"],
        json_schema_extra={"enum": list(RUNTIMES)},
    )],
    requested_results_types: Annotated[list[str] | None, Form(
        description="Results to return, in this order: any of " + ", ".join(RESULT_TYPES) + ". Repeat the field "
        "or send one comma-separated value. Absent or empty: all three (logits and pixels_distribution are "
        "21×512×512 floats each, about 65 MB of JSON: ask only for what you need, or use response_format=npz).",
        examples=[["segmentation_map"]],
    )] = None,
    model: Annotated[str | None, Form(
        description="Model family (see GET /models); default: the service's default model.", examples=["deeplabv3"],
    )] = None,
    response_format: Annotated[str | None, Form(
        description=registry.RESPONSE_FORMAT_DESCRIPTION, examples=["json"],
    )] = None,
    mask_size: Annotated[str, Form(description=registry.MASK_SIZE_DESCRIPTION, examples=["model"])] = "model",
    legend: Annotated[bool, Form(description=registry.LEGEND_DESCRIPTION)] = True,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> InferRequest:
    runtime = check_runtime(infer_model_type)
    label_backend(request, runtime)
    requested = parse_result_types(requested_results_types)
    response_format = registry.negotiate(response_format, accept)
    label_format(request, response_format)
    return InferRequest(
        runtime=runtime,
        requested=requested,
        compute=registry.required_results(response_format, requested),
        model=model or None,
        options=registry.RenderOptions(
            response_format=response_format, mask_size=check_mask_size(mask_size), legend=legend,
        ),
    )


InferRequestDep = Annotated[InferRequest, Depends(infer_request)]


class InferResponse(BaseModel):
    """Today's JSON answer (response_format=json)."""

    Status: str = Field(examples=["OK"])
    infer_model_type: str = Field(examples=["onnx"])
    image_type: str = Field(description="`url` or `file`.", examples=["file"])
    requested_results: dict[str, list] = Field(
        description="Result name → nested lists, in the order requested: logits and pixels_distribution "
        "[classes][height][width] floats, segmentation_map [height][width] class indices.",
        examples=[{"segmentation_map": [[0, 0, 12], [0, 12, 12]]}],
    )


_RESPONSES = {
    200: {
        "model": InferResponse,
        "description": "The results, in the requested format (JSON schema shown: response_format=json).",
        "content": {fmt.media_type: {} for fmt in registry.FORMATS.values() if fmt.media_type != "application/json"},
    },
    **error_responses(400, 401, 413, 415, 422, 500, 502, 503, 504),
}


async def answer(request: Request, service: InferenceService, form: InferRequest, data: bytes,
                 image_type: ImageType) -> Response:
    model = await service.model(form.model, form.runtime)
    label_family(request, model.family)
    result = await service.infer(
        data, image_type=image_type, model=model, requested=form.requested, compute=form.compute,
    )
    return await service.run_cpu(registry.render, result, form.options)


@router.post("/infer/url", summary="Segment the image at a URL", responses=_RESPONSES, response_class=Response)
@router.post("/infer/url/", include_in_schema=False, response_class=Response)
async def infer_url(
    request: Request,
    form: InferRequestDep,
    service: InferenceDep,
    url_image: Annotated[str, Form(description="http(s) URL of the image.", examples=["https://example.com/dog.jpg"])],
) -> Response:
    """Fetches `url_image` (http/https only; private and loopback addresses refused unless allowlisted),
    runs the model and answers in the requested format."""
    data = await fetch.fetch_image_bytes(url_image, service.settings)
    return await answer(request, service, form, data, "url")


@router.post("/infer/file", summary="Segment an uploaded image", responses=_RESPONSES, response_class=Response)
@router.post("/infer/file/", include_in_schema=False, response_class=Response)
async def infer_file(
    request: Request,
    form: InferRequestDep,
    service: InferenceDep,
    file: Annotated[UploadFile, File(description="The image (JPEG, PNG, WebP, GIF, BMP, TIFF; judged by its bytes).")],
) -> Response:
    """Runs the model on the uploaded image and answers in the requested format."""
    data = await file.read()
    return await answer(request, service, form, data, "file")
