"""Photos straight to Triton (issue 23): map-only requests of the encoded photo to `<model>_photo__segmentation_map`
(decoding and resizing in Triton's Python backend), against the tensor model fed the same photo already decoded
and resized by the client, interleaved request by request so the machine's drift cancels."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import tritonclient.grpc as grpcclient

from gateway.contract import INPUT_NAME, PHOTO_INPUT_NAME, SEGMENTATION_MAP, partial_model_name, photo_model_name

REQUESTS = 9


def photo_vs_tensor(triton_grpc_url: str, model: str, photo: bytes, model_input: np.ndarray) -> dict:
    """{photo_p50_ms, tensor_p50_ms, photo_vs_tensor, photos_per_s} for ``model`` (a full model's name)."""
    client = grpcclient.InferenceServerClient(triton_grpc_url)
    wanted = [grpcclient.InferRequestedOutput(SEGMENTATION_MAP)]
    encoded = grpcclient.InferInput(PHOTO_INPUT_NAME, [1, 1], "BYTES")
    encoded.set_data_from_numpy(np.array([photo], dtype=np.object_).reshape(1, 1))
    batch = np.ascontiguousarray(model_input if model_input.ndim == 4 else model_input[np.newaxis])
    tensor = grpcclient.InferInput(INPUT_NAME, list(batch.shape), "UINT8")
    tensor.set_data_from_numpy(batch)
    photo_model = partial_model_name(photo_model_name(model), (SEGMENTATION_MAP,))

    def timed(send: Callable[[], object]) -> float:
        started = time.perf_counter()
        send()
        return (time.perf_counter() - started) * 1000

    def send_photo() -> object:
        return client.infer(photo_model, [encoded], outputs=wanted)

    def send_tensor() -> object:
        return client.infer(model, [tensor], outputs=wanted)

    send_photo(), send_tensor()
    photo_ms, tensor_ms = [], []
    for _ in range(REQUESTS):
        photo_ms.append(timed(send_photo))
        tensor_ms.append(timed(send_tensor))
    client.close()
    photo_p50, tensor_p50 = statistics.median(photo_ms), statistics.median(tensor_ms)
    return {
        "model": photo_model,
        "photo_p50_ms": round(photo_p50, 2),
        "tensor_p50_ms": round(tensor_p50, 2),
        "photo_vs_tensor": round(photo_p50 / tensor_p50, 3),
        "photos_per_s": round(1000 / photo_p50, 2),
    }
