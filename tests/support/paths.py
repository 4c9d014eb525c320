"""Where the project and the shared assets are (assets are never copied into the project)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    return Path(os.environ.get("SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


def shared_image(name: str) -> Path:
    return shared_dir() / "images" / name
