"""Where a family's files live in a Triton model repository (docs/architecture.md, "The repository")."""
from __future__ import annotations

from pathlib import Path

from .triton_config import RUNTIMES, Runtime

VERSION = "1"
MANIFEST_FILENAME = "manifest.json"


def model_dir(repository: Path, family: str, runtime: Runtime) -> Path:
    return Path(repository) / f"{family}_{runtime.model_suffix}"


def model_file(repository: Path, family: str, runtime: Runtime) -> Path:
    return model_dir(repository, family, runtime) / VERSION / runtime.model_filename


def existing_model_files(repository: Path, family: str) -> list[Path]:
    """The family's model files and manifests that exist; all of them present = nothing to export."""
    wanted = [path for runtime in RUNTIMES for path in (model_file(repository, family, runtime),
                                                        model_dir(repository, family, runtime) / MANIFEST_FILENAME)]
    return [path for path in wanted if path.is_file()]


def family_is_complete(repository: Path, family: str) -> bool:
    return len(existing_model_files(repository, family)) == 2 * len(RUNTIMES)
