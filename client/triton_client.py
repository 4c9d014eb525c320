"""``TritonSegmentationClient``: the same results straight from Triton over gRPC, for power users.

It preprocesses exactly as the gateway does (gateway.images, under the client's own limits: client.decoding)
and discovers models the same way (gateway.model_config.model_info_from_config), so its answers equal the gateway's
for the same photo.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np
import tritonclient.grpc as grpcclient

from client.decoding import decode_photo
from client.inputs import ImageInput, image_bytes, is_url
from client.result import SegmentationResult
from gateway import defaults, images
from gateway.contract import DEFAULT_RUNTIME, INPUT_NAME, MAP_RESULT
from gateway.domain import RESULT_TO_OUTPUT, ModelInfo
from gateway.model_config import model_info_from_config


class TritonSegmentationClient:
    """E.g. ``TritonSegmentationClient("127.0.0.1:8001")``; ``segment()`` works as SegmentationClient's."""

    def __init__(self, grpc_url: str, *, default_model: str = defaults.DEFAULT_FAMILY, timeout: float = 120.0) -> None:
        self._triton = grpcclient.InferenceServerClient(grpc_url)
        self.default_model = default_model
        self.timeout = timeout
        self._models: dict[tuple[str, str], ModelInfo] | None = None

    def __enter__(self) -> TritonSegmentationClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._triton.close()

    def models(self) -> dict[tuple[str, str], ModelInfo]:
        """(family, backend) → ModelInfo of every ready segmentation model."""
        if self._models is None:
            found = {}
            for entry in self._triton.get_model_repository_index(as_json=True).get("models", []):
                if entry.get("state") == "READY":
                    info = model_info_from_config(self._triton.get_model_config(entry["name"], as_json=True)["config"])
                    if info is not None:
                        found[(info.family, info.runtime)] = info
            self._models = found
        return self._models

    def segment(
        self,
        image: ImageInput,
        *,
        backend: str = DEFAULT_RUNTIME,
        results: Sequence[str] = (MAP_RESULT,),
        model: str | None = None,
    ) -> SegmentationResult:
        family = model or self.default_model
        try:
            info = self.models()[(family, backend)]
        except KeyError:
            raise ValueError(
                f"no ready model '{family}' with backend '{backend}'; have {sorted(self.models())}"
            ) from None
        data = (
            httpx.get(image, follow_redirects=True, timeout=self.timeout).content
            if is_url(image)
            else image_bytes(image)
        )
        tensor = model_input(data, info.input_size)
        wanted = list(results) or list(RESULT_TO_OUTPUT)
        request = grpcclient.InferInput(INPUT_NAME, [1, *tensor.shape], "UINT8")
        request.set_data_from_numpy(tensor[np.newaxis])
        response = self._triton.infer(
            info.name,
            [request],
            outputs=[grpcclient.InferRequestedOutput(RESULT_TO_OUTPUT[name]) for name in wanted],
            client_timeout=self.timeout,
        )
        arrays = {name: response.as_numpy(RESULT_TO_OUTPUT[name])[0] for name in wanted}
        return SegmentationResult.from_arrays(arrays, labels=info.labels, model=family, backend=backend)


def model_input(data: bytes, input_size: tuple[int, int]) -> np.ndarray:
    """The UINT8 [3, H, W] tensor the gateway would send Triton for these image bytes (``input_size`` = (H, W))."""
    return images.to_model_input(decode_photo(data), input_size)
