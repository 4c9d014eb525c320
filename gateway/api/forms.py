"""The form fields every inference endpoint shares, parsed and checked once at the edge into an ``InferRequest``.

From a form (``InferRequestDep``, FastAPI's ``Form`` fields, documented in the OpenAPI page) or from a raw-body
upload's query string (``infer_request_from_query``); both go through ``parse_infer_request``, which answers 400
naming a bad value. Downstream code takes the typed values as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, Header, Request
from fastapi.exceptions import RequestValidationError

from gateway.api.deps import label_format, label_runtime
from gateway.contract import ONNX_RUNTIME
from gateway.defaults import DEFAULT_FAMILY
from gateway.domain import MASK_SIZES, RESULT_TYPES, RUNTIMES, RenderOptions
from gateway.inference import check_runtime, parse_flag, parse_result_types
from gateway.results import registry
from gateway.results.resize import check_mask_size


@dataclass(frozen=True)
class InferRequest:
    """The form fields every inference endpoint shares, checked before any work is done."""

    runtime: str
    requested: tuple[str, ...]  # what the answer reports
    compute: tuple[str, ...]  # what Triton must compute for the answer's format
    model: str | None
    options: RenderOptions


def enum_schema(values: Iterable[str]) -> Callable[[dict[str, Any]], None]:
    """OpenAPI ``json_schema_extra`` for an optional field (``str | None`` or ``list[str] | None``) whose strings
    must be one of ``values``: the enum goes on the string (or the array's items), not beside the anyOf."""
    allowed = list(values)

    def extra(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") == "array":
                branch["items"] = {"type": "string", "enum": allowed}
            elif branch.get("type") == "string":
                branch["enum"] = allowed

    return extra


def parse_infer_request(
    request: Request,
    infer_model_type: str,
    requested_results_types: list[str] | None = None,
    model: str | None = None,
    response_format: str | None = None,
    mask_size: str = "model",
    legend: str | None = None,
    accept: str | None = None,
) -> InferRequest:
    """The shared fields, from a form or a raw-body upload's query, checked once (400 naming a bad value)."""
    runtime = check_runtime(infer_model_type)
    label_runtime(request, runtime)
    requested = parse_result_types(requested_results_types)
    negotiated = registry.negotiate(response_format, accept)
    label_format(request, negotiated)
    return InferRequest(
        runtime=runtime,
        requested=requested,
        compute=registry.required_results(negotiated, requested),
        model=model or None,
        options=RenderOptions(
            response_format=negotiated,
            mask_size=check_mask_size(mask_size),
            legend=parse_flag("legend", legend, default=True),
        ),
    )


def infer_request(
    request: Request,
    infer_model_type: Annotated[
        str,
        Form(
            description=f"Backend that runs the model: one of {', '.join(RUNTIMES)}.",
            examples=[ONNX_RUNTIME],
            json_schema_extra={"enum": list(RUNTIMES)},
        ),
    ],
    requested_results_types: Annotated[
        list[str] | None,
        Form(
            description="Results to return, in this order: any of " + ", ".join(RESULT_TYPES) + ". Repeat the field "
            "or send one comma-separated value. Absent or empty: all three (logits and pixels_distribution are "
            "classes × height × width floats each at the model's input size (512×512 for the default model: about "
            "65 MB of JSON each): ask only for what you need, or use response_format=npz).",
            examples=[["segmentation_map"]],
            json_schema_extra=enum_schema(RESULT_TYPES),
        ),
    ] = None,
    model: Annotated[
        str | None,
        Form(
            description="Model family (see GET /models); default: the service's default model.",
            examples=[DEFAULT_FAMILY],
        ),
    ] = None,
    response_format: Annotated[
        str | None,
        Form(
            description=registry.RESPONSE_FORMAT_DESCRIPTION,
            examples=["json"],
            json_schema_extra=enum_schema(registry.FORMATS),
        ),
    ] = None,
    mask_size: Annotated[
        str,
        Form(
            description=registry.MASK_SIZE_DESCRIPTION, examples=["model"], json_schema_extra={"enum": list(MASK_SIZES)}
        ),
    ] = "model",
    legend: Annotated[
        str | None,
        Form(
            description=registry.LEGEND_DESCRIPTION + " `true` (default) or `false`.",
            examples=["true"],
            json_schema_extra={"enum": ["true", "false"]},
        ),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> InferRequest:
    return parse_infer_request(
        request, infer_model_type, requested_results_types, model, response_format, mask_size, legend, accept
    )


InferRequestDep = Annotated[InferRequest, Depends(infer_request)]


def infer_request_from_query(request: Request) -> InferRequest:
    """A raw-body upload's fields, from its query string; a missing infer_model_type names the query."""
    query = request.query_params
    infer_model_type = query.get("infer_model_type")
    if infer_model_type is None:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "infer_model_type"),
                    "type": "missing",
                    "msg": "Field required (a raw-body upload sends the fields as query parameters)",
                }
            ]
        )
    return parse_infer_request(
        request,
        infer_model_type,
        query.getlist("requested_results_types") or None,
        query.get("model"),
        query.get("response_format"),
        query.get("mask_size") or "model",
        query.get("legend"),
        request.headers.get("accept"),
    )
