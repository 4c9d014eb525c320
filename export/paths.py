"""Where things live: the repository root, the shared assets folder, the default model repository."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The shared assets folder (photos, real models): `$SHARED_DIR`, else `../shared` beside the project."""
    override = os.environ.get("SHARED_DIR")
    return Path(override) if override else PROJECT_ROOT.parent / "shared"


def default_images_dir() -> Path:
    return shared_dir() / "images"


def default_repository() -> Path:
    return Path(os.environ.get("MODEL_REPOSITORY", "model_repository"))


def default_report_dir(family: str) -> Path:
    return Path("artifacts") / "parity" / family
