"""POST /infer/files: several images in one request, sent to Triton as one batch.

The answer is one JSON object: ``{"Status": "OK", "infer_model_type", "response_format", "succeeded",
"failed", "results": [...]}`` with one item per ``file`` field, in the order sent. An item is either
``{"index", "filename", "status": 200, "result": <exactly what /infer/file answers for that image>}``
or ``{"index", "filename", "status": <4xx/5xx>, "detail": "..."}`` for a file that could not be used.
A bad file fails alone; a Triton failure fails the request (it would fail every image).
Only JSON formats (json, summary, bundle) can be batched; PNG/overlay/npz are one image per request. The
whole answer is bounded by GATEWAY_MAX_ANSWER_BYTES (gateway/answer_size.py: 413 past it, before inference).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.responses import Response

from gateway.api.deps import InferenceDep, label_family
from gateway.api.forms import InferRequestDep
from gateway.contract import ONNX_RUNTIME
from gateway.domain import InferenceResult, RenderOptions
from gateway.errors import BadRequest, ServiceError, TooLarge, error_responses
from gateway.inference import InferenceService, file_schema, upload_bytes, weights_headers
from gateway.results import registry

router = APIRouter(tags=["inference"])


class BatchItem(BaseModel):
    index: int = Field(description="Position of the file among the `file` fields, from 0.", examples=[0])
    filename: str | None = Field(description="The file's name as uploaded.", examples=["dog1.jpg"])
    status: int = Field(description="200, or the status /infer/file would have answered for this file.", examples=[200])
    result: dict[str, Any] | None = Field(
        None, description="When status is 200: the body /infer/file answers for this image in this format."
    )
    detail: str | None = Field(None, description="When status is not 200: what was wrong with this file.")


class BatchResponse(BaseModel):
    Status: str = Field(description="`OK` once the batch ran; look at each item's status.", examples=["OK"])
    infer_model_type: str = Field(examples=[ONNX_RUNTIME])
    response_format: str = Field(description="Format of each item's `result`.", examples=["summary"])
    succeeded: int = Field(description="Items with status 200.", examples=[2])
    failed: int = Field(description="Items with an error.", examples=[1])
    results: list[BatchItem]


def _check_batch(format_name: str, count: int, max_files: int) -> None:
    if not registry.is_batchable(format_name):
        raise BadRequest(
            f"response_format '{format_name}' cannot be batched; allowed in /infer/files: "
            f"{registry.batchable_formats()} (send other formats one image at a time to /infer/file)."
        )
    if count > max_files:
        raise TooLarge(f"{count} files in one batch; the limit is {max_files} (GATEWAY_MAX_BATCH_FILES).")


async def _item(
    service: InferenceService,
    index: int,
    filename: str | None,
    outcome: InferenceResult | ServiceError,
    options: RenderOptions,
) -> dict[str, Any]:
    if not isinstance(outcome, ServiceError):
        try:
            rendered = await service.run_cpu(registry.render, outcome, options)
            # The rendered body is already JSON: embed its bytes instead of parsing and re-encoding it.
            return {"index": index, "filename": filename, "status": 200, "result": orjson.Fragment(rendered.body)}
        except ServiceError as error:
            outcome = error
    return {"index": index, "filename": filename, "status": outcome.status_code, "detail": outcome.detail}


@router.post(
    "/infer/files",
    summary="Segment several uploaded images in one batch",
    response_model=BatchResponse,
    response_class=Response,
    responses={
        200: {"model": BatchResponse, "description": "One item per file, in order."},
        **error_responses(400, 401, 413, 422, 500, 503, 504),
    },
)
@router.post("/infer/files/", include_in_schema=False, response_class=Response)
async def infer_files(
    request: Request,
    form: InferRequestDep,
    service: InferenceDep,
    file: Annotated[
        list[UploadFile | str],
        File(
            description="The images: repeat the `file` field once per image. "
            "Up to GATEWAY_MAX_BATCH_FILES (default 8).",
            json_schema_extra=lambda schema: file_schema(schema["items"]),
        ),
    ],
) -> Response:
    """Runs the model on every image as one Triton batch (split by the model's max batch size) and
    answers per image, in order; a file that is not a usable image gets its own error item."""
    format_name = form.options.response_format
    _check_batch(format_name, len(file), service.settings.max_batch_files)
    model = await service.resolve_model(form.model, form.runtime)
    label_family(request, model.family)
    contents = [await upload_bytes("file", upload) for upload in file]
    outcomes = await service.infer_many(
        contents,
        image_type="file",
        model=model,
        requested=form.requested,
        compute=form.compute,
        options=form.options,
    )
    items = [
        await _item(service, index, None if isinstance(upload, str) else upload.filename, outcome, form.options)
        for index, (upload, outcome) in enumerate(zip(file, outcomes, strict=True))
    ]
    failed = sum(item["status"] != 200 for item in items)
    body = {
        "Status": "OK",
        "infer_model_type": model.runtime,
        "response_format": format_name,
        "succeeded": len(items) - failed,
        "failed": failed,
        "results": items,
    }
    return Response(orjson.dumps(body), media_type="application/json", headers=weights_headers(model))
