"""Where a family's files live in a Triton model repository (docs/architecture.md, "The repository")."""

from __future__ import annotations

from pathlib import Path

from gateway.contract import PARTIAL_OUTPUT_SETS, partial_model_name, preprocess_model_name

from .triton_config import RUNTIMES, WARMUP_DIRNAME, WARMUP_SAMPLE_FILE, Runtime, model_name

VERSION = "1"
MANIFEST_FILENAME = "manifest.json"


def model_dir(repository: Path, family: str, runtime: Runtime) -> Path:
    return Path(repository) / model_name(family, runtime)


def model_file(repository: Path, family: str, runtime: Runtime) -> Path:
    return model_dir(repository, family, runtime) / VERSION / runtime.model_filename


def partial_dir(repository: Path, family: str, runtime: Runtime, outputs: tuple[str, ...]) -> Path:
    return Path(repository) / partial_model_name(model_name(family, runtime), outputs)


def partial_file(repository: Path, family: str, runtime: Runtime, outputs: tuple[str, ...]) -> Path:
    return partial_dir(repository, family, runtime, outputs) / VERSION / runtime.model_filename


def wanted_model_files(repository: Path, family: str) -> list[Path]:
    """Every file a complete export of the family has: per runtime the full model, its manifest, its warm-up sample
    and the partial models; the photo models' preprocessing (an export from before some of those existed is
    incomplete, so --if-missing redoes it)."""
    return [
        path
        for runtime in RUNTIMES
        for path in (
            model_file(repository, family, runtime),
            model_dir(repository, family, runtime) / MANIFEST_FILENAME,
            model_dir(repository, family, runtime) / WARMUP_DIRNAME / WARMUP_SAMPLE_FILE,
            *(partial_file(repository, family, runtime, outputs) for outputs in PARTIAL_OUTPUT_SETS),
        )
    ] + [Path(repository) / preprocess_model_name(family) / VERSION / "model.py"]


def existing_model_files(repository: Path, family: str) -> list[Path]:
    """The family's model files and manifests that exist; all of them present = nothing to export."""
    return [path for path in wanted_model_files(repository, family) if path.is_file()]


def family_is_complete(repository: Path, family: str) -> bool:
    return len(existing_model_files(repository, family)) == len(wanted_model_files(repository, family))
