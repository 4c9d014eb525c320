"""An int8 ONNX model for CPU: static QDQ quantisation (per-channel weights), calibrated on the user's
photos, written only when its maps agree with fp32 on held-out photos.

It is served as a runtime of its own (`onnx_int8`, model `<family>_onnx_int8`, plus its single-output
models), which a client picks explicitly; fp32 stays the default. How it is made:
- Convolutions, their activations (Clip = ReLU6, Relu) and the residual Adds are quantised, so tensors
  stay int8 from one convolution to the next; normalisation, resizing, softmax and argmax stay in float.
  The graph first goes through onnxruntime's quantisation pre-processing (shape inference, constant
  folding: ReLU6's bounds must be constants for its QDQ pair to fold into the convolution).
- Calibration: every calibration photo at the model's size, plus crops and mirror images of it (more
  activation ranges from few photos), min/max calibration.
- Sensitive layers stay in float: the first convolutions, which see the raw image. Measured on the shared
  VOC DeepLabV3-MobileNetV2: everything quantised agrees with fp32 on 91.7% of dog1.jpg's pixels; keeping
  the head (ASPP, projection, logits) in float changes nothing (91.6%); keeping the first five convolutions
  and their activations in float gives 98.1% at ~2x the speed. The export tries keeping 0, then more of
  the first convolutions in float (FIRST_CONVS_IN_FLOAT) and keeps the first model whose maps agree with
  fp32 on at least MIN_AGREEMENT of the pixels of every held-out photo; none = an ExportError, nothing
  written. What was kept in float is in the manifest.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
from PIL import Image, ImageOps

from gateway.contract import INPUT_NAME, OUTPUT_NAMES, SEGMENTATION_MAP

from . import progress
from .errors import ExportError
from .photos import PHOTO_SUFFIXES, Photo

MIN_AGREEMENT = 0.98
# How many of the first convolutions (with the nodes between them) stay in float, tried in this order.
FIRST_CONVS_IN_FLOAT = (0, 5, 8, 12)
QUANTISED_OPS = ("Conv", "Clip", "Relu", "Add")
# Crops (left, top, right, bottom as fractions) each calibration photo also gives, each also mirrored.
CROPS = ((0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 0.7, 0.7), (0.3, 0.3, 1.0, 1.0), (0.15, 0.0, 0.85, 1.0))


@dataclass
class Int8Result:
    path: Path  # the int8 model.onnx written (a temp file of the caller's choosing)
    excluded_nodes: list[str]
    calibration_photos: list[str]
    calibration_samples: int
    holdout_agreement: dict[str, float]  # held-out photo -> fraction of map pixels equal to fp32's
    attempts: list[dict[str, Any]] = field(default_factory=list)
    fp32_ms: float | None = None
    int8_ms: float | None = None

    @property
    def min_agreement(self) -> float:
        return min(self.holdout_agreement.values())

    def summary(self) -> dict[str, Any]:
        return {
            "quantisation": "static QDQ, int8 per-channel weights (symmetric), uint8 activations; "
            "Conv, Clip, Relu, Add; min/max calibration",
            "excluded_nodes": self.excluded_nodes,
            "calibration_photos": self.calibration_photos,
            "calibration_samples": self.calibration_samples,
            "holdout_agreement": self.holdout_agreement,
            "min_holdout_agreement": self.min_agreement,
            "required_agreement": MIN_AGREEMENT,
            "attempts": self.attempts,
            "fp32_ms_in_process": self.fp32_ms,
            "int8_ms_in_process": self.int8_ms,
        }


def photo_files(paths: list[Path]) -> list[Path]:
    """Files as given, and the photos inside folders given, sorted, without duplicates."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise ExportError(f"int8: no photo or folder {path}")
    return list(dict.fromkeys(p.resolve() for p in found))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def held_out(candidates: list[Path], calibration: list[Path]) -> list[Path]:
    """The candidates that are not calibration photos (same bytes = same photo, whatever its name)."""
    used = {_digest(path) for path in calibration}
    return [path for path in candidates if _digest(path) not in used]


def _open(path: Path) -> Photo:
    try:
        with Image.open(path) as opened:
            return Photo(path.name, ImageOps.exif_transpose(opened).convert("RGB"))
    except OSError as error:
        raise ExportError(f"int8: cannot read photo {path}: {error}") from error


