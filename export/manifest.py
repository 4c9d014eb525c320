"""manifest.json: what each model folder was exported from, with what, and proof of which files."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .layout import MANIFEST_FILENAME
from .sources.base import ModelSource

_VERSIONED_PACKAGES = ("torch", "torchvision", "onnx", "onnxruntime", "onnx2torch")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def file_record(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"sha256": digest.hexdigest(), "size": path.stat().st_size}


def build_manifest(
    *,
    family: str,
    model_name: str,
    runtime: str,
    platform_name: str,
    source: ModelSource,
    request: dict[str, Any],
    max_batch_size: int,
    files: dict[str, Path],
    parity: dict[str, Any] | None,
) -> dict[str, Any]:
    """`files` maps each file's name in the model folder to the path to hash (it may still be a temp)."""
    return {
        "family": family,
        "model_name": model_name,
        "runtime": runtime,
        "platform": platform_name,
        "source": {**source.provenance, "request": request},
        "weights": source.weights,
        "weights_are_random": source.weights_are_random,
        "num_classes": source.num_classes,
        "input_size": list(source.input_size),
        "max_batch_size": max_batch_size,
        "labels": list(source.labels),
        "versions": package_versions(),
        "files": {name: file_record(path) for name, path in files.items()},
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parity": parity,
    }


def render_manifest(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2) + "\n"


def read_manifest(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / MANIFEST_FILENAME).read_text(encoding="utf-8"))
