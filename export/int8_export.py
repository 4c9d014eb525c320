"""Writes the int8 model of an exported family: `<family>_onnx_int8` and its single-output models.

The fp32 `<family>_onnx` must already be in the repository; its config gives the labels and the size.
All files appear at once or none do (nothing when the int8 maps disagree with fp32: export/int8.py).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from gateway.contract import LABELS_PARAM, PARTIAL_OUTPUT_SETS, WEIGHTS_FILE_PARAM, WEIGHTS_PARAM, WEIGHTS_SHA256_PARAM

from . import progress
from .atomic import StagedFiles
from .errors import ExportError
from .int8 import Int8Result, build_int8, check_outputs
from .layout import (
    MANIFEST_FILENAME,
    VERSION,
    model_dir,
    model_file,
    partial_dir,
    partial_file,
)
from .manifest import file_record, package_versions, render_manifest
from .onnx_export import extract_outputs
from .triton_config import (
    CONFIG_FILENAME,
    LABELS_FILENAME,
    ONNX,
    ONNX_INT8,
    WARMUP_DIRNAME,
    WARMUP_SAMPLE_FILE,
    ModelSpec,
    WeightsRecord,
    check_config_file,
    render_config,
    render_labels,
)


def export_int8(repository: Path, family: str, calibration: list[Path], holdout: list[Path]) -> Int8Result:
    fp32_path = model_file(repository, family, ONNX)
    if not fp32_path.is_file():
        raise ExportError(f"int8: {fp32_path} does not exist: export the fp32 family first")
    config = check_config_file(model_dir(repository, family, ONNX) / CONFIG_FILENAME)
    labels = tuple(config.parameters[LABELS_PARAM].string_value.split(","))
    size = (int(config.input[0].dims[1]), int(config.input[0].dims[2]))
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    # The int8 model has the fp32 model's weights, quantised: clients are told the same kind and file.
    weights = WeightsRecord(
        parameters.get(WEIGHTS_PARAM, "pretrained"),
        parameters.get(WEIGHTS_FILE_PARAM, ""),
        parameters.get(WEIGHTS_SHA256_PARAM, ""),
    )
    spec = ModelSpec(family, ONNX_INT8, labels, size, config.max_batch_size, weights=weights)
    # The fp32 model's warm-up sample, or a plain one for a repository exported before it existed.
    sample = model_dir(repository, family, ONNX) / WARMUP_DIRNAME / WARMUP_SAMPLE_FILE
    warmup = sample.read_bytes() if sample.is_file() else bytes(3 * size[0] * size[1])
    with StagedFiles() as staged:
        target = model_file(repository, family, ONNX_INT8)
        result = build_int8(fp32_path, staged.stage(target), calibration, holdout, size, os.cpu_count() or 1)
        check_outputs(result.path)
        with progress.step("int8: partial models"):
            for outputs in PARTIAL_OUTPUT_SETS:
                extract_outputs(
                    result.path, outputs, staged.stage(partial_file(repository, family, ONNX_INT8, outputs))
                )
                folder = partial_dir(repository, family, ONNX_INT8, outputs)
                staged.write_text(folder / CONFIG_FILENAME, render_config(spec.partial(outputs)))
                staged.write_text(folder / LABELS_FILENAME, render_labels(labels))
                staged.write_bytes(folder / WARMUP_DIRNAME / WARMUP_SAMPLE_FILE, warmup)
        folder = model_dir(repository, family, ONNX_INT8)
        staged.write_text(folder / CONFIG_FILENAME, render_config(spec))
        staged.write_text(folder / LABELS_FILENAME, render_labels(labels))
        staged.write_bytes(folder / WARMUP_DIRNAME / WARMUP_SAMPLE_FILE, warmup)
        manifest = {
            "family": family,
            "model_name": spec.name,
            "runtime": ONNX_INT8.name,
            "platform": ONNX_INT8.platform,
            "quantised_from": {
                "model": model_file(repository, family, ONNX).relative_to(repository).as_posix(),
                **file_record(fp32_path),
            },
            "int8": result.summary(),
            "labels": list(labels),
            "input_size": list(size),
            "max_batch_size": config.max_batch_size,
            "versions": package_versions(),
            "files": {f"{VERSION}/{ONNX_INT8.model_filename}": file_record(result.path)},
            "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        staged.write_text(folder / MANIFEST_FILENAME, render_manifest(manifest))
        staged.commit()
    return result
