"""Derive the Python-backend twin of a native Triton repository.

The repository in git is written for NVIDIA's image (libtorch / onnxruntime backends). The wheel's server
has only the Python backend, so each model gets a twin: the same config (name, inputs, outputs, batching,
instance groups, parameters, labels) with `backend: "python"`, our adapter as `model.py`, and a link to the
exported artefact. The twin is generated on every start and never edited by hand.

A partial model (`<full>__<output>[__<output>]`, gateway/contract.py) whose full model is in the same repository
gets no process of its own: its twin is a Triton ensemble of one step, the full model's twin asked for only those
outputs, and the full model's twin links the partial artefacts beside its own (`partial.<output>+<output>.<ext>`)
and runs the one that computes exactly what a batch asks for. One Python stub per runtime instead of one per model:
each stub loads torch or onnxruntime, a few hundred MB (docs/performance.md, "Memory").
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from gateway.contract import (
    OUTPUT_OF_PARAM,
    PARTIAL_OUTPUT_SETS,
    SELECTS_PARTIALS_PARAM,
    partial_model_name,
    partial_outputs_of,
)
from serving.errors import ServingError

ADAPTER = Path(__file__).parent / "python_backend" / "model.py"
WARMUP_DIRNAME = "warmup"  # export/triton_config.py's: Triton reads model_warmup samples from <model>/warmup/
ARTIFACT_PARAMETER = "serving.artifact"
SOURCE_PLATFORM_PARAMETER = "serving.source_platform"

# Triton's default artefact name for each native platform / backend the project exports.
DEFAULT_ARTIFACTS = {
    "pytorch_libtorch": "model.pt",
    "pytorch": "model.pt",
    "onnxruntime_onnx": "model.onnx",
    "onnxruntime": "model.onnx",
}
# Models the wheel's server runs as they are: Triton's own ensembles (no artefact) and Python-backend models.
PASS_THROUGH = {"ensemble": None, "python": "model.py"}


@dataclass(frozen=True)
class TwinModel:
    name: str
    source_dir: Path
    artifact: str
    versions: tuple[int, ...]


def read_config(config_path: Path) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(config_path.read_text(), config)
    except text_format.ParseError as exc:
        raise ServingError(f"cannot parse {config_path}: {exc}") from exc
    return config


def model_dirs(repository: Path) -> list[Path]:
    if not repository.is_dir():
        raise ServingError(f"model repository {repository} does not exist (MODEL_REPOSITORY)")
    dirs = sorted(p for p in repository.iterdir() if (p / "config.pbtxt").is_file())
    if not dirs:
        raise ServingError(f"model repository {repository} has no model (no */config.pbtxt)")
    return dirs


def version_dirs(model_dir: Path) -> list[Path]:
    return sorted((p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def artifact_name(config: model_config_pb2.ModelConfig, model_dir: Path) -> str | None:
    """The file each version folder must hold; None for an ensemble (an empty version folder)."""
    if config.default_model_filename:
        return config.default_model_filename
    kind = config.platform or config.backend
    if kind in PASS_THROUGH:
        return PASS_THROUGH[kind]
    try:
        return DEFAULT_ARTIFACTS[kind]
    except KeyError:
        raise ServingError(
            f"model '{model_dir.name}': platform/backend {kind!r} has no Python-backend twin "
            f"(supported: {', '.join(sorted(DEFAULT_ARTIFACTS))})"
        ) from None


def missing_artifacts(repository: Path) -> list[str]:
    """Models whose exported artefact is absent, as 'name/version/file' (or 'name/<no version>')."""
    missing = []
    for model_dir in model_dirs(repository):
        artifact = artifact_name(read_config(model_dir / "config.pbtxt"), model_dir)
        versions = version_dirs(model_dir)
        if not versions:
            missing.append(f"{model_dir.name}/<no version directory>/{artifact}")
        if artifact is not None:
            missing += [f"{model_dir.name}/{v.name}/{artifact}" for v in versions if not (v / artifact).is_file()]
    return missing


def twin_config(config: model_config_pb2.ModelConfig, name: str, artifact: str) -> model_config_pb2.ModelConfig:
    twin = model_config_pb2.ModelConfig()
    twin.CopyFrom(config)
    source_platform = config.platform or config.backend
    twin.name = config.name or name
    twin.ClearField("platform")
    twin.backend = "python"
    # Artefact selection and native-backend accelerators mean nothing to the Python backend.
    twin.ClearField("default_model_filename")
    twin.ClearField("cc_model_filenames")
    twin.ClearField("optimization")
    twin.parameters[ARTIFACT_PARAMETER].string_value = artifact
    twin.parameters[SOURCE_PLATFORM_PARAMETER].string_value = source_platform
    return twin


def build_twin(repository: Path, twin_root: Path) -> list[TwinModel]:
    """(Re)generate `twin_root` from `repository`; returns the models it holds."""
    repository = repository.resolve()
    staging = twin_root.with_name(twin_root.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    models = [_write_twin_model(model_dir, staging) for model_dir in model_dirs(repository)]
    shutil.rmtree(twin_root, ignore_errors=True)
    staging.rename(twin_root)
    return models


PARTIAL_PREFIX = "partial."


def partial_link_name(outputs: tuple[str, ...], artifact: str) -> str:
    """The name of a partial artefact linked beside its full model's: `partial.<output>+<output>.<ext>`."""
    return f"{PARTIAL_PREFIX}{'+'.join(outputs)}{Path(artifact).suffix}"


