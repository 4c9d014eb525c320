"""``response_format=bundle``: everything a client needs to write a mask, an overlay and a summary, from ONE inference.

A JSON object: the summary's fields (exactly what ``response_format=summary`` answers), plus ``labels``
(every class name, in class-index order) and ``mask_png``: the segmentation map at ``mask_size`` as the
base64 of the palette PNG ``response_format=png`` answers (pixel value = class index). A client paints
the overlay itself from the photo it already has. JSON, so it can be batched in ``/infer/files``; the
`segment` CLI and the Python client use it.
"""

from __future__ import annotations

import base64

from starlette.responses import JSONResponse

from gateway.domain import InferenceResult
from gateway.results.palette import encode_mask_png
from gateway.results.resize import check_mask_size, original_size, resize_map
from gateway.results.summary import build_summary


def render_bundle(result: InferenceResult, mask_size: str) -> JSONResponse:
    mode = check_mask_size(mask_size)
    segmentation_map = result.arrays["segmentation_map"]
    if mode == "original":
        segmentation_map = resize_map(segmentation_map, original_size(result))
    body = build_summary(result, mode)
    body["labels"] = list(result.model.labels)
    body["mask_png"] = base64.b64encode(encode_mask_png(segmentation_map, result.model.labels)).decode("ascii")
    return JSONResponse(body)