def calibration_samples(paths: list[Path], size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Each photo's crops (CROPS) and their mirror images, as UINT8 [1,3,H,W]."""
    for path in paths:
        image = _open(path).image
        width, height = image.size
        for left, top, right, bottom in CROPS:
            crop = image.crop((int(left * width), int(top * height), int(right * width), int(bottom * height)))
            for variant in (crop, ImageOps.mirror(crop)):
                yield Photo(path.name, variant).as_input(size)


def _session(model: str | bytes, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def float_nodes(path: Path, first_convs: int) -> list[str]:
    """The quantisable nodes up to (not including) the (first_convs + 1)-th convolution, in graph order."""
    if first_convs == 0:
        return []
    kept, convs = [], 0
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        if node.op_type == "Conv":
            if convs == first_convs:
                break
            convs += 1
        if node.op_type in QUANTISED_OPS:
            kept.append(node.name)
    return kept


def quantise(fp32_path: Path, int8_path: Path, samples: list[np.ndarray], exclude: list[str]) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._samples = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            sample = next(self._samples, None)
            return None if sample is None else {INPUT_NAME: sample}

    quantize_static(
        str(fp32_path),
        str(int8_path),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(QUANTISED_OPS),
        nodes_to_exclude=exclude,
        calibrate_method=CalibrationMethod.MinMax,
    )


def agreement(
    fp32: onnxruntime.InferenceSession, int8: onnxruntime.InferenceSession, photos: list[Path], size: tuple[int, int]
) -> dict[str, float]:
    found = {}
    for path in photos:
        batch = _open(path).as_input(size)
        (expected,) = fp32.run([SEGMENTATION_MAP], {INPUT_NAME: batch})
        (actual,) = int8.run([SEGMENTATION_MAP], {INPUT_NAME: batch})
        found[path.name] = round(float((expected == actual).mean()), 5)
    return found


def _median_ms(session: onnxruntime.InferenceSession, batch: np.ndarray, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.run([SEGMENTATION_MAP], {INPUT_NAME: batch})
        times.append(time.perf_counter() - started)
    return round(1000 * float(np.median(times)), 1)


def build_int8(
    fp32_path: Path,
    int8_path: Path,
    calibration: list[Path],
    holdout: list[Path],
    size: tuple[int, int],
    threads: int,
    first_convs_in_float: tuple[int, ...] = FIRST_CONVS_IN_FLOAT,
    timing_repeats: int = 3,
) -> Int8Result:
    """Quantise `fp32_path` (the full contract graph) into `int8_path`, or raise ExportError."""
    if not calibration:
        raise ExportError("int8: no calibration photos given")
    holdout = held_out(holdout, calibration)
    if not holdout:
        raise ExportError("int8: no held-out photos left (held-out photos must not be calibration photos)")
    samples = list(calibration_samples(calibration, size))
    fp32 = _session(str(fp32_path), threads)
    attempts: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="int8-") as scratch:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        prepared = Path(scratch) / "prepared.onnx"
        with progress.step("int8: quantisation pre-processing (constant folding, shape inference)"):
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        for kept in first_convs_in_float:
            exclude = float_nodes(prepared, kept)
            with progress.step(
                f"int8: quantising ({len(samples)} calibration samples from {len(calibration)} "
                f"photo(s); first {kept} convolutions in float)"
            ):
                quantise(prepared, int8_path, samples, exclude)
            int8 = _session(str(int8_path), threads)
            found = agreement(fp32, int8, holdout, size)
            attempts.append({"first_convs_in_float": kept, "float_nodes": len(exclude), "holdout_agreement": found})
            progress.say(f"int8: map agreement with fp32 on held-out photos: {found}")
            if min(found.values()) >= MIN_AGREEMENT:
                result = Int8Result(int8_path, exclude, [p.name for p in calibration], len(samples), found, attempts)
                if timing_repeats:
                    batch = _open(holdout[0]).as_input(size)
                    fp32.run(None, {INPUT_NAME: batch}), int8.run(None, {INPUT_NAME: batch})
                    result.fp32_ms = _median_ms(fp32, batch, timing_repeats)
                    result.int8_ms = _median_ms(int8, batch, timing_repeats)
                return result
    worst = min(attempts[-1]["holdout_agreement"].items(), key=lambda item: item[1])
    raise ExportError(
        f"int8: maps agree with fp32 on only {worst[1]:.2%} of {worst[0]}'s pixels "
        f"(< {MIN_AGREEMENT:.0%}) even with the first {first_convs_in_float[-1]} convolutions in float; "
        f"nothing written. Give more (and more varied) calibration photos."
    )


def check_outputs(path: Path) -> None:
    names = [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]
    if names != list(OUTPUT_NAMES):
        raise ExportError(f"int8: {path} has outputs {names}, not {list(OUTPUT_NAMES)}")
