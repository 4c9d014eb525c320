"""The shared photos and real model the export tests use (never copied into the project)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from export.paths import shared_dir

IMAGES_DIR = shared_dir() / "images"
VOC_MODEL_DIR = shared_dir() / "models" / "voc-deeplabv3-mnv2"


def require_shared(path: Path) -> None:
    """Shared assets are optional on a laptop, but CI has them: there, missing means failure, not skip."""
    if path.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{path} is missing, and CI is set: the shared assets must be present")
    pytest.skip(f"{path} is missing (set SHARED_DIR)")
