"""POST /infer/url and /infer/file: the existing clients' contract. Thin: obtain the bytes, infer, render."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.routing import APIRoute
from starlette.responses import Response

from gateway import fetch
from gateway.api.answers import JsonAnswer
from gateway.api.deps import InferenceDep, label_family
from gateway.api.forms import InferRequest, InferRequestDep, infer_request_from_query
from gateway.domain import MASK_SIZES, RESULT_TYPES, RUNTIMES
from gateway.errors import error_responses
from gateway.inference import (
    ImageType,
    InferenceService,
    file_schema,
    upload_bytes,
    weights_headers,
)
from gateway.results import registry

router = APIRouter(tags=["inference"])


_RESPONSES = {
    200: {
        "model": JsonAnswer,
        "description": "The results, in the requested format (JSON: json, summary or bundle).",
        "content": {fmt.media_type: {} for fmt in registry.FORMATS.values() if fmt.media_type != "application/json"},
    },
    **error_responses(400, 401, 413, 415, 422, 500, 502, 503, 504),
}


async def answer(
    request: Request, service: InferenceService, form: InferRequest, data: bytes, image_type: ImageType
) -> Response:
    model = await service.resolve_model(form.model, form.runtime)
    label_family(request, model.family)
    result = await service.infer(
        data,
        image_type=image_type,
        model=model,
        requested=form.requested,
        compute=form.compute,
        options=form.options,
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
# Types documented for a raw-body upload; any body that is not a form is taken as the photo (its bytes decide
# what it is), so image/jpg, image/pjpeg or curl's default --data-binary type work too.
RAW_IMAGE_TYPES: tuple[str, ...] = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/bmp",
    "image/tiff",
    "application/octet-stream",
)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def is_raw_body(request: Request) -> bool:
    """A multipart form is a form; so is a urlencoded body with no query string (an HTML form's fields).
    Anything else (an image type, octet-stream, no type, curl's urlencoded --data-binary with the fields in
    the query) is the photo itself."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        return False
    return not (media_type == "application/x-www-form-urlencoded" and not request.url.query)


async def infer_raw_body(request: Request) -> Response:
    """The photo as the body, the other fields as query parameters: the same checks, limits and path."""
    form = infer_request_from_query(request)
    data = await request.body()  # the body limits apply as it is read (gateway/limits.py)
    return await answer(request, request.app.state.inference, form, data, "file")


class RawImageBodyRoute(APIRoute):
    """/infer/file also takes the photo as the request body (``Content-Type: image/jpeg`` etc.) with the other
    fields as query parameters; a form goes to the route's own handler."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await (infer_raw_body(request) if is_raw_body(request) else handler(request))

        return route


def _query_parameter(name: str, description: str, required: bool = False, **schema: object) -> dict[str, object]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": {"type": "string", **schema},
        "description": f"Raw-body uploads only (Content-Type: image/...): {description}",
    }


_RAW_BODY_OPENAPI = {
    "requestBody": {
        "content": {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in RAW_IMAGE_TYPES}
    },
    "parameters": [
        _query_parameter(
            "infer_model_type",
            "as the form field (required; a multipart form sends it as a form field instead).",
            required=True,
            enum=list(RUNTIMES),
        ),
        {
            **_query_parameter("requested_results_types", "as the form field; repeat it or comma-separate."),
            "schema": {"type": "array", "items": {"type": "string", "enum": list(RESULT_TYPES)}},
            "style": "form",
            "explode": True,
        },
        _query_parameter("model", "as the form field."),
        _query_parameter("response_format", "as the form field.", enum=list(registry.FORMATS)),
        _query_parameter("mask_size", "as the form field.", enum=list(MASK_SIZES)),
        _query_parameter("legend", "as the form field.", enum=["true", "false"]),
    ],
}

file_router = APIRouter(route_class=RawImageBodyRoute)


@file_router.post(
    "/infer/file",
    summary="Segment an uploaded image",
    responses=_RESPONSES,
    response_class=Response,
    openapi_extra=_RAW_BODY_OPENAPI,
)
@file_router.post("/infer/file/", include_in_schema=False, response_class=Response)
async def infer_file(
    request: Request,
    form: InferRequestDep,
    service: InferenceDep,
    file: Annotated[
        UploadFile | str,
        File(
            description="The image (JPEG, PNG, WebP, GIF, BMP, TIFF; judged by its bytes).",
            json_schema_extra=file_schema,
        ),
    ],
) -> Response:
    """Runs the model on the uploaded image and answers in the requested format.

    Two ways to send the photo: a multipart form (`-F file=@dog.jpg`, the other fields as form fields), or
    the photo itself as the body with its image Content-Type and the other fields as query parameters:
    `curl --data-binary @dog.jpg -H 'Content-Type: image/jpeg' '.../infer/file?infer_model_type=onnx'`."""
    data = await upload_bytes("file", file)
    return await answer(request, service, form, data, "file")


router.include_router(file_router)