def full_model_of(config: model_config_pb2.ModelConfig, model_dir: Path) -> Path | None:
    """The folder of the full model a partial model computes some outputs of, when it is in the same repository."""
    full = config.parameters[OUTPUT_OF_PARAM].string_value if OUTPUT_OF_PARAM in config.parameters else ""
    folder = model_dir.parent / full
    return folder if full and (folder / "config.pbtxt").is_file() else None


def ensemble_config(config: model_config_pb2.ModelConfig, name: str, full_name: str) -> model_config_pb2.ModelConfig:
    """A partial model as one ensemble step over its full model, asked for the partial model's outputs only."""
    twin = model_config_pb2.ModelConfig()
    twin.name = config.name or name
    twin.platform = "ensemble"
    twin.max_batch_size = config.max_batch_size
    twin.input.extend(config.input)
    twin.output.extend(config.output)
    for key, value in config.parameters.items():
        twin.parameters[key].CopyFrom(value)
    step = twin.ensemble_scheduling.step.add()
    step.model_name = full_name
    step.model_version = -1
    for tensor in config.input:
        step.input_map[tensor.name] = tensor.name
    for tensor in config.output:
        step.output_map[tensor.name] = tensor.name
    return twin


def _write_twin_model(model_dir: Path, twin_root: Path) -> TwinModel:
    config = read_config(model_dir / "config.pbtxt")
    artifact = artifact_name(config, model_dir)
    if (config.platform or config.backend) in PASS_THROUGH:
        return _copy_model(model_dir, twin_root, config, artifact)
    assert artifact is not None
    full_dir = full_model_of(config, model_dir)
    versions = version_dirs(model_dir)
    missing = [v.name for v in versions if not (v / artifact).is_file()]
    if not versions or missing:
        where = (
            ", ".join(f"{model_dir.name}/{v}/{artifact}" for v in missing) or f"{model_dir.name}/<version>/{artifact}"
        )
        raise ServingError(f"model '{model_dir.name}' is not exported (missing {where}): run `python -m export`")

    target = twin_root / model_dir.name
    target.mkdir()
    twin = (
        twin_config(config, model_dir.name, artifact)
        if full_dir is None
        else ensemble_config(config, model_dir.name, full_dir.name)
    )
    header = f"# Generated by serving/twin.py from {model_dir / 'config.pbtxt'}: do not edit.\n"
    (target / "config.pbtxt").write_text(header + text_format.MessageToString(twin))
    for extra in model_dir.iterdir():
        if extra.is_file() and extra.name != "config.pbtxt":
            shutil.copy2(extra, target / extra.name)
    if (model_dir / WARMUP_DIRNAME).is_dir() and full_dir is None:  # model_warmup's samples (an ensemble has none)
        shutil.copytree(model_dir / WARMUP_DIRNAME, target / WARMUP_DIRNAME)
    for version in versions:
        twin_version = target / version.name
        twin_version.mkdir()
        if full_dir is not None:
            continue  # an ensemble's version folder stays empty
        (twin_version / "model.py").symlink_to(ADAPTER.resolve())
        (twin_version / artifact).symlink_to((version / artifact).resolve())
        partials = _partial_artifacts(model_dir, twin.name, version.name, artifact)
        for outputs, path in partials.items():
            (twin_version / partial_link_name(outputs, artifact)).symlink_to(path)
        if partials and SELECTS_PARTIALS_PARAM not in twin.parameters:
            twin.parameters[SELECTS_PARTIALS_PARAM].string_value = "true"
            (target / "config.pbtxt").write_text(header + text_format.MessageToString(twin))
    return TwinModel(twin.name, model_dir, artifact, tuple(int(v.name) for v in versions))


