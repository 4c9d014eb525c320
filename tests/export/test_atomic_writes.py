"""All-or-nothing writes: a failed export leaves no partial or temporary file behind."""

from __future__ import annotations

from pathlib import Path

import pytest

import export.pipeline as pipeline
from export.atomic import StagedFiles
from export.errors import ExportError
from export.manifest import read_manifest
from export.sources.base import ModelSource
from export.sources.request import TorchvisionRequest

REQUEST = TorchvisionRequest(arch="tiny", weights="random")  # only recorded in the manifest here


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*"))


def test_staged_files_appear_only_on_commit(tmp_path: Path) -> None:
    target = tmp_path / "model" / "1" / "model.pt"
    with StagedFiles() as staged:
        staged.write_bytes(target, b"new")
        assert not target.exists()
        assert len(list(target.parent.iterdir())) == 1  # only the temp, beside the target
        staged.commit()
    assert target.read_bytes() == b"new" and _files(tmp_path) == [
        Path("model"),
        Path("model/1"),
        Path("model/1/model.pt"),
    ]


def test_exception_removes_temps_and_the_folders_it_created(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    with pytest.raises(RuntimeError), StagedFiles() as staged:
        staged.write_text(tmp_path / "kept" / "config.pbtxt", "x")
        staged.write_text(tmp_path / "new" / "1" / "model.onnx", "x")
        raise RuntimeError("export failed half-way")
    assert _files(tmp_path) == [Path("kept")]


def test_tiny_model_exports_end_to_end(tiny_source: ModelSource, tmp_path: Path) -> None:
    result = pipeline.export_family(REQUEST, tmp_path, family="tiny", source=tiny_source)
    assert read_manifest(result.model_dirs["onnx"])["num_classes"] == 3
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


def test_failed_onnx_export_writes_nothing(
    tiny_source: ModelSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args, **_kwargs) -> None:
        raise ExportError("simulated ONNX export failure")

    monkeypatch.setattr(pipeline, "export_onnx", fail)  # after the TorchScript file was already staged
    with pytest.raises(ExportError, match="simulated"):
        pipeline.export_family(REQUEST, tmp_path, family="tiny", source=tiny_source)
    assert _files(tmp_path) == []


def test_failed_export_keeps_the_previous_good_files(
    tiny_source: ModelSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.export_family(REQUEST, tmp_path, family="tiny", source=tiny_source)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.setattr(pipeline, "build_manifest", lambda **_: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(ExportError, match="No space left"):
        pipeline.export_family(REQUEST, tmp_path, family="tiny", source=tiny_source)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
