"""The Python-backend twin is derived from the native configs in git (no server needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from google.protobuf import text_format

from serving.errors import ServingError
from serving.twin import ADAPTER, build_twin, read_config
from tests.support.paths import REPO_ROOT

COMMITTED = REPO_ROOT / "model_repository"
# Every committed model: the two full models and the single-output ones (`<full>__<output>`).
ARTIFACTS = {
    path.parent.name: "model.pt" if "_torchscript" in path.parent.name else "model.onnx"
    for path in COMMITTED.glob("*/config.pbtxt")
}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """The committed configs and labels with stand-in artefacts (the twin links them, never reads them)."""
    repo = tmp_path / "repo"
    for name, artifact in ARTIFACTS.items():
        shutil.copytree(COMMITTED / name, repo / name, ignore=shutil.ignore_patterns("[0-9]*", "manifest.json"))
        (repo / name / "1").mkdir()
        (repo / name / "1" / artifact).write_bytes(b"weights")
    return repo


def test_twin_is_the_native_config_on_the_python_backend(repository: Path, tmp_path: Path) -> None:
    models = build_twin(repository, tmp_path / "twin")
    assert sorted(m.name for m in models) == sorted(ARTIFACTS)
    for name, artifact in ARTIFACTS.items():
        native, twin = (
            read_config(repository / name / "config.pbtxt"),
            read_config(tmp_path / "twin" / name / "config.pbtxt"),
        )
        assert (twin.backend, twin.platform) == ("python", "")
        for field in ("name", "max_batch_size", "input", "output", "dynamic_batching", "instance_group"):
            assert getattr(twin, field) == getattr(native, field), field
        for key, value in native.parameters.items():
            assert twin.parameters[key] == value
        assert twin.parameters["serving.artifact"].string_value == artifact
        assert twin.parameters["serving.source_platform"].string_value == native.platform
        assert (tmp_path / "twin" / name / "labels.txt").read_text() == (repository / name / "labels.txt").read_text()
        version = tmp_path / "twin" / name / "1"
        assert (version / "model.py").resolve() == ADAPTER.resolve()
        assert (version / artifact).resolve() == (repository / name / "1" / artifact).resolve()


def test_regenerating_replaces_the_previous_twin(repository: Path, tmp_path: Path) -> None:
    build_twin(repository, tmp_path / "twin")
    shutil.rmtree(repository / "deeplabv3_onnx")
    build_twin(repository, tmp_path / "twin")
    assert sorted(p.name for p in (tmp_path / "twin").iterdir()) == sorted(set(ARTIFACTS) - {"deeplabv3_onnx"})


def test_a_model_without_its_artefact_is_named(repository: Path, tmp_path: Path) -> None:
    (repository / "deeplabv3_onnx" / "1" / "model.onnx").unlink()
    with pytest.raises(ServingError, match=r"deeplabv3_onnx.*1/model\.onnx.*python -m export"):
        build_twin(repository, tmp_path / "twin")


def test_a_malformed_config_names_its_file(repository: Path, tmp_path: Path) -> None:
    config = repository / "deeplabv3_onnx" / "config.pbtxt"
    config.write_text(config.read_text().replace("max_batch_size: 8", "max_batch_size: [8"))
    with pytest.raises(ServingError, match=str(config)):
        build_twin(repository, tmp_path / "twin")


def test_an_unknown_platform_is_refused(repository: Path, tmp_path: Path) -> None:
    config_path = repository / "deeplabv3_onnx" / "config.pbtxt"
    config = read_config(config_path)
    config.platform = "tensorrt_plan"
    config_path.write_text(text_format.MessageToString(config))
    with pytest.raises(ServingError, match="tensorrt_plan"):
        build_twin(repository, tmp_path / "twin")


# --- served: the session's embedded stack --------------------------------------------------------------
OUTPUTS = ("logits", "probabilities", "segmentation_map")


def _ask(client, model: str, image, outputs: tuple[str, ...]) -> dict:
    import tritonclient.grpc as grpcclient

    request = grpcclient.InferInput("image", list(image.shape), "UINT8")
    request.set_data_from_numpy(image)
    result = client.infer(model, [request], outputs=[grpcclient.InferRequestedOutput(name) for name in outputs])
    return {name: result.as_numpy(name) for name in outputs}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("runtime", ["torchscript", "onnx"])
def test_each_served_single_output_model_answers_what_its_full_model_answers(stack, runtime: str) -> None:
    import numpy as np
    import tritonclient.grpc as grpcclient

    from tests.support.exported_repository import DEFAULT_FAMILY

    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    full = f"{DEFAULT_FAMILY}_{runtime}"
    image = np.random.default_rng(7).integers(0, 256, (1, 3, 512, 512), dtype=np.uint8)
    expected = _ask(client, full, image, OUTPUTS)
    for output in OUTPUTS:
        config = client.get_model_config(f"{full}__{output}", as_json=True)["config"]
        assert [o["name"] for o in config["output"]] == [output]
        assert config["parameters"]["segmentation.output_of"]["string_value"] == full
        (value,) = _ask(client, f"{full}__{output}", image, (output,)).values()
        assert value.dtype == expected[output].dtype and value.shape == expected[output].shape
        if output == "segmentation_map":
            np.testing.assert_array_equal(value, expected[output])
        else:
            np.testing.assert_allclose(value, expected[output], rtol=0, atol=1e-4)


@pytest.mark.timeout(600)
def test_a_map_only_gateway_request_runs_only_the_maps_own_model(stack) -> None:
    import httpx
    import tritonclient.grpc as grpcclient

    from tests.support.exported_repository import DEFAULT_FAMILY
    from tests.support.paths import shared_image

    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    full, single = f"{DEFAULT_FAMILY}_onnx", f"{DEFAULT_FAMILY}_onnx__segmentation_map"

    def counts() -> dict[str, int]:
        return {
            name: int(client.get_inference_statistics(name, as_json=True)["model_stats"][0].get("inference_count", 0))
            for name in (full, single)
        }

    before = counts()
    photo = shared_image("dog1.jpg").read_bytes()
    response = httpx.post(
        f"{stack.gateway_url}/infer/file",
        trust_env=False,
        timeout=120,
        data={"infer_model_type": "onnx", "requested_results_types": "segmentation_map"},
        files={"file": ("dog1.jpg", photo, "image/jpeg")},
    )
    assert response.status_code == 200, response.text[:300]
    after = counts()
    assert after[single] == before[single] + 1 and after[full] == before[full]
