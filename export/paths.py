"""Where things live: the repository root, the shared assets folder, the default model repository.

The export's settings are one typed object read from the environment (`MODEL_REPOSITORY`, `SHARED_DIR`,
`EXPORT_THREADS`),
with the defaults the launcher and the gateway share (gateway/defaults.py; docs/architecture.md's table).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway import defaults

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ExportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    model_repository: Path = Field(Path(defaults.MODEL_REPOSITORY), validation_alias="MODEL_REPOSITORY")
    shared_dir: Path | None = Field(None, validation_alias="SHARED_DIR")
    threads: int = Field(0, ge=0, validation_alias="EXPORT_THREADS")


def shared_dir() -> Path:
    """The shared assets folder (photos, real models): `$SHARED_DIR`, else `../shared` beside the project."""
    return ExportSettings().shared_dir or PROJECT_ROOT.parent / "shared"


def default_images_dir() -> Path:
    return shared_dir() / "images"


def default_repository() -> Path:
    return ExportSettings().model_repository


def default_report_dir(family: str) -> Path:
    return Path("artifacts") / "parity" / family