def _copy_model(
    model_dir: Path, twin_root: Path, config: model_config_pb2.ModelConfig, artifact: str | None
) -> TwinModel:
    """An ensemble or a Python-backend model, as it is: its config and files, its version folders linked."""
    versions = version_dirs(model_dir)
    if not versions or (artifact is not None and not all((v / artifact).is_file() for v in versions)):
        raise ServingError(
            f"model '{model_dir.name}' is not exported (missing its version folder): run `python -m export`"
        )
    target = twin_root / model_dir.name
    target.mkdir()
    for entry in model_dir.iterdir():
        if entry.is_file():
            shutil.copy2(entry, target / entry.name)
    if config.platform == "ensemble" and _steps_to_full_models(config, model_dir.parent):
        header = f"# Generated by serving/twin.py from {model_dir / 'config.pbtxt'}: do not edit.\n"
        (target / "config.pbtxt").write_text(header + text_format.MessageToString(config))
    for version in versions:
        (target / version.name).symlink_to(version.resolve(), target_is_directory=True)
    return TwinModel(config.name or model_dir.name, model_dir, artifact or "", tuple(int(v.name) for v in versions))


def _steps_to_full_models(config: model_config_pb2.ModelConfig, repository: Path) -> bool:
    """Ensemble steps into a partial model go to its full model instead, which computes only the step's outputs
    in the twin (its own process runs the partial files): one scheduling hop less. True when one changed."""
    changed = False
    for step in config.ensemble_scheduling.step:
        outputs = partial_outputs_of(step.model_name)
        full = step.model_name.split("__", 1)[0]
        if outputs is not None and (repository / full / "config.pbtxt").is_file():
            step.model_name, changed = full, True
    return changed


def _partial_artifacts(model_dir: Path, full_name: str, version: str, artifact: str) -> dict[tuple[str, ...], Path]:
    """The partial models' artefacts of one full model, by output set: the same version, else their highest."""
    found: dict[tuple[str, ...], Path] = {}
    for outputs in PARTIAL_OUTPUT_SETS:
        folder = model_dir.parent / partial_model_name(full_name, outputs)
        if not (folder / "config.pbtxt").is_file():
            continue
        candidates = [v for v in version_dirs(folder) if (v / artifact).is_file()]
        same = [v for v in candidates if v.name == version]
        if same or candidates:
            found[outputs] = ((same or candidates)[-1] / artifact).resolve()
    return found


# --- one model at a time (used by serving/watcher.py while the server runs) ---------------------------
def replace_twin_model(model_dir: Path, twin_root: Path) -> TwinModel:
    """(Re)generate the twin of one model; the old twin directory is swapped out by renames, never edited."""
    staging = twin_root.with_name(twin_root.name + ".model.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        model = _write_twin_model(model_dir.resolve(), staging)
        target, old = twin_root / model_dir.name, staging / (model_dir.name + ".old")
        if target.exists():
            target.rename(old)
        (staging / model_dir.name).rename(target)
        return model
    finally:
        shutil.rmtree(staging, ignore_errors=True)
