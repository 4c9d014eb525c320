"""The first request after a model is (re)loaded, against its warm p50 (Triton's model_warmup: issue 23).

Triton reloads the model through its model-control API (`load_model`: explicit mode, as the embedded launcher
and compose run it), which returns once the model is READY, its warm-up samples run; then one timed map-only
request, then the warm ones. The ratio says what the first user after a (re)load pays.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import tritonclient.grpc as grpcclient

from gateway.contract import INPUT_NAME, SEGMENTATION_MAP

WARM_REQUESTS = 7


def first_request_vs_warm(triton_grpc_url: str, model: str, model_input: np.ndarray) -> dict:
    """{first_ms, warm_p50_ms, ratio, reload_s}: map-only requests of ``model_input`` ([1,] 3, H, W) to ``model``."""
    client = grpcclient.InferenceServerClient(triton_grpc_url)
    batch = np.ascontiguousarray(model_input if model_input.ndim == 4 else model_input[np.newaxis])
    tensor = grpcclient.InferInput(INPUT_NAME, list(batch.shape), "UINT8")
    tensor.set_data_from_numpy(batch)
    wanted = [grpcclient.InferRequestedOutput(SEGMENTATION_MAP)]

    def timed() -> float:
        started = time.perf_counter()
        client.infer(model, [tensor], outputs=wanted)
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    client.load_model(model)  # a reload: READY only after its warm-up samples
    reload_s = time.perf_counter() - started
    first = timed()
    warm = statistics.median(timed() for _ in range(WARM_REQUESTS))
    client.close()
    return {
        "first_ms": round(first, 2),
        "warm_p50_ms": round(warm, 2),
        "ratio": round(first / warm, 3),
        "reload_s": round(reload_s, 2),
    }
