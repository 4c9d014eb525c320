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

from gateway.domain import InferenceResult, MaskSize
from gateway.results.palette import encode_mask_png
from gateway.results.summary import build_summary


def render_bundle(result: InferenceResult, mask_size: MaskSize) -> JSONResponse:
    """``result``'s map is already at the answer's size (gateway.results.registry.at_answer_size)."""
    body = build_summary(result, mask_size)
    body["labels"] = list(result.model.labels)
    mask = encode_mask_png(result.arrays["segmentation_map"], result.model.labels)
    body["mask_png"] = base64.b64encode(mask).decode("ascii")
    return JSONResponse(body)
