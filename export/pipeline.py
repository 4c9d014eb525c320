"""One path for every source: contract wrapper -> TorchScript + ONNX -> configs -> parity -> manifests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gateway.contract import PARTIAL_OUTPUT_SETS
from gateway.defaults import DEFAULT_FAMILY

from . import partial_models, progress
from .atomic import StagedFiles
from .contract import SegmentationContract
from .defaults import DEFAULT_MAX_BATCH_SIZE
from .errors import ExportError
from .layout import MANIFEST_FILENAME, VERSION, model_dir, model_file, partial_dir, partial_file
from .manifest import build_manifest, file_record, render_manifest
from .onnx_export import export_onnx
from .photo_models import write_photo_models
from .sources.base import ModelSource
from .sources.request import SourceRequest, request_to_dict
from .torchscript import save_torchscript, to_torchscript
from .triton_config import (
    CONFIG_FILENAME,
    LABELS_FILENAME,
    ONNX,
    RUNTIMES,
    TORCH,
    WARMUP_DIRNAME,
    WARMUP_SAMPLE_FILE,
    ModelSpec,
    WeightsRecord,
    model_name,
    render_config,
    render_labels,
)


@dataclass(frozen=True)
class ParityOptions:
    images_dir: Path
    report_dir: Path


@dataclass
class ExportResult:
    family: str
    model_dirs: dict[str, Path]  # runtime name ("torch" | "onnx") -> model folder
    parity: dict[str, Any] | None = None
    report_dir: Path | None = None
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)


def weights_record(source: ModelSource) -> WeightsRecord:
    """What the config tells clients about the weights: their kind, and for a file its base name and sha256."""
    if source.weights in ("pretrained", "random"):
        return WeightsRecord(source.weights)
    path = Path(source.weights)
    return WeightsRecord("file", path.name, file_record(path)["sha256"])


def check_writable(repository: Path) -> None:
    """Fail before minutes of export work, naming the folder, rather than at the first rename."""
    try:
        repository.mkdir(parents=True, exist_ok=True)
        # A real probe: os.access() says yes to root even on read-only mounts.
        probe = repository / f".write-probe.tmp-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ExportError(f"model repository {repository} is not writable: {error.strerror or error}") from error


def export_family(
    request: SourceRequest,
    repository: Path,
    family: str = DEFAULT_FAMILY,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    parity: ParityOptions | None = None,
    source: ModelSource | None = None,
    threads: int = 0,
) -> ExportResult:
    """Export one model family (both runtimes) into `repository`; all files appear at once or none do.

    `source` may be passed when the caller already built it from `request` (e.g. the pretrained
    fallback); the request is what the manifest records so the model can be rebuilt for parity later.
    """
    repository = Path(repository)
    check_writable(repository)
    _check_family_name(family)
    if threads < 0:
        raise ExportError(f"threads must be >= 0 (0: the runtime's default), got {threads}")
    if source is None:
        with progress.step(f"building the {request.kind} model"):
            source = request.build()
    contract = SegmentationContract(source.logits_model).eval()
    height, width = source.input_size
    # A real-looking (non-constant) example keeps the tracer from specialising on degenerate values.
    example = torch.randint(
        0, 256, (1, 3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )

    result = ExportResult(family=family, model_dirs={r.name: model_dir(repository, family, r) for r in RUNTIMES})
    try:
        _write_family(request, source, contract, example, repository, family, max_batch_size, parity, result, threads)
    except OSError as error:
        raise ExportError(
            f"cannot write into model repository {repository}: {error.strerror or error} ({error.filename or ''})"
        ) from error
    return result


def _write_family(
    request: SourceRequest,
    source: ModelSource,
    contract: SegmentationContract,
    example: torch.Tensor,
    repository: Path,
    family: str,
    max_batch_size: int,
    parity: ParityOptions | None,
    result: ExportResult,
    threads: int = 0,
) -> None:
    with StagedFiles() as staged:
        torch_target, onnx_target = model_file(repository, family, TORCH), model_file(repository, family, ONNX)
        with progress.step(f"TorchScript export (trace + freeze) -> {torch_target}"):
            save_torchscript(to_torchscript(contract, example), staged.stage(torch_target))
        with progress.step(f"ONNX export (opset 17, dynamic batch, onnx.checker) -> {onnx_target}"):
            export_onnx(contract, example, staged.stage(onnx_target))
        partials = _write_partial_models(source, example, repository, family, staged)

        weights = weights_record(source)
        warmup = example[0].numpy().tobytes()  # raw UINT8 [3, H, W], as Triton's model_warmup reads it
        for runtime in RUNTIMES:
            spec = ModelSpec(
                family, runtime, source.labels, source.input_size, max_batch_size, weights=weights, threads=threads
            )
            folder = model_dir(repository, family, runtime)
            staged.write_text(folder / CONFIG_FILENAME, render_config(spec))
            staged.write_text(folder / LABELS_FILENAME, render_labels(source.labels))
            staged.write_bytes(folder / WARMUP_DIRNAME / WARMUP_SAMPLE_FILE, warmup)
            for outputs in PARTIAL_OUTPUT_SETS:
                folder = partial_dir(repository, family, runtime, outputs)
                staged.write_text(folder / CONFIG_FILENAME, render_config(spec.partial(outputs)))
                staged.write_text(folder / LABELS_FILENAME, render_labels(source.labels))
                staged.write_bytes(folder / WARMUP_DIRNAME / WARMUP_SAMPLE_FILE, warmup)

        write_photo_models(
            staged,
            repository,
            [
                ModelSpec(family, runtime, source.labels, source.input_size, max_batch_size, weights=weights)
                for runtime in RUNTIMES
            ],
        )

        if parity is not None:
            from .compare import run_parity  # heavy imports (Pillow drawing) only when parity runs

            report = run_parity(
                source=source,
                family=family,
                torchscript_path=staged.temp_for(torch_target),
                onnx_path=staged.temp_for(onnx_target),
                images_dir=parity.images_dir,
                report_dir=parity.report_dir,
            )
            result.parity, result.report_dir = report.summary(), parity.report_dir
            if not report.passed:
                raise ExportError(
                    f"parity check failed ({'; '.join(report.failures)}); nothing written. See {parity.report_dir}"
                )
            with progress.step("parity: partial models against their full model"):
                full = {TORCH.name: staged.temp_for(torch_target), ONNX.name: staged.temp_for(onnx_target)}
                result.parity["partial_max_abs_diff"] = partial_models.check_agreement(full, partials, example.numpy())

        for runtime in RUNTIMES:
            folder = model_dir(repository, family, runtime)
            spec_name = model_name(family, runtime)
            files = {
                f"{VERSION}/{runtime.model_filename}": staged.temp_for(model_file(repository, family, runtime)),
                CONFIG_FILENAME: staged.temp_for(folder / CONFIG_FILENAME),
                LABELS_FILENAME: staged.temp_for(folder / LABELS_FILENAME),
            }
            manifest = build_manifest(
                family=family,
                model_name=spec_name,
                runtime=runtime.name,
                platform_name=runtime.platform,
                source=source,
                request=request_to_dict(request),
                max_batch_size=max_batch_size,
                files=files,
                parity=result.parity,
            )
            result.manifests[runtime.name] = manifest
            # Staged last, so it is renamed into place after the model file it describes.
            staged.write_text(folder / MANIFEST_FILENAME, render_manifest(manifest))
        staged.commit()


def _write_partial_models(
    source: ModelSource, example: torch.Tensor, repository: Path, family: str, staged: StagedFiles
) -> dict[str, dict[tuple[str, ...], Path]]:
    """runtime name -> output set -> staged file of the model computing only those outputs."""
    written: dict[str, dict[tuple[str, ...], Path]] = {TORCH.name: {}, ONNX.name: {}}
    full_onnx = staged.temp_for(model_file(repository, family, ONNX))
    names = ", ".join("+".join(outputs) for outputs in PARTIAL_OUTPUT_SETS)
    with progress.step(f"partial models ({names}) for both runtimes"):
        for outputs in PARTIAL_OUTPUT_SETS:
            target = staged.stage(partial_file(repository, family, TORCH, outputs))
            partial_models.write_torchscript(source, example, outputs, target)
            written[TORCH.name][outputs] = target
            target = staged.stage(partial_file(repository, family, ONNX, outputs))
            partial_models.write_onnx(full_onnx, outputs, target)
            written[ONNX.name][outputs] = target
    return written


def _check_family_name(family: str) -> None:
    if not family or not all(c.isalnum() or c in "_-" for c in family):
        raise ExportError(f"family name {family!r} must be letters, digits, '_' or '-' (it names Triton models)")
