"""Which Triton model answers: `<model>__<output>` when discovery saw it READY, else the full model.

In process: discovery runs on a canned repository index and canned configs (the committed ones, as Triton
sends them); the inference path on a stand-in that records the model each call names.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import numpy as np
import pytest

from gateway.core.config import Settings
from gateway.inference import InferenceService
from gateway.triton import TritonClient, _single_output_of
from tests.gateway.test_triton import config_as_triton_sends_it
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(60)

FULL = "deeplabv3_onnx"


class CannedTriton(TritonClient):
    """Discovery over a fixed index; counts the configs asked for."""

    def __init__(self, ready: list[str]) -> None:
        super().__init__(Settings(triton_url="127.0.0.1:1"))
        self.ready = ready
        self.configs_asked: list[str] = []

    async def repository_index(self) -> list[dict[str, Any]]:
        return [{"name": name, "state": "READY"} for name in self.ready]

    async def model_config(self, name: str) -> dict[str, Any]:
        self.configs_asked.append(name)
        return config_as_triton_sends_it(REPO_ROOT / "model_repository" / name / "config.pbtxt")


def discover(ready: list[str]) -> tuple[dict[str, Any], list[str]]:
    async def run() -> tuple[dict[str, Any], list[str]]:
        triton = CannedTriton(ready)  # the grpc aio client is made inside the event loop
        try:
            infos, _ = await triton.discover()
        finally:
            await triton.close()
        return {info.name: info for info in infos}, triton.configs_asked

    return anyio.run(run)


def test_discovery_records_the_single_output_models_without_asking_their_configs() -> None:
    infos, asked = discover([FULL, f"{FULL}__segmentation_map", f"{FULL}__logits"])
    assert set(infos) == {FULL}
    assert infos[FULL].single_outputs == {"segmentation_map", "logits"}
    assert asked == [FULL]


def test_a_repository_without_them_has_none() -> None:
    infos, _ = discover([FULL])
    assert infos[FULL].single_outputs == frozenset()


def test_only_contract_outputs_make_a_single_output_model() -> None:
    assert _single_output_of(f"{FULL}__probabilities") == "probabilities"
    assert _single_output_of("my__model") is None
    assert _single_output_of(FULL) is None


class RecordingTriton:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def infer(self, model: str, batch: np.ndarray, outputs: list[str], **_request_id: str) -> dict:
        self.asked.append(model)
        return {name: np.zeros((len(batch), 1), dtype=np.float32) for name in outputs}


@pytest.mark.parametrize(
    ("singles", "outputs", "expected"),
    [
        ({"segmentation_map"}, ["segmentation_map"], f"{FULL}__segmentation_map"),
        ({"segmentation_map"}, ["logits"], FULL),  # not served alone
        ({"segmentation_map", "logits"}, ["segmentation_map", "logits"], FULL),  # several outputs
        (set(), ["segmentation_map"], FULL),  # a repository exported before single-output models
    ],
)
def test_a_request_goes_to_the_model_that_computes_just_what_it_asks(singles, outputs, expected) -> None:
    infos, _ = discover([FULL])
    model = dataclasses.replace(infos[FULL], single_outputs=frozenset(singles))
    triton = RecordingTriton()
    stand_in: Any = triton
    service = InferenceService(triton=stand_in, catalogue=stand_in, settings=Settings(), cpu=anyio.CapacityLimiter(1))
    anyio.run(service._infer, model, np.zeros((1, 3, 4, 4), dtype=np.uint8), outputs)
    assert triton.asked == [expected]
