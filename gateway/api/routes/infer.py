"""POST /infer/url and /infer/file: today's contract. Thin: obtain the bytes, infer, render."""
from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Request, UploadFile
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.types import Message

from gateway import fetch
from gateway.api.deps import InferenceDep, label_backend, label_family, label_format
from gateway.domain import RESULT_TYPES, RUNTIMES, RenderOptions
from gateway.errors import error_responses
from gateway.inference import (
    ImageType,
    InferenceService,
    check_runtime,
    file_schema,
    parse_flag,
    parse_result_types,
    upload_bytes,
    weights_headers,
)
from gateway.results import registry
from gateway.results.resize import check_mask_size

router = APIRouter(tags=["inference"])


@dataclass(frozen=True)
class InferRequest:
    """The form fields every inference endpoint shares, checked before any work is done."""

    runtime: str
    requested: tuple[str, ...]  # what the answer reports
    compute: tuple[str, ...]  # what Triton must compute for the answer's format
    model: str | None
    options: RenderOptions


def infer_request(
    request: Request,
    infer_model_type: Annotated[str, Form(
        description=f"Backend that runs the model: one of {', '.join(RUNTIMES)}.", examples=["onnx"],
        json_schema_extra={"enum": list(RUNTIMES)},
    )],
    requested_results_types: Annotated[list[str] | None, Form(
        description="Results to return, in this order: any of " + ", ".join(RESULT_TYPES) + ". Repeat the field "
        "or send one comma-separated value. Absent or empty: all three (logits and pixels_distribution are "
        "classes × height × width floats each at the model's input size (512×512 for the default model: about "
        "65 MB of JSON each): ask only for what you need, or use response_format=npz).",
        examples=[["segmentation_map"]],
    )] = None,
    model: Annotated[str | None, Form(
        description="Model family (see GET /models); default: the service's default model.", examples=["deeplabv3"],
    )] = None,
    response_format: Annotated[str | None, Form(
        description=registry.RESPONSE_FORMAT_DESCRIPTION, examples=["json"],
    )] = None,
    mask_size: Annotated[str, Form(description=registry.MASK_SIZE_DESCRIPTION, examples=["model"])] = "model",
    legend: Annotated[str | None, Form(description=registry.LEGEND_DESCRIPTION + " `true` (default) or `false`.",
                                       examples=["true"], json_schema_extra={"enum": ["true", "false"]})] = None,
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
        options=RenderOptions(
            response_format=response_format, mask_size=check_mask_size(mask_size),
            legend=parse_flag("legend", legend, default=True),
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
    response = await service.run_cpu(registry.render, result, form.options)
    response.headers.update(weights_headers(model))
    return response


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


# --- POST /infer/file with the photo as the whole body ---------------------------------------------
RAW_IMAGE_TYPES: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff",
                                    "application/octet-stream")


class RawImageBodyRoute(APIRoute):
    """Also takes the photo as the request body (``Content-Type: image/jpeg`` etc.) with the other fields as
    query parameters. Such a request is rewritten into the multipart form the route declares, so both kinds
    go through the same validation, limits and inference path."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type in RAW_IMAGE_TYPES:
                request = await _as_multipart(request, media_type)
            return await handler(request)

        return route


async def _as_multipart(request: Request, media_type: str) -> Request:
    boundary = secrets.token_hex(16)
    body = await request.body()  # the body size limit applies as it is read
    parts = []
    for key, value in request.query_params.multi_items():
        if key != "file":
            name = key.replace('"', "%22").replace("\r", "").replace("\n", "")
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo"\r\n'
                 f"Content-Type: {media_type}\r\n\r\n".encode() + body)
    form = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()
    headers = [(key, value) for key, value in request.scope["headers"] if key not in (b"content-type", b"content-length")]
    headers += [(b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
                (b"content-length", str(len(form)).encode())]
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await request.receive()  # e.g. the client disconnecting
        sent = True
        return {"type": "http.request", "body": form, "more_body": False}

    return Request({**request.scope, "headers": headers}, receive)


def _query_parameter(name: str, description: str, required: bool = False, **schema: object) -> dict[str, object]:
    return {"name": name, "in": "query", "required": required, "schema": {"type": "string", **schema},
            "description": f"Raw-body uploads only (Content-Type: image/...): {description}"}


_RAW_BODY_OPENAPI = {
    "requestBody": {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}
                                for media_type in RAW_IMAGE_TYPES}},
    "parameters": [
        _query_parameter("infer_model_type", "as the form field (required).", enum=list(RUNTIMES)),
        _query_parameter("requested_results_types", "as the form field; repeat it or comma-separate."),
        _query_parameter("model", "as the form field."),
        _query_parameter("response_format", "as the form field.", enum=list(registry.FORMATS)),
        _query_parameter("mask_size", "as the form field.", enum=["model", "original"]),
        _query_parameter("legend", "as the form field.", enum=["true", "false"]),
    ],
}

file_router = APIRouter(route_class=RawImageBodyRoute)


@file_router.post("/infer/file", summary="Segment an uploaded image", responses=_RESPONSES, response_class=Response,
                  openapi_extra=_RAW_BODY_OPENAPI)
@file_router.post("/infer/file/", include_in_schema=False, response_class=Response)
async def infer_file(
    request: Request,
    form: InferRequestDep,
    service: InferenceDep,
    file: Annotated[UploadFile | str, File(
        description="The image (JPEG, PNG, WebP, GIF, BMP, TIFF; judged by its bytes).",
        json_schema_extra=file_schema,
    )],
) -> Response:
    """Runs the model on the uploaded image and answers in the requested format.

    Two ways to send the photo: a multipart form (`-F file=@dog.jpg`, the other fields as form fields), or
    the photo itself as the body with its image Content-Type and the other fields as query parameters:
    `curl --data-binary @dog.jpg -H 'Content-Type: image/jpeg' '.../infer/file?infer_model_type=onnx'`."""
    data = await upload_bytes("file", file)
    return await answer(request, service, form, data, "file")


router.include_router(file_router)
