"""Is another CPU runtime worth adopting? OpenVINO against onnxruntime's defaults, on the same files and photos.

Issue 21's rule: adopt a runtime setting only if it is faster than onnxruntime on both model families and its maps
equal onnxruntime's on at least 99.5% of the pixels of every photo. The families: the default one's served map file
(``<repository>/deeplabv3_onnx__segmentation_map/1/model.onnx``) and the real pretrained VOC model
(``../shared/models/voc-deeplabv3-mnv2/model.onnx``: real weights, so agreement means something). Each is run
by onnxruntime with its default session options (what a user runs), by OpenVINO with its defaults (on a CPU with
bfloat16 units its default inference precision is bf16) and by OpenVINO asked for f32; the settings take turns,
photo by photo, each timed run led by an untimed one.

OpenVINO is not a dependency of the project (NVIDIA's Triton image has an ``openvino`` backend; this machine's
venv has none), and this module imports nothing of the project, so it runs in a venv of its own::

    python -m venv /tmp/ov && /tmp/ov/bin/pip install openvino onnxruntime numpy pillow
    /tmp/ov/bin/python bench/cpu_runtimes.py

The figures and the decision are in docs/performance.md (round 5).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHARED_DIR", REPO_ROOT.parent / "shared"))
REQUIRED_AGREEMENT = 0.995  # of the map's pixels, on every photo
REFERENCE = "onnxruntime"

Run = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Family:
    name: str
    model: Path
    map_output: str
    prepare: Callable[[Path], np.ndarray]  # a photo file -> the model's input


@dataclass(frozen=True)
class Figures:
    family: str
    setting: str
    p50_ms: float
    speed_up: float  # onnxruntime's p50 / this p50
    agreement: tuple[float, ...]  # per photo: the share of map pixels equal to onnxruntime's


def nchw_512(path: Path) -> np.ndarray:
    with Image.open(path) as photo:
        resized = photo.convert("RGB").resize((512, 512), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(resized).transpose(2, 0, 1)[np.newaxis])


def nhwc_513(path: Path) -> np.ndarray:
    with Image.open(path) as photo:
        return np.asarray(photo.convert("RGB").resize((513, 513), Image.Resampling.BILINEAR))[np.newaxis].copy()


def families(repository: Path, shared: Path) -> list[Family]:
    return [
        Family(
            "deeplabv3 map file (as exported here)",
            repository / "deeplabv3_onnx__segmentation_map" / "1" / "model.onnx",
            "segmentation_map",
            nchw_512,
        ),
        Family(
            "voc-deeplabv3-mnv2 (real weights)",
            shared / "models" / "voc-deeplabv3-mnv2" / "model.onnx",
            "ArgMax",
            nhwc_513,
        ),
    ]


def map_agreement(found: np.ndarray, expected: np.ndarray) -> float:
    """The share of pixels whose class equals the reference's."""
    return float(np.mean(found.astype(np.int64) == expected.astype(np.int64)))


def adopted(figures: Sequence[Figures], setting: str) -> tuple[bool, str]:
    """The rule's verdict on ``setting``: faster than onnxruntime on every family, and every photo's map agreeing on
    at least REQUIRED_AGREEMENT of its pixels; with the reason."""
    mine = [f for f in figures if f.setting == setting]
    if not mine:
        return False, f"{setting}: not measured"
    slower = [f.family for f in mine if f.speed_up <= 1.0]
    unlike = [f.family for f in mine if min(f.agreement) < REQUIRED_AGREEMENT]
    if not slower and not unlike:
        return True, f"{setting}: faster on every family, maps >= {REQUIRED_AGREEMENT:.1%} equal"
    reasons = [
        f"not faster on {', '.join(slower)}" if slower else "",
        f"maps under {REQUIRED_AGREEMENT:.1%} equal on {', '.join(unlike)}" if unlike else "",
    ]
    return False, f"{setting}: " + "; ".join(reason for reason in reasons if reason)


def runners(model: Path, map_output: str) -> dict[str, Run]:
    import onnxruntime as ort
    import openvino as ov  # type: ignore[import-not-found]

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])  # onnxruntime's defaults
    input_name = session.get_inputs()[0].name
    core = ov.Core()

    def openvino_run(config: dict[str, str]) -> Run:
        compiled = core.compile_model(str(model), "CPU", config)
        request, output = compiled.create_infer_request(), compiled.output(map_output)
        return lambda x: request.infer({0: x})[output]

    return {
        REFERENCE: lambda x: session.run([map_output], {input_name: x})[0],
        "openvino (defaults)": openvino_run({}),
        "openvino f32": openvino_run({"INFERENCE_PRECISION_HINT": "f32"}),
    }


def measure(family: Family, photos: Sequence[Path], rounds: int) -> list[Figures]:
    run = runners(family.model, family.map_output)
    inputs = [family.prepare(photo) for photo in photos]
    expected = [run[REFERENCE](x) for x in inputs]
    agreement = {
        name: tuple(map_agreement(f(x), e) for x, e in zip(inputs, expected, strict=True)) for name, f in run.items()
    }
    times: dict[str, list[float]] = {name: [] for name in run}
    for _ in range(rounds):
        for name, f in run.items():
            for x in inputs:
                f(x)  # leads: the threads of the setting before it have settled
                started = time.perf_counter()
                f(x)
                times[name].append((time.perf_counter() - started) * 1000)
    reference = statistics.median(times[REFERENCE])
    return [
        Figures(
            family.name,
            name,
            round(statistics.median(t), 2),
            round(reference / statistics.median(t), 3),
            agreement[name],
        )
        for name, t in times.items()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Runs in a venv with openvino: see the module's docstring."
    )
    parser.add_argument(
        "--repository",
        type=Path,
        default=REPO_ROOT / "model_repository",
        help="exported repository (default: %(default)s)",
    )
    parser.add_argument(
        "--shared", type=Path, default=SHARED, help="the shared folder: photos and the VOC model (default: %(default)s)"
    )
    parser.add_argument(
        "--rounds", type=int, default=6, help="timed runs of each photo per setting (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if importlib.util.find_spec("openvino") is None:
        print("openvino is not installed here: run this in a venv of its own (see --help)", file=sys.stderr)
        return 2
    photos = sorted((args.shared / "images").glob("*.jpg"))
    figures = [f for family in families(args.repository, args.shared) for f in measure(family, photos, args.rounds)]
    for f in figures:
        print(
            f"{f.family:40s} {f.setting:20s} p50 {f.p50_ms:8.2f} ms  x{f.speed_up:5.3f}  "
            f"map agreement min {min(f.agreement):.4f} mean {statistics.mean(f.agreement):.4f}"
        )
    for setting in dict.fromkeys(f.setting for f in figures if f.setting != REFERENCE):
        verdict, reason = adopted(figures, setting)
        print("adopt" if verdict else "keep onnxruntime", "-", reason)
    print(f"1-min load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
