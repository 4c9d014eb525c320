"""manifest.json: provenance, versions, and hashes that match the files beside it."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from export.manifest import read_manifest
from export.pipeline import ExportResult


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_manifest_describes_the_files_beside_it(exported: ExportResult, runtime: str) -> None:
    folder = exported.model_dirs[runtime]
    manifest = read_manifest(folder)
    assert manifest["family"] == "deeplabv3" and manifest["runtime"] == runtime
    assert manifest["weights"] == "random" and manifest["weights_are_random"] is True
    assert manifest["num_classes"] == 21 and manifest["input_size"] == [512, 512]
    assert manifest["labels"][12] == "dog"
    assert manifest["source"]["arch"] == "deeplabv3_mobilenet_v3_large"
    assert {"torch", "torchvision", "onnx", "onnxruntime", "python"} <= set(manifest["versions"])
    assert datetime.fromisoformat(manifest["exported_at"]).utcoffset().total_seconds() == 0
    model_name = {"torch": "1/model.pt", "onnx": "1/model.onnx"}[runtime]
    assert set(manifest["files"]) == {model_name, "config.pbtxt", "labels.txt"}
    for name, record in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert record == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
