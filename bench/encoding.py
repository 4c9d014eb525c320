"""The JSON answer (response_format=json) for all three results, encoded two ways in-process on the same arrays:
the gateway's own encoder (orjson over numpy) versus ``tolist()`` + ``json.dumps`` (the first version's)."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from gateway.contract import ONNX_RUNTIME, RESULT_TO_OUTPUT

# The model contract's output names → the API's result names (the gateway's mapping, reversed).
RESULT_NAMES = {output: result for result, output in RESULT_TO_OUTPUT.items()}


def envelope(requested_results: dict) -> dict:
    return {
        "Status": "OK",
        "infer_model_type": ONNX_RUNTIME,
        "image_type": "file",
        "requested_results": requested_results,
    }


def encode_with_tolist(arrays: dict[str, np.ndarray]) -> bytes:
    return json.dumps(envelope({name: array.tolist() for name, array in arrays.items()})).encode()


def gateway_encoder() -> tuple[str, Callable[[dict[str, np.ndarray]], bytes]]:
    """The gateway's own JSON renderer, as it answers `/infer/*` with response_format=json."""
    from gateway.domain import RESULT_TYPES, InferenceResult, ModelInfo
    from gateway.results.json_format import render_json

    model = ModelInfo("deeplabv3_onnx", "deeplabv3", ONNX_RUNTIME, tuple(f"class{i}" for i in range(256)), (0, 0), 8)

    def encode(arrays: dict[str, np.ndarray]) -> bytes:
        result = InferenceResult(model=model, image_type="file", requested=RESULT_TYPES, arrays=arrays)
        return bytes(render_json(result).body)

    return "gateway.results.json_format.render_json", encode


def compare(model_outputs: dict[str, np.ndarray], fast_repeats: int = 3, slow_repeats: int = 1) -> dict:
    """Time both encoders on the arrays of ONE image (batch dim dropped); median of the repeats."""
    arrays = {
        RESULT_NAMES[name]: np.ascontiguousarray(array[0])
        for name, array in model_outputs.items()
        if name in RESULT_NAMES
    }  # the API's three result types (the confidence output is no result type of its own)
    fast_name, fast = gateway_encoder()
    fast_s, fast_bytes = _time(fast, arrays, fast_repeats)
    slow_s, slow_bytes = _time(encode_with_tolist, arrays, slow_repeats)
    return {
        "encoder": fast_name,
        "fast_ms": round(fast_s * 1000, 1),
        "fast_bytes": fast_bytes,
        "tolist_json_dumps_ms": round(slow_s * 1000, 1),
        "tolist_json_dumps_bytes": slow_bytes,
        "speedup": round(slow_s / fast_s, 2),
    }


def _time(
    encode: Callable[[dict[str, np.ndarray]], bytes], arrays: dict[str, np.ndarray], repeats: int
) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        size = len(encode(arrays))
        times.append(time.perf_counter() - started)
    return statistics.median(times), size
