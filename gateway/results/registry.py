"""Response formats: ``response_format`` (or ``Accept``) → a renderer. ``mask_size`` resizing happens here too.

INTERFACE STUB (owner: outputs engineer). Until it is filled in, only today's JSON exists.
"""
from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from gateway.results import InferenceResult


@dataclass(frozen=True)
class RenderOptions:
    response_format: str = "json"  # json | summary | png | overlay | npz ...
    mask_size: str = "model"  # model | original
    legend: bool = True


def negotiate(response_format: str | None, accept: str | None) -> str:
    """The format to answer in; raises gateway.errors.BadRequest naming an unknown format."""
    return response_format or "json"


def render(result: InferenceResult, options: RenderOptions) -> Response:
    from gateway.results.json_format import render_json

    return render_json(result, options)
