"""The Open Inference Protocol (KServe v2 REST) on the gateway, beside its own routes (docs/protocols.md).

A model of the protocol is a family (``deeplabv3``, see GET /models), in one version, ``1``. It takes one input,
``image``: ``BYTES`` of shape [N] or [N, 1], the N encoded photos (binary, Triton's binary-data extension, or
base64 strings in JSON), at most GATEWAY_MAX_BATCH_FILES of them; and answers the outputs asked for by name
(every one when none is named): the model contract's (gateway/contract.py) that the gateway serves as results
(gateway.domain.COMPUTED_TO_OUTPUT), each [N, ...] — ``segmentation_map`` UINT8 [N, H, W], ``logits`` and
``probabilities`` FP32 [N, C, H, W], ``confidence`` FP32 [N, H, W] (the winning probability per pixel).
Request ``parameters``: ``infer_model_type`` (torch | onnx | onnx_int8,
default onnx, the API's documented default), ``mask_size`` (model | original, default model) and
``binary_data_output``. With ``mask_size=original`` the photos of one request must all have the same size (a
tensor has one shape), else 400 naming the sizes.

The photos take the one inference path of every endpoint (gateway.inference.InferenceService.infer_many: the same
decoding, limits, answer-size bound and Triton calls), so a map is the one /infer/file answers for the photo.
Errors are the protocol's ``{"error": "..."}``: 400 a bad request (naming the field), 404 an unknown model or
version, 413 too large, 503 not ready, 504 Triton too slow. The key check and the body limits run before any
route (gateway/security.py, gateway/limits.py) and answer in the gateway's style, ``{"detail": "..."}``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from gateway.api import v2_protocol
from gateway.api.deps import CatalogueDep, InferenceDep, SettingsDep, TritonDep, label_family, label_runtime
from gateway.api.routes import health
from gateway.api.v2_protocol import BINARY_DATA_OUTPUT, HEADER_LENGTH, InferenceRequest, OutputTensor
from gateway.contract import DEFAULT_RUNTIME, OUTPUT_NAMES, RUNTIMES
from gateway.defaults import DEFAULT_FAMILY
from gateway.domain import (
    COMPUTED_TO_OUTPUT,
    MASK_SIZES,
    InferenceResult,
    MaskSize,
    ModelInfo,
    RenderOptions,
    ResponseFormat,
)
from gateway.errors import BadRequest, ServiceError, TooLarge, UnsupportedMedia, restyle, shown
from gateway.inference import InferenceService, check_runtime, weights_headers
from gateway.results.resize import at_mask_size, check_mask_size

SERVER_NAME = "segmentation-gateway"
# The protocol's optional parts the gateway speaks (Triton's names for them).
EXTENSIONS: tuple[str, ...] = ("binary_tensor_data", "parameters")
MODEL_VERSION = "1"
PLATFORM = "segmentation_gateway"
INPUT_NAME = "image"
# The API requires infer_model_type; onnx is its documented example, and every client's default
# (tests/client/test_defaults.py): the protocol's requests may leave it out.
# The model contract's outputs the gateway serves (as results), in the contract's order: an output added to both
# appears here, in the metadata and in the answers.
OUTPUT_TO_RESULT: dict[str, str] = {output: result for result, output in COMPUTED_TO_OUTPUT.items()}
OUTPUTS: tuple[str, ...] = tuple(name for name in OUTPUT_NAMES if name in OUTPUT_TO_RESULT)
REQUEST_PARAMETERS: tuple[str, ...] = ("infer_model_type", "mask_size", BINARY_DATA_OUTPUT)
# Triton's own request parameters (tritonclient sends them when asked to): accepted, and nothing to do here.
IGNORED_PARAMETERS = frozenset({"sequence_id", "sequence_start", "sequence_end", "priority", "timeout"})


class NotFound(ServiceError):  # an unknown model or version
    status_code = 404


def error_answer(status_code: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=status_code, headers=dict(headers or {}))


class ProtocolRoute(APIRoute):
    """Errors of these routes in the protocol's shape, ``{"error": "..."}``, with the status they carry."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as error:
                return error_answer(error.status_code, error.detail, error.headers)
            except StarletteHTTPException as error:  # the body limits, raised while the body is read
                return error_answer(error.status_code, restyle(str(error.detail)), error.headers)
            except RequestValidationError as error:
                return error_answer(400, "; ".join(str(item.get("msg", "invalid")) for item in error.errors()))

        return route


