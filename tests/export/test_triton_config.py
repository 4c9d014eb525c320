"""config.pbtxt and labels.txt: strict Triton schema, the contract, and the committed copies."""

from __future__ import annotations

from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2

from export.errors import ExportError
from export.paths import PROJECT_ROOT
from export.pipeline import ExportResult
from export.sources.torchvision_source import VOC_LABELS
from export.triton_config import (
    RUNTIMES,
    ConfigError,
    ModelSpec,
    WeightsRecord,
    check_config,
    check_config_file,
    render_config,
    render_labels,
    validate_labels,
)
from gateway.contract import OUTPUT_NAMES, PARTIAL_OUTPUT_SETS

COMMITTED = PROJECT_ROOT / "model_repository"


@pytest.mark.parametrize(
    "outputs", [OUTPUT_NAMES, *PARTIAL_OUTPUT_SETS], ids=["full", *("+".join(s) for s in PARTIAL_OUTPUT_SETS)]
)
@pytest.mark.parametrize("runtime", RUNTIMES, ids=lambda r: r.name)
def test_committed_files_are_exactly_the_writers_output(runtime, outputs) -> None:
    spec = ModelSpec("deeplabv3", runtime, VOC_LABELS, (512, 512), outputs=outputs)
    folder = COMMITTED / spec.name
    assert (folder / "config.pbtxt").read_text(encoding="utf-8") == render_config(spec)
    assert (folder / "labels.txt").read_text(encoding="utf-8") == render_labels(VOC_LABELS)
    check_config_file(folder / "config.pbtxt")


def test_the_committed_repository_holds_only_the_writers_models() -> None:
    expected = {
        ModelSpec("deeplabv3", runtime, VOC_LABELS, (512, 512), outputs=outputs).name
        for runtime in RUNTIMES
        for outputs in (OUTPUT_NAMES, *PARTIAL_OUTPUT_SETS)
    }
    photo = {"deeplabv3_preprocess"} | {
        f"deeplabv3_{runtime.model_suffix}_photo{suffix}"
        for runtime in RUNTIMES
        for suffix in ("", "__segmentation_map")
    }
    assert {path.parent.name for path in COMMITTED.glob("*/config.pbtxt")} == expected | photo


def test_committed_photo_configs_are_exactly_the_writers_output() -> None:
    from export.photo_models import render_photo_ensemble, render_preprocess_config

    assert (COMMITTED / "deeplabv3_preprocess" / "config.pbtxt").read_text() == render_preprocess_config(
        "deeplabv3", (512, 512), 8
    )
    for runtime in RUNTIMES:
        spec = ModelSpec("deeplabv3", runtime, VOC_LABELS, (512, 512))
        full = COMMITTED / f"{spec.full_name}_photo" / "config.pbtxt"
        assert full.read_text() == render_photo_ensemble(spec)
        only_map = COMMITTED / f"{spec.full_name}_photo__segmentation_map" / "config.pbtxt"
        assert only_map.read_text() == render_photo_ensemble(spec, ("segmentation_map",))


@pytest.mark.parametrize("outputs", PARTIAL_OUTPUT_SETS, ids=lambda s: "+".join(s))
def test_partial_configs_are_hidden_from_discovery_and_name_their_full_model(outputs: tuple[str, ...]) -> None:
    spec = ModelSpec("deeplabv3", RUNTIMES[1], VOC_LABELS, (512, 512), outputs=outputs)
    config = check_config(render_config(spec), "partial.pbtxt")
    assert config.name == "__".join(("deeplabv3_onnx", *outputs)) and tuple(o.name for o in config.output) == outputs
    parameters = {k: v.string_value for k, v in config.parameters.items()}
    assert parameters["segmentation.output_of"] == "deeplabv3_onnx"
    assert "segmentation.family" not in parameters and "segmentation.runtime" not in parameters
    extra = render_config(spec).replace(
        "output [", 'output [\n  {\n    name: "logits"\n    data_type: TYPE_FP32\n    dims: [ 21, 512, 512 ]\n  },', 1
    )
    with pytest.raises(ConfigError, match="one output set of"):
        check_config(extra, "extra.pbtxt")


