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
ARTIFACTS = {"deeplabv3_torchscript": "model.pt", "deeplabv3_onnx": "model.onnx"}


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
        native, twin = read_config(repository / name / "config.pbtxt"), read_config(tmp_path / "twin" / name / "config.pbtxt")
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
    assert sorted(p.name for p in (tmp_path / "twin").iterdir()) == ["deeplabv3_torchscript"]


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
