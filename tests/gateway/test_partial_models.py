"""Which Triton model answers: `<model>__<output>[__<output>]` when discovery saw it READY, else the full model.

In process: discovery runs on a canned repository index and canned configs (the committed ones, as Triton
sends them); the inference path on a stand-in that records the model each call names.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import numpy as np
import pytest

from gateway.contract import partial_outputs_of
from gateway.core.config import Settings
from gateway.inference import InferenceService
from gateway.triton import TritonClient
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


def test_discovery_records_the_partial_models_without_asking_their_configs() -> None:
    infos, asked = discover(
        [FULL, f"{FULL}__segmentation_map", f"{FULL}__logits", f"{FULL}__segmentation_map__confidence"]
    )
    assert set(infos) == {FULL}
    assert infos[FULL].partials == {("segmentation_map",), ("logits",), ("segmentation_map", "confidence")}
    assert infos[FULL].outputs == ("logits", "probabilities", "segmentation_map", "confidence")
    assert asked == [FULL]


def test_a_repository_without_them_has_none() -> None:
    infos, _ = discover([FULL])
    assert infos[FULL].partials == frozenset()


def test_only_the_contracts_output_sets_make_a_partial_model() -> None:
    assert partial_outputs_of(f"{FULL}__probabilities") == ("probabilities",)
    assert partial_outputs_of(f"{FULL}__segmentation_map__confidence") == ("segmentation_map", "confidence")
    assert partial_outputs_of(f"{FULL}__confidence__segmentation_map") is None  # not in contract order
    assert partial_outputs_of(f"{FULL}__confidence") is None  # not a set the export writes
    assert partial_outputs_of("my__model") is None
    assert partial_outputs_of(FULL) is None


class RecordingTriton:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def infer(self, model: str, batch: np.ndarray, outputs: list[str], **_request_id: str) -> dict:
        self.asked.append(model)
        return {name: np.zeros((len(batch), 1), dtype=np.float32) for name in outputs}


MAP, MAP_CONFIDENCE, LOGITS = ("segmentation_map",), ("segmentation_map", "confidence"), ("logits",)


@pytest.mark.parametrize(
    ("partials", "outputs", "expected"),
    [
        ({MAP}, ["segmentation_map"], f"{FULL}__segmentation_map"),
        ({MAP}, ["logits"], FULL),  # not served alone
        ({MAP, LOGITS}, ["segmentation_map", "logits"], FULL),  # not a set of its own
        ({MAP, MAP_CONFIDENCE}, ["confidence", "segmentation_map"], f"{FULL}__segmentation_map__confidence"),
        (set(), ["segmentation_map"], FULL),  # a repository exported before partial models
    ],
)
def test_a_request_goes_to_the_model_that_computes_just_what_it_asks(partials, outputs, expected) -> None:
    infos, _ = discover([FULL])
    model = dataclasses.replace(infos[FULL], partials=frozenset(partials))
    triton = RecordingTriton()
    stand_in: Any = triton
    service = InferenceService(triton=stand_in, catalogue=stand_in, settings=Settings(), cpu=anyio.CapacityLimiter(1))
    anyio.run(service._infer, model, np.zeros((1, 3, 4, 4), dtype=np.uint8), outputs)
    assert triton.asked == [expected]


def test_a_summary_on_a_model_without_the_confidence_output_derives_it_from_the_distribution() -> None:
    infos, _ = discover([FULL])
    legacy = dataclasses.replace(infos[FULL], outputs=("logits", "probabilities", "segmentation_map"))
    triton = DistributionTriton()
    stand_in: Any = triton
    service = InferenceService(triton=stand_in, catalogue=stand_in, settings=Settings(), cpu=anyio.CapacityLimiter(1))
    arrays = anyio.run(
        service._run_batch, legacy, np.zeros((1, 3, 4, 4), dtype=np.uint8), ("segmentation_map", "confidence")
    )
    assert triton.asked == [["segmentation_map", "probabilities"]]
    np.testing.assert_array_equal(arrays["confidence"], triton.distribution.max(axis=1))


class DistributionTriton:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []
        self.distribution = np.random.default_rng(1).dirichlet(np.ones(3), size=(1, 2, 2)).transpose(0, 3, 1, 2)

    async def infer(self, model: str, batch: np.ndarray, outputs: list[str], **_request_id: str) -> dict:  # noqa: ARG002
        self.asked.append(outputs)
        return {"segmentation_map": self.distribution.argmax(axis=1), "probabilities": self.distribution}


def test_a_full_model_that_selects_its_partial_files_is_asked_directly() -> None:
    infos, _ = discover([FULL, f"{FULL}__segmentation_map"])
    model = dataclasses.replace(infos[FULL], selects_partials=True)
    triton = RecordingTriton()
    stand_in: Any = triton
    service = InferenceService(triton=stand_in, catalogue=stand_in, settings=Settings(), cpu=anyio.CapacityLimiter(1))
    anyio.run(service._infer, model, np.zeros((1, 3, 4, 4), dtype=np.uint8), ["segmentation_map"])
    assert triton.asked == [FULL]  # the twin's full model runs the map's partial file itself: no ensemble hop