def test_only_the_contracts_output_sets_make_a_partial_model() -> None:
    with pytest.raises(ExportError, match="one set of"):
        render_config(ModelSpec("deeplabv3", RUNTIMES[1], VOC_LABELS, (512, 512), outputs=OUTPUT_NAMES[:2]))
    with pytest.raises(ExportError, match="one set of"):
        render_config(ModelSpec("deeplabv3", RUNTIMES[1], VOC_LABELS, (512, 512), outputs=("confidence",)))


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_exported_configs_parse_strictly_and_match_the_committed_ones(exported: ExportResult, runtime: str) -> None:
    folder = exported.model_dirs[runtime]
    config = check_config_file(folder / "config.pbtxt")
    assert config.platform == {"torch": "pytorch_libtorch", "onnx": "onnxruntime_onnx"}[runtime]
    assert config.max_batch_size > 0 and config.HasField("dynamic_batching")
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_AUTO
    assert [o.name for o in config.output] == ["logits", "probabilities", "segmentation_map", "confidence"]
    parameters = {k: v.string_value for k, v in config.parameters.items()}
    assert parameters["segmentation.family"] == "deeplabv3"
    assert parameters["segmentation.runtime"] == runtime
    assert parameters["segmentation.labels"].split(",") == list(VOC_LABELS)
    # The test export uses random weights, the committed config is what the default (pretrained) export writes:
    # the weights parameter is the one line in which they differ.
    assert parameters["segmentation.weights"] == "random"
    committed = COMMITTED / folder.name
    assert (folder / "config.pbtxt").read_text() == (committed / "config.pbtxt").read_text().replace(
        'string_value: "pretrained"', 'string_value: "random"'
    )
    assert (folder / "labels.txt").read_bytes() == (committed / "labels.txt").read_bytes()


def test_weights_file_is_named_by_base_name_and_hash_never_by_path() -> None:
    spec = ModelSpec("mine", RUNTIMES[1], VOC_LABELS, (512, 512), weights=WeightsRecord("file", "ft.pth", "ab" * 32))
    config = check_config(render_config(spec), "x.pbtxt")
    parameters = {k: v.string_value for k, v in config.parameters.items()}
    assert (parameters["segmentation.weights"], parameters["segmentation.weights_file"]) == ("file", "ft.pth")
    assert parameters["segmentation.weights_sha256"] == "ab" * 32
    with pytest.raises(ExportError, match="weights kind"):
        WeightsRecord("downloaded")
    with pytest.raises(ExportError, match="base name and sha256"):
        WeightsRecord("file", "ft.pth")
    with pytest.raises(ConfigError, match=r"segmentation\.weights must be one of"):
        check_config(render_config(spec).replace('string_value: "file"', 'string_value: "mystery"'), "x.pbtxt")


def _committed_text() -> str:
    return (COMMITTED / "deeplabv3_onnx" / "config.pbtxt").read_text(encoding="utf-8")


def test_unknown_field_is_refused_naming_the_file() -> None:
    broken = _committed_text().replace("max_batch_size: 8", "max_batch_size: 8\nmax_batch: 8")
    with pytest.raises(ConfigError, match=r"broken\.pbtxt.*max_batch"):
        check_config(broken, "broken.pbtxt")


def test_syntax_error_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a valid Triton ModelConfig"):
        check_config(_committed_text().replace("output [", "output ((", 1), "x.pbtxt")


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda t: t.replace('name: "logits"', 'name: "scores"'), "outputs must be"),
        (
            lambda t: t.replace("TYPE_UINT8\n    dims: [ 512, 512 ]", "TYPE_INT64\n    dims: [ 512, 512 ]"),
            "segmentation_map",
        ),
        (lambda t: t.replace("max_batch_size: 8", "max_batch_size: 0"), "max_batch_size"),
        (lambda t: t.replace('key: "segmentation.family"', 'key: "family"'), "segmentation.family"),
        (lambda t: t.replace('string_value: "onnx"', 'string_value: "torch"'), "segmentation.runtime"),
        (lambda t: t.replace("dims: [ 3, 512, 512 ]", "dims: [ 3, 256, 256 ]"), "dims disagree"),
    ],
    ids=["output-name", "map-type", "batch", "parameter", "runtime", "dims"],
)
def test_contract_violations_are_refused_with_the_reason(edit, problem: str) -> None:
    broken = edit(_committed_text())
    assert broken != _committed_text()
    with pytest.raises(ConfigError, match=problem):
        check_config(broken, "edited.pbtxt")


def test_labels_that_would_break_the_comma_separated_parameter_are_refused() -> None:
    with pytest.raises(ExportError, match="labels"):
        validate_labels(("background", "traffic light, red"))


def test_unreadable_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        check_config_file(tmp_path / "missing" / "config.pbtxt")