router = APIRouter(prefix="/v2", tags=["open inference protocol"], route_class=ProtocolRoute)


# --- the answers' shapes, for the OpenAPI page (the protocol's JSON objects) ------------------------------
class ServerMetadata(BaseModel):
    name: str = Field(examples=[SERVER_NAME])
    version: str = Field(description="The gateway's version.", examples=["1.0.0"])
    extensions: list[str] = Field(examples=[list(EXTENSIONS)])


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str = Field(examples=[DEFAULT_FAMILY])
    ready: bool


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1: a dimension of any size.")


class ModelMetadata(BaseModel):
    name: str = Field(description="The model family.", examples=[DEFAULT_FAMILY])
    versions: list[str] = Field(examples=[[MODEL_VERSION]])
    platform: str = Field(examples=[PLATFORM])
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = Field(None, description="`binary_data_size` when the output is binary.")
    data: list[Any] | None = Field(None, description="The tensor, row-major and flat, when the output is JSON.")


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "What went wrong, naming the field or value."}},
    "required": ["error"],
}
# Answered before the route (gateway/security.py, gateway/limits.py), in the gateway's own style.
_DETAIL_SCHEMA = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
_MEANINGS = {
    400: "A bad request: the error names the field and what was expected.",
    401: "An API key is configured and the request has none or a wrong one (answered by the key check).",
    404: "No such model (family) or version.",
    413: "Too many photos, a photo, the body or the answer over its limit.",
    503: "Triton or the model is not ready, or the gateway is busy (see Retry-After).",
    504: "Triton took longer than its timeout.",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    def schema(code: int) -> dict[str, Any]:
        if code == 401:
            return _DETAIL_SCHEMA
        if code in (413, 503):  # from the route, or from the limits before it
            return {"anyOf": [_ERROR_SCHEMA, _DETAIL_SCHEMA]}
        return _ERROR_SCHEMA

    return {
        code: {"description": _MEANINGS[code], "content": {"application/json": {"schema": schema(code)}}}
        for code in codes
    }


_FAMILY = Annotated[str, Path(description="The model family (GET /models).", examples=[DEFAULT_FAMILY])]
_VERSION = Annotated[str, Path(description=f"The model's version: {MODEL_VERSION}.", examples=[MODEL_VERSION])]


# --- health and metadata ------------------------------------------------------------------------
@router.get("", response_model=ServerMetadata, summary="Server metadata", responses=_errors(401))
async def server_metadata(request: Request) -> ServerMetadata:
    """The server's name, version and the protocol extensions it speaks."""
    return ServerMetadata(name=SERVER_NAME, version=request.app.version, extensions=list(EXTENSIONS))


@router.get("/health/live", response_model=ServerLive, summary="Liveness (the protocol's): as GET /healthcheck")
async def server_live() -> ServerLive:
    """200 `{"live": true}` without contacting Triton; open like /healthcheck."""
    return ServerLive(live=True)


@router.get(
    "/health/ready",
    response_model=ServerReady,
    summary="Readiness (the protocol's): as GET /ready",
    responses=_errors(503, 504),
)
async def server_ready(
    request: Request, triton: TritonDep, catalogue: CatalogueDep, settings: SettingsDep
) -> ServerReady:
    """200 `{"ready": true}` exactly when GET /ready answers 200, else 503 naming what is not ready. Open."""
    await health.ready(request, triton, catalogue, settings)
    return ServerReady(ready=True)


def _check_version(family: str, version: str | None) -> None:
    if version is not None and version != MODEL_VERSION:
        raise NotFound(f"model '{shown(family)}' has no version '{shown(version)}'; versions: {MODEL_VERSION}")


async def _resolve(service: InferenceService, family: str, runtime: str) -> ModelInfo:
    """The model serving ``family`` with ``runtime``: 404 for a family Triton does not have, else as resolve_model."""
    try:
        return await service.resolve_model(family, runtime)
    except BadRequest as error:
        if family not in {info.family for info in await service.catalogue.models()}:
            raise NotFound(error.detail) from None
        raise


async def _served(service: InferenceService, family: str) -> list[ModelInfo]:
    """The family's served models (one a backend); 404 unknown, 503 none ready yet."""
    infos = [info for info in await service.catalogue.models() if info.family == family]
    return infos or [await _resolve(service, family, DEFAULT_RUNTIME)]


def _dims(values: Sequence[object]) -> list[int]:
    return [int(str(value)) for value in values]


async def _metadata(service: InferenceService, family: str, version: str | None) -> ModelMetadata:
    _check_version(family, version)
    infos = await _served(service, family)
    info = next((info for info in infos if info.runtime == DEFAULT_RUNTIME), infos[0])
    config = await service.triton.model_config(info.name)
    declared = {output["name"]: output for output in config.get("output", [])}
    outputs = [
        MetadataTensor(
            name=name,
            datatype=str(declared[name]["data_type"]).removeprefix("TYPE_"),
            # [N, ..., H, W]: H and W are the model's size or, with mask_size=original, the photo's.
            shape=[-1, *_dims(declared[name].get("dims", []))[:-2], -1, -1],
        )
        for name in OUTPUTS
        if name in declared
    ]
    return ModelMetadata(
        name=family,
        versions=[MODEL_VERSION],
        platform=PLATFORM,
        inputs=[MetadataTensor(name=INPUT_NAME, datatype=v2_protocol.BYTES, shape=[-1])],
        outputs=outputs,
    )


async def _ready(service: InferenceService, family: str, version: str | None) -> ModelReady:
    _check_version(family, version)
    await _served(service, family)
    return ModelReady(name=family, ready=True)


_MODEL_ERRORS = _errors(401, 404, 503, 504)


@router.get("/models/{family}", summary="Model metadata", response_model=ModelMetadata, responses=_MODEL_ERRORS)
async def model_metadata(family: _FAMILY, service: InferenceDep) -> ModelMetadata:
    """The input (`image`, BYTES [-1]: the encoded photos) and the outputs, as the family serves them."""
    return await _metadata(service, family, None)


@router.get(
    "/models/{family}/versions/{version}",
    summary="Model metadata of a version",
    response_model=ModelMetadata,
    responses=_MODEL_ERRORS,
)
async def model_version_metadata(family: _FAMILY, version: _VERSION, service: InferenceDep) -> ModelMetadata:
    """As GET /v2/models/{family}; the one version is 1."""
    return await _metadata(service, family, version)


@router.get("/models/{family}/ready", summary="Model readiness", response_model=ModelReady, responses=_MODEL_ERRORS)
async def model_ready(family: _FAMILY, service: InferenceDep) -> ModelReady:
    """200 `{"name", "ready": true}` while a backend of the family serves; 503 while none does, 404 unknown."""
    return await _ready(service, family, None)


@router.get(
    "/models/{family}/versions/{version}/ready",
    summary="Model readiness of a version",
    response_model=ModelReady,
    responses=_MODEL_ERRORS,
)
async def model_version_ready(family: _FAMILY, version: _VERSION, service: InferenceDep) -> ModelReady:
    """As GET /v2/models/{family}/ready; the one version is 1."""
    return await _ready(service, family, version)


# --- inference --------------------------------------------------------------------------------
def _options(parameters: dict[str, Any]) -> tuple[str, MaskSize, bool]:
    """The request's runtime, mask size and binary_data_output, checked (400 naming a bad one)."""
    unknown = sorted(set(parameters) - set(REQUEST_PARAMETERS) - IGNORED_PARAMETERS)
    if unknown:
        raise BadRequest(f"unknown request parameter '{shown(unknown[0])}'; allowed: {', '.join(REQUEST_PARAMETERS)}")
    for name in ("infer_model_type", "mask_size"):
        if name in parameters and not isinstance(parameters[name], str):
            raise BadRequest(f"request parameter '{name}' must be a string, not {shown(parameters[name])}")
    binary = parameters.get(BINARY_DATA_OUTPUT, False)
    if not isinstance(binary, bool):
        raise BadRequest(f"request parameter '{BINARY_DATA_OUTPUT}' must be true or false, not {shown(binary)}")
    runtime = check_runtime(parameters.get("infer_model_type", DEFAULT_RUNTIME))
    return runtime, check_mask_size(parameters.get("mask_size", "model")), binary


def _photos(parsed: InferenceRequest, most: int) -> list[bytes]:
    """The encoded photos of the request's one input (BYTES, [N] or [N, 1], 1 <= N <= ``most``)."""
    names = [tensor.name for tensor in parsed.inputs]
    if names != [INPUT_NAME]:
        raise BadRequest(
            f"the model takes one input, '{INPUT_NAME}' (BYTES [N]: the encoded photos); "
            f"the request has {', '.join(repr(shown(name)) for name in names)}"
        )
    (tensor,) = parsed.inputs
    if tensor.datatype != v2_protocol.BYTES:
        raise BadRequest(f"input '{INPUT_NAME}' has datatype {tensor.datatype}; it must be BYTES (the encoded photos)")
    shape = list(tensor.shape)
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or shape[0] < 1:
        raise BadRequest(f"input '{INPUT_NAME}' has shape {shape}; it must be [N] or [N, 1], N photos, N >= 1")
    if shape[0] > most:
        raise TooLarge(f"{shape[0]} photos in one request; the limit is {most} (GATEWAY_MAX_BATCH_FILES)")
    return v2_protocol.bytes_elements(tensor)


def _requested(parsed: InferenceRequest, binary_default: bool) -> list[tuple[str, bool]]:
    """(output, binary) for each output asked for, in the request's order; none named: every output."""
    if parsed.outputs is None:
        return [(name, binary_default) for name in OUTPUTS]
    asked: dict[str, bool] = {}
    for output in parsed.outputs:
        if output.name not in OUTPUTS:
            raise BadRequest(f"unknown output '{shown(output.name)}'; the model's outputs: {', '.join(OUTPUTS)}")
        asked[output.name] = binary_default if output.binary is None else output.binary
    if not asked:
        raise BadRequest(f"'outputs' is empty; leave it out for every output, or name some of: {', '.join(OUTPUTS)}")
    return list(asked.items())


def _photo_error(index: int, error: ServiceError) -> ServiceError:
    """A photo's own error, naming the element; "not an image" is a bad tensor value here (400), not a media type."""
    status = 400 if isinstance(error, UnsupportedMedia) else error.status_code
    return ServiceError(
        f"element {index} of input '{INPUT_NAME}': {error.detail}", status_code=status, headers=error.headers
    )


def _check_sizes(results: Sequence[InferenceResult]) -> None:
    sizes = list(dict.fromkeys(result.original_size for result in results))
    if len(sizes) > 1:
        shown_sizes = ", ".join(f"{size[0]}×{size[1]}" for size in sizes if size is not None)
        raise BadRequest(
            f"with mask_size=original the photos of one request must have one size (an output is one tensor); "
            f"these are {shown_sizes}: send them one per request, or use mask_size=model"
        )


def _encode(
    results: Sequence[InferenceResult], outputs: Sequence[tuple[str, bool]], mask_size: MaskSize, header: dict[str, Any]
) -> tuple[bytes, int | None]:
    """CPU work: the arrays at the answer's size, stacked into [N, ...] tensors, encoded."""
    sized = [at_mask_size(result, mask_size) for result in results]
    tensors = [
        OutputTensor(name, np.stack([result.arrays[OUTPUT_TO_RESULT[name]] for result in sized]), binary)
        for name, binary in outputs
    ]
    return v2_protocol.encode_response(header, tensors)


_BODY_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": HEADER_LENGTH,
            "in": "header",
            "required": False,
            "schema": {"type": "integer", "minimum": 0},
            "description": "Binary-data extension: the bytes of the JSON at the body's start; binary tensor data "
            "follows it (each input's parameters.binary_data_size, in input order).",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "infer_model_type": {"type": "string", "enum": list(RUNTIMES)},
                                "mask_size": {"type": "string", "enum": list(MASK_SIZES)},
                                BINARY_DATA_OUTPUT: {"type": "boolean"},
                            },
                        },
                        "inputs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "shape", "datatype"],
                                "properties": {
                                    "name": {"type": "string", "examples": [INPUT_NAME]},
                                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                                    "datatype": {"type": "string", "enum": list(v2_protocol.DATATYPES)},
                                    "parameters": {
                                        "type": "object",
                                        "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
                                    },
                                    "data": {
                                        "type": "array",
                                        "description": "JSON: the photos' bytes as base64 strings.",
                                        "items": {"type": "string"},
                                    },
                                },
                            },
                        },
                        "outputs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "enum": list(OUTPUTS)},
                                    "parameters": {
                                        "type": "object",
                                        "properties": {"binary_data": {"type": "boolean"}},
                                    },
                                },
                            },
                        },
                    },
                }
            },
            v2_protocol.BINARY_MEDIA_TYPE: {
                "schema": {"type": "string", "format": "binary"},
                "description": f"The JSON request ({HEADER_LENGTH} bytes), then the binary tensor data.",
            },
        },
    },
}
_INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": InferenceResponse,
        "description": "The outputs: JSON, or with any binary output the JSON (its length in the "
        f"{HEADER_LENGTH} header) then the binary outputs, as {v2_protocol.BINARY_MEDIA_TYPE}.",
        "content": {v2_protocol.BINARY_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    **_errors(400, 401, 404, 413, 503, 504),
}


