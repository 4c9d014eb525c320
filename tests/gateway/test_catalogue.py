"""Which served model a request gets: gateway.triton.ModelCatalogue.resolve, in process.

The catalogue is given a stand-in for TritonClient's ``discover()`` (the models READY, the state of the
others), so each answer of Triton's repository can be set up exactly; tests/gateway/routes checks it live.
/ready and the drain state: the real app in front of a fake Triton (tests/support/fake_triton.py).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from gateway.domain import ModelInfo
from gateway.errors import BadRequest, Unavailable
from gateway.triton import ModelCatalogue
from tests.support.fake_triton import app_with_fake_triton


def model(family: str, runtime: str) -> ModelInfo:
    return ModelInfo(f"{family}_{runtime}", family, runtime, ("background", "person"), (512, 512), 8)


class StandInTriton:
    """``discover()`` answers the next of ``answers`` (the last one again once they run out) and counts calls."""

    def __init__(self, *answers: tuple[list[ModelInfo], dict[str, str]]) -> None:
        self.answers = list(answers)
        self.discoveries = 0

    async def discover(self) -> tuple[list[ModelInfo], dict[str, str]]:
        self.discoveries += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def resolve(catalogue: ModelCatalogue, family: str, runtime: str) -> ModelInfo:
    return anyio.run(catalogue.resolve, family, runtime)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def catalogue_of(triton: StandInTriton, clock: Clock | None = None) -> ModelCatalogue:
    stand_in: Any = triton
    return ModelCatalogue(stand_in, refresh_s=10, min_forced_s=1, clock=clock or Clock())


def test_a_served_model_is_found_and_cached() -> None:
    triton = StandInTriton(([model("deeplabv3", "onnx"), model("deeplabv3", "torch")], {}))
    catalogue = catalogue_of(triton)
    assert resolve(catalogue, "deeplabv3", "torch").name == "deeplabv3_torch"
    assert resolve(catalogue, "deeplabv3", "onnx").name == "deeplabv3_onnx"
    assert triton.discoveries == 1


def test_an_unknown_family_is_400_listing_the_served_ones() -> None:
    catalogue = catalogue_of(StandInTriton(([model("deeplabv3", "onnx"), model("fcn", "onnx")], {})))
    with pytest.raises(BadRequest, match="unknown model 'unet'; served models: deeplabv3, fcn") as caught:
        resolve(catalogue, "unet", "onnx")
    assert caught.value.status_code == 400


def test_an_unknown_family_with_nothing_served_says_none() -> None:
    with pytest.raises(BadRequest, match="served models: none"):
        resolve(catalogue_of(StandInTriton(([], {}))), "deeplabv3", "onnx")


def test_a_missing_runtime_is_400_listing_the_family_s_runtimes() -> None:
    catalogue = catalogue_of(StandInTriton(([model("deeplabv3", "onnx")], {})))
    with pytest.raises(BadRequest, match="model 'deeplabv3' has no 'torch' backend; it has: onnx") as caught:
        resolve(catalogue, "deeplabv3", "torch")
    assert caught.value.status_code == 400


def test_a_family_still_loading_is_503_naming_its_models() -> None:
    triton = StandInTriton(([model("deeplabv3", "onnx")], {"fcn_onnx": "LOADING", "fcnet_onnx": "LOADING"}))
    with pytest.raises(Unavailable, match=r"model 'fcn' is not ready on Triton \(fcn_onnx\)") as caught:
        resolve(catalogue_of(triton), "fcn", "onnx")
    assert caught.value.status_code == 503


def test_a_miss_discovers_again_and_finds_a_model_loaded_since() -> None:
    triton = StandInTriton(
        ([model("deeplabv3", "onnx")], {"deeplabv3_torch": "LOADING"}),
        ([model("deeplabv3", "onnx"), model("deeplabv3", "torch")], {}),
    )
    clock = Clock()
    catalogue = catalogue_of(triton, clock)
    assert resolve(catalogue, "deeplabv3", "onnx").name == "deeplabv3_onnx"
    clock.now += 1.5  # a forced discovery at most once per min_forced_s
    assert resolve(catalogue, "deeplabv3", "torch").name == "deeplabv3_torch"
    assert triton.discoveries == 2


def test_invalidate_makes_the_next_request_discover_again() -> None:
    triton = StandInTriton(([model("deeplabv3", "onnx")], {}), ([], {"deeplabv3_onnx": "UNAVAILABLE"}))
    catalogue = catalogue_of(triton)
    resolve(catalogue, "deeplabv3", "onnx")
    catalogue.invalidate()
    with pytest.raises(Unavailable, match="deeplabv3_onnx"):
        resolve(catalogue, "deeplabv3", "onnx")
    assert triton.discoveries == 2


def test_a_miss_right_after_a_discovery_does_not_ask_triton_twice() -> None:
    triton = StandInTriton(([model("deeplabv3", "onnx")], {}))
    with pytest.raises(BadRequest):
        resolve(catalogue_of(triton), "unet", "onnx")
    assert triton.discoveries == 1


def test_a_discovery_is_reused_until_it_is_refresh_s_old() -> None:
    triton = StandInTriton(([model("deeplabv3", "onnx")], {}), ([model("deeplabv3", "onnx"), model("fcn", "onnx")], {}))
    clock = Clock()
    catalogue = catalogue_of(triton, clock)
    for _ in range(5):
        assert [info.family for info in anyio.run(catalogue.models)] == ["deeplabv3"]
        clock.now += 1.9
    assert triton.discoveries == 1
    clock.now += 1  # 10.5 s after the discovery
    assert [info.family for info in anyio.run(catalogue.models)] == ["deeplabv3", "fcn"]
    assert triton.discoveries == 2


def test_requests_for_unknown_models_discover_at_most_once_per_min_forced_s() -> None:
    triton = StandInTriton(([model("deeplabv3", "onnx")], {}))
    clock = Clock()
    catalogue = catalogue_of(triton, clock)
    for _ in range(20):  # 20 requests for an unknown family within 0.95 s
        with pytest.raises(BadRequest):
            resolve(catalogue, "unet", "onnx")
        clock.now += 0.05
    assert triton.discoveries == 1
    clock.now += 0.1
    with pytest.raises(BadRequest):
        resolve(catalogue, "unet", "onnx")
    assert triton.discoveries == 2


def test_concurrent_callers_share_one_discovery() -> None:
    class SlowTriton(StandInTriton):
        async def discover(self) -> tuple[list[ModelInfo], dict[str, str]]:
            await anyio.sleep(0.05)
            return await super().discover()

    triton = SlowTriton(([model("deeplabv3", "onnx")], {}))
    catalogue = catalogue_of(triton)

    async def many() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(catalogue.models)

    anyio.run(many)
    assert triton.discoveries == 1


# --- /ready reads the catalogue; the drain state is the app's ----------------------------------------------
def test_ready_probes_read_the_cached_catalogue() -> None:
    """Ten probes within refresh_s: one discovery (the index and a config call per model), not one a probe."""
    with app_with_fake_triton() as (client, _):
        statuses = [client.get("/ready").status_code for _ in range(10)]
        assert statuses == [200] * 10
        assert client.app.state.inference.catalogue.discoveries == 1


def test_ready_is_503_while_the_app_s_drain_state_says_stopping() -> None:
    with app_with_fake_triton() as (client, _):
        drain = client.app.state.drain
        drain.begin()
        response = client.get("/ready")
        assert response.status_code == 503 and "shutting down" in response.json()["detail"]
        drain.reset()
        assert client.get("/ready").status_code == 200
