"""The Python-backend twin is derived from the native configs in git (no server needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from google.protobuf import text_format

from gateway.contract import PARTIAL_OUTPUT_SETS, partial_model_name, partial_outputs_of
from serving.errors import ServingError
from serving.twin import ADAPTER, build_twin, partial_link_name, read_config
from tests.support.paths import REPO_ROOT

COMMITTED = REPO_ROOT / "model_repository"
# Every committed model: the two full models and the partial ones (`<full>__<output>[__<output>]`).
# (The photo models, ensembles and a Python-backend model that the twin passes through, are tested on their own.)
PASSED_THROUGH = {path.parent.name for path in COMMITTED.glob("*/config.pbtxt") if "_photo" in path.parent.name}
PASSED_THROUGH |= {path.parent.name for path in COMMITTED.glob("*_preprocess/config.pbtxt")}
ARTIFACTS = {
    path.parent.name: "model.pt" if "_torchscript" in path.parent.name else "model.onnx"
    for path in COMMITTED.glob("*/config.pbtxt")
    if path.parent.name not in PASSED_THROUGH
}
FULL_MODELS = {name: artifact for name, artifact in ARTIFACTS.items() if partial_outputs_of(name) is None}
PARTIAL_MODELS = {name: artifact for name, artifact in ARTIFACTS.items() if partial_outputs_of(name) is not None}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """The committed configs and labels with stand-in artefacts (the twin links them, never reads them)."""
    repo = tmp_path / "repo"
    for name, artifact in ARTIFACTS.items():
        shutil.copytree(
            COMMITTED / name, repo / name, ignore=shutil.ignore_patterns("[0-9]*", "manifest.json", "warmup")
        )
        (repo / name / "1").mkdir()
        (repo / name / "1" / artifact).write_bytes(b"weights")
        (repo / name / "warmup").mkdir()
        (repo / name / "warmup" / "image").write_bytes(b"sample")
    return repo


def test_twin_is_the_native_config_on_the_python_backend(repository: Path, tmp_path: Path) -> None:
    models = build_twin(repository, tmp_path / "twin")
    assert sorted(m.name for m in models) == sorted(ARTIFACTS)
    for name, artifact in FULL_MODELS.items():
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
        assert twin.model_warmup == native.model_warmup and twin.model_warmup
        assert (tmp_path / "twin" / name / "warmup" / "image").read_bytes() == b"sample"
        assert twin.parameters["serving.selects_partials"].string_value == "true"  # callers ask it directly
        # Beside its own artefact, the full model runs its partial models' files.
        for outputs in PARTIAL_OUTPUT_SETS:
            partial = partial_model_name(name, outputs)
            link = version / partial_link_name(outputs, artifact)
            assert link.resolve() == (repository / partial / "1" / artifact).resolve()


def test_a_partial_model_is_an_ensemble_over_its_full_model_not_a_process(repository: Path, tmp_path: Path) -> None:
    build_twin(repository, tmp_path / "twin")
    assert PARTIAL_MODELS
    for name in PARTIAL_MODELS:
        native, twin = (
            read_config(repository / name / "config.pbtxt"),
            read_config(tmp_path / "twin" / name / "config.pbtxt"),
        )
        assert (twin.platform, twin.backend) == ("ensemble", "")
        for field in ("name", "max_batch_size", "input", "output", "parameters"):
            assert getattr(twin, field) == getattr(native, field), field
        (step,) = twin.ensemble_scheduling.step
        assert step.model_name == native.parameters["segmentation.output_of"].string_value
        assert dict(step.output_map) == {o.name: o.name for o in native.output}  # only its outputs are asked
        assert dict(step.input_map) == {"image": "image"}
        assert list((tmp_path / "twin" / name / "1").iterdir()) == []  # no adapter, no artefact: no stub
        assert not twin.model_warmup and not (tmp_path / "twin" / name / "warmup").exists()


def test_a_partial_model_without_its_full_model_is_served_on_its_own(repository: Path, tmp_path: Path) -> None:
    shutil.rmtree(repository / "deeplabv3_onnx")
    build_twin(repository, tmp_path / "twin")
    twin = read_config(tmp_path / "twin" / "deeplabv3_onnx__segmentation_map" / "config.pbtxt")
    assert (twin.backend, twin.platform) == ("python", "")


def test_ensembles_and_python_models_pass_through_as_they_are(repository: Path, tmp_path: Path) -> None:
    assert PASSED_THROUGH
    for name in PASSED_THROUGH:
        shutil.copytree(COMMITTED / name, repository / name)
        (repository / name / "1").mkdir()
        if name.endswith("_preprocess"):
            (repository / name / "1" / "model.py").write_text("# the preprocessing")
    build_twin(repository, tmp_path / "twin")
    for name in PASSED_THROUGH:
        twin = tmp_path / "twin" / name
        native, copied = read_config(COMMITTED / name / "config.pbtxt"), read_config(twin / "config.pbtxt")
        steps = [step.model_name for step in native.ensemble_scheduling.step]
        # a step into a partial model goes to its full model, which runs the partial file itself in the twin
        assert [step.model_name for step in copied.ensemble_scheduling.step] == [s.split("__")[0] for s in steps]
        copied.ClearField("ensemble_scheduling")
        native.ClearField("ensemble_scheduling")
        assert copied == native
        assert (twin / "1").resolve() == (repository / name / "1").resolve()
    (repository / "deeplabv3_preprocess" / "1" / "model.py").unlink()
    with pytest.raises(ServingError, match="deeplabv3_preprocess"):
        build_twin(repository, tmp_path / "twin")


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
OUTPUTS = ("logits", "probabilities", "segmentation_map", "confidence")


def _ask(client, model: str, image, outputs: tuple[str, ...]) -> dict:
    import tritonclient.grpc as grpcclient

    request = grpcclient.InferInput("image", list(image.shape), "UINT8")
    request.set_data_from_numpy(image)
    result = client.infer(model, [request], outputs=[grpcclient.InferRequestedOutput(name) for name in outputs])
    return {name: result.as_numpy(name) for name in outputs}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("runtime", ["torchscript", "onnx"])
def test_each_served_partial_model_answers_what_its_full_model_answers(stack, runtime: str) -> None:
    import numpy as np
    import tritonclient.grpc as grpcclient

    from tests.support.exported_repository import DEFAULT_FAMILY

    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    full = f"{DEFAULT_FAMILY}_{runtime}"
    image = np.random.default_rng(7).integers(0, 256, (1, 3, 512, 512), dtype=np.uint8)
    expected = _ask(client, full, image, OUTPUTS)
    np.testing.assert_allclose(expected["confidence"], expected["probabilities"].max(axis=1), rtol=0, atol=1e-6)
    for outputs in PARTIAL_OUTPUT_SETS:
        name = partial_model_name(full, outputs)
        config = client.get_model_config(name, as_json=True)["config"]
        assert tuple(o["name"] for o in config["output"]) == outputs
        assert config["parameters"]["segmentation.output_of"]["string_value"] == full
        for output, value in _ask(client, name, image, outputs).items():
            assert value.dtype == expected[output].dtype and value.shape == expected[output].shape
            if output == "segmentation_map":
                np.testing.assert_array_equal(value, expected[output])
            else:
                np.testing.assert_allclose(value, expected[output], rtol=0, atol=1e-4)


def _adapter_runs(stack, counter: str = "segmentation_adapter_runs") -> dict[tuple[str, str], float]:
    """The adapter's counter by (model, file) from Triton's metrics endpoint."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{stack.triton_metrics_url}/metrics", trust_env=False, timeout=10).text
    return {
        (sample.labels["model"], sample.labels["file"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == counter
        for sample in family.samples
        if sample.name == f"{counter}_total"
    }


@pytest.mark.timeout(600)
def test_every_model_is_warm_before_it_is_ready(stack) -> None:
    """Triton's model_warmup (the export's sample, WARMUP_COUNT runs) for the model's own file; the same sample
    through each partial file by the adapter, before READY."""
    import tritonclient.grpc as grpcclient

    from export.triton_config import WARMUP_COUNT
    from tests.support.exported_repository import DEFAULT_FAMILY

    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    warmups, runs = _adapter_runs(stack, "segmentation_adapter_warmup_runs"), _adapter_runs(stack)
    for runtime in ("torchscript", "onnx"):
        full = f"{DEFAULT_FAMILY}_{runtime}"
        (sample,) = client.get_model_config(full, as_json=True)["config"]["model_warmup"]
        assert sample["inputs"]["image"]["input_data_file"] == "image" and sample["count"] == WARMUP_COUNT
        assert runs[(full, "all")] >= WARMUP_COUNT
        for outputs in PARTIAL_OUTPUT_SETS:
            assert warmups[(full, "+".join(outputs))] == WARMUP_COUNT


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("fields", "file"),
    [
        ({"requested_results_types": "segmentation_map"}, "segmentation_map"),
        ({"response_format": "summary"}, "segmentation_map+confidence"),
        ({"response_format": "bundle"}, "segmentation_map+confidence"),
    ],
    ids=["map", "summary", "bundle"],
)
def test_a_gateway_request_runs_only_the_file_that_computes_what_it_needs(stack, fields: dict, file: str) -> None:
    import httpx

    from tests.support.exported_repository import DEFAULT_FAMILY
    from tests.support.paths import shared_image

    full = f"{DEFAULT_FAMILY}_onnx"
    before = _adapter_runs(stack)
    photo = shared_image("dog1.jpg").read_bytes()
    response = httpx.post(
        f"{stack.gateway_url}/infer/file",
        trust_env=False,
        timeout=120,
        data={"infer_model_type": "onnx", **fields},
        files={"file": ("dog1.jpg", photo, "image/jpeg")},
    )
    assert response.status_code == 200, response.text[:300]
    after = _adapter_runs(stack)
    ran = {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}
    assert ran == {(full, file): 1.0}  # one batch, by the partial file: nothing else computed