async def _infer(request: Request, service: InferenceService, family: str, version: str | None) -> Response:
    _check_version(family, version)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise BadRequest(f"the Content-Encoding '{shown(encoding)}' is not supported; send the body uncompressed")
    body = await request.body()  # the body limits apply as it is read (gateway/limits.py)
    header, binary = v2_protocol.split_body(body, request.headers.get(HEADER_LENGTH))
    parsed = v2_protocol.parse_request(header, binary)
    runtime, mask_size, binary_default = _options(parsed.parameters)
    label_runtime(request, runtime)
    photos = _photos(parsed, service.settings.max_batch_files)
    outputs = _requested(parsed, binary_default)
    model = await _resolve(service, family, runtime)
    label_family(request, model.family)
    requested = tuple(OUTPUT_TO_RESULT[name] for name, _ in outputs)
    # The answer's size is bounded before Triton is called: JSON figures when any output is JSON, npz's (raw
    # arrays) when all are binary.
    answer: ResponseFormat = "npz" if all(binary for _, binary in outputs) else "json"
    outcomes = await service.infer_many(
        photos,
        image_type="file",
        model=model,
        requested=requested,
        options=RenderOptions(response_format=answer, mask_size=mask_size),
    )
    results: list[InferenceResult] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, ServiceError):
            raise _photo_error(index, outcome)
        results.append(outcome)
    if mask_size == "original":
        _check_sizes(results)
    head: dict[str, Any] = {"model_name": family, "model_version": MODEL_VERSION}
    if parsed.id is not None:
        head["id"] = parsed.id
    head["parameters"] = {"infer_model_type": model.runtime, "mask_size": mask_size}
    content, json_length = await service.run_cpu(_encode, results, outputs, mask_size, head)
    headers = weights_headers(model)
    if json_length is None:
        return Response(content, media_type="application/json", headers=headers)
    headers[HEADER_LENGTH] = str(json_length)
    return Response(content, media_type=v2_protocol.BINARY_MEDIA_TYPE, headers=headers)


@router.post(
    "/models/{family}/infer",
    summary="Inference (the protocol's): encoded photos in, the outputs asked for out",
    response_class=Response,
    responses=_INFER_RESPONSES,
    openapi_extra=_BODY_OPENAPI,
)
async def infer(request: Request, family: _FAMILY, service: InferenceDep) -> Response:
    """Input `image`: BYTES [N] (or [N, 1]), the N encoded photos; binary (tritonclient's `binary_data=True`) or, in
    JSON, base64 strings. Outputs by name (none named: all); `parameters`: `infer_model_type` (default onnx),
    `mask_size` (model | original), `binary_data_output`. With mask_size=original the photos must share one size."""
    return await _infer(request, service, family, None)


@router.post(
    "/models/{family}/versions/{version}/infer",
    summary="Inference on a version",
    response_class=Response,
    responses=_INFER_RESPONSES,
    openapi_extra=_BODY_OPENAPI,
)
async def infer_version(request: Request, family: _FAMILY, version: _VERSION, service: InferenceDep) -> Response:
    """As POST /v2/models/{family}/infer; the one version is 1."""
    return await _infer(request, service, family, version)
