"""The default JSON answer, what existing clients read:
``{"Status": "OK", ..., "requested_results": {name: nested lists}}``.

Logits and distributions are 21×512×512 floats (~65 MB of text each), so they are encoded by orjson
straight from the numpy buffers: no ``tolist()`` (millions of Python floats) and no ``json.dumps``.
"""

from __future__ import annotations

import numpy as np
import orjson
from starlette.responses import Response

from gateway.domain import InferenceResult


def json_body(result: InferenceResult) -> dict:
    """The answer as a dict whose arrays are still numpy (orjson serialises them natively)."""
    return {
        "Status": "OK",
        "infer_model_type": result.model.runtime,
        "image_type": result.image_type,
        # orjson's numpy support needs C-contiguous, native-endian arrays; Triton's already are.
        "requested_results": {name: np.ascontiguousarray(result.arrays[name]) for name in result.requested},
    }


def encode_json(body: dict) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def render_json(result: InferenceResult) -> Response:
    return Response(encode_json(json_body(result)), media_type="application/json")
