"""`python -m export`: flags -> one call of the pipeline."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gateway.defaults import DEFAULT_FAMILY

from . import progress
from .compare_tolerances import TOLERANCE_HELP
from .defaults import DEFAULT_ARCH, DEFAULT_INPUT_SIZE, DEFAULT_MAX_BATCH_SIZE
from .errors import ExportError
from .layout import existing_model_files, family_is_complete
from .paths import ExportSettings, default_images_dir, default_report_dir, default_repository
from .sources.request import OnnxRequest, SourceRequest, TorchvisionRequest

# The pipeline and the sources import torch/torchvision (seconds); `--help` and `--if-missing` on an
# existing export must not pay for that, so they are imported inside run().

DESCRIPTION = """\
Export a segmentation model into a Triton model repository as two models with one contract:
  <family>_torchscript/{config.pbtxt,labels.txt,manifest.json,1/model.pt}    (platform pytorch_libtorch)
  <family>_onnx/{config.pbtxt,labels.txt,manifest.json,1/model.onnx}         (platform onnxruntime_onnx)
Contract (docs/architecture.md): input `image` UINT8 [N,3,H,W] RGB (normalisation inside the graph);
outputs `logits` FP32 [N,C,H,W], `probabilities` FP32 [N,C,H,W] (softmax), `segmentation_map` UINT8 [N,H,W]
(argmax). Beside each: <model>__logits, <model>__probabilities, <model>__segmentation_map, each computing only
that output (what the gateway asks for a single result). Files are staged beside their targets and renamed into
place only when everything (including the parity check) succeeded, so a failed export writes nothing and Triton
never sees half a file.

Sources:
  --source torchvision (default): a torchvision segmentation model, by default DeepLabV3-MobileNetV3-Large
      with torchvision's COCO-with-VOC-labels weights (21 PASCAL VOC classes, 512x512).
  --source onnx --input-spec SPEC.json [--onnx-model PATH]: an existing ONNX segmentation model described by
      a small JSON file (format: export/README.md); its TorchScript twin is derived with onnx2torch and the
      parity check also compares against onnxruntime running the original file.
"""

EPILOG = f"""\
parity tolerances (python -m export.compare --help explains them):
{TOLERANCE_HELP}

examples:
  python -m export --weights random --repository /tmp/repo --skip-parity      # quick, no network needed
  python -m export --if-missing --fallback-random                             # what `make serve` runs
  python -m export --source torchvision --arch lraspp_mobilenet_v3_large --num-classes 3 \\
      --labels my_labels.txt --weights finetuned.pth --name my_lraspp
  python -m export --source onnx --input-spec export/specs/voc-deeplabv3-mnv2.json --name voc_mnv2
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_argument_group("where")
    where.add_argument(
        "--repository",
        type=Path,
        default=default_repository(),
        help="Triton model repository to write into (default: $MODEL_REPOSITORY or model_repository; now %(default)s)",
    )
    where.add_argument(
        "--name",
        default=DEFAULT_FAMILY,
        metavar="FAMILY",
        help="model family: writes FAMILY_torchscript and FAMILY_onnx (default %(default)s)",
    )
    where.add_argument(
        "--max-batch-size",
        type=int,
        default=DEFAULT_MAX_BATCH_SIZE,
        help="Triton max_batch_size in both configs (default %(default)s)",
    )
    where.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads per model instance, written into every config for Triton's native backends "
        "(onnxruntime's intra_op_thread_count, libtorch's INTRA_OP_THREAD_COUNT; inter-op 1) and read by the "
        "embedded adapter: set it to the CPUs a Triton container may use (its CPU limit), or the runtimes "
        "size their pools to the node's cores. 0 (default; $EXPORT_THREADS) writes none: the embedded adapter "
        "then uses the CPUs its cgroup quota and affinity allow",
    )
    where.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing (exit 0) when both model files and manifests of FAMILY already exist",
    )

    source = parser.add_argument_group("source")
    source.add_argument(
        "--source",
        choices=("torchvision", "onnx"),
        default="torchvision",
        help="where the model comes from (default %(default)s)",
    )
    source.add_argument(
        "--weights",
        default="pretrained",
        metavar="pretrained|random|PATH",
        help="torchvision source: 'pretrained' = torchvision's weights via its download/cache "
        "(default); 'random' = fixed-seed random weights (shapes and parity only; every "
        "report says RANDOM WEIGHTS); PATH = a local state dict (torch.save) for --arch",
    )
    source.add_argument(
        "--fallback-random",
        action="store_true",
        help="if pretrained weights cannot be obtained, print a loud banner and continue "
        "with RANDOM weights instead of failing (used by `make serve`)",
    )
    source.add_argument(
        "--arch",
        default=DEFAULT_ARCH,
        help="torchvision segmentation architecture (default %(default)s; e.g. "
        "lraspp_mobilenet_v3_large, fcn_resnet50, deeplabv3_resnet50)",
    )
    source.add_argument(
        "--num-classes", type=int, default=None, help="number of classes of --weights PATH (default: 21 VOC classes)"
    )
    source.add_argument(
        "--labels",
        type=Path,
        default=None,
        metavar="FILE",
        help="class names, one per line, index order (default: the 21 VOC classes)",
    )
    source.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        default=list(DEFAULT_INPUT_SIZE),
        metavar=("H", "W"),
        help="torchvision source: served image size (default %(default)s)",
    )
    source.add_argument(
        "--input-spec",
        type=Path,
        default=None,
        metavar="SPEC.json",
        help="onnx source: JSON description of the ONNX model's input/output (export/README.md)",
    )
    source.add_argument(
        "--onnx-model",
        type=Path,
        default=None,
        metavar="PATH",
        help="onnx source: the ONNX file (default: the spec's `model`)",
    )

    parity = parser.add_argument_group("parity check")
    parity.add_argument(
        "--skip-parity",
        action="store_true",
        help="skip eager vs TorchScript vs ONNX Runtime comparison (faster; for tests/CI)",
    )
    parity.add_argument(
        "--images",
        type=Path,
        default=default_images_dir(),
        metavar="DIR",
        help="photos for the parity check (default: $SHARED_DIR/images or ../shared/images)",
    )
    parity.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where report.json and comparison.png go (default artifacts/parity/FAMILY)",
    )

    int8 = parser.add_argument_group("int8 CPU model (optional; fp32 stays the default)")
    int8.add_argument(
        "--int8-calibration",
        type=Path,
        nargs="+",
        default=None,
        metavar="PHOTO|DIR",
        help="also write FAMILY_onnx_int8 (runtime onnx_int8, picked explicitly by clients): the ONNX "
        "model statically quantised (QDQ, per-channel int8 weights) and calibrated on these "
        "photos (plus crops and mirror images of them); refused unless its maps agree with "
        "fp32 on >= 98%% of the pixels of every held-out photo",
    )
    int8.add_argument(
        "--int8-holdout",
        type=Path,
        nargs="+",
        default=None,
        metavar="PHOTO|DIR",
        help="held-out photos for that check (default: the --images photos that are not calibration photos)",
    )
    return parser


def request_from_args(args: argparse.Namespace) -> SourceRequest:
    if args.source == "onnx":
        if args.input_spec is None:
            raise ExportError("--source onnx needs --input-spec SPEC.json (format: export/README.md)")
        return OnnxRequest(
            input_spec=str(args.input_spec.resolve()),
            onnx_model=str(args.onnx_model.resolve()) if args.onnx_model else None,
        )
    weights = args.weights if args.weights in ("pretrained", "random") else str(Path(args.weights).resolve())
    return TorchvisionRequest(
        arch=args.arch,
        weights=weights,
        num_classes=args.num_classes,
        labels_file=str(args.labels.resolve()) if args.labels else None,
        input_size=tuple(args.input_size),
    )


RANDOM_BANNER = """
################################################################################
#  WARNING: torchvision's pretrained weights could not be obtained.            #
#  The service will use RANDOM WEIGHTS: its segmentation maps are meaningless. #
#  Shapes, backends and parity still work. For real results, re-run with       #
#  network access (`python -m export --weights pretrained`) or a local file    #
#  (`python -m export --weights PATH`), then restart the service.              #
################################################################################
"""


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.if_missing and family_is_complete(args.repository, args.name):
        found = ", ".join(str(p) for p in existing_model_files(args.repository, args.name))
        print(f"model family {args.name!r} already exported, nothing to do: {found}")
        return run_int8(args) if args.int8_calibration else 0
    from .pipeline import ParityOptions, check_writable, export_family
    from .sources.torchvision_source import PretrainedUnavailable

    check_writable(args.repository)  # before any model building, which can take minutes

    request = request_from_args(args)
    source = None
    try:
        with progress.step(f"building the {request.kind} model"):
            source = request.build()
    except PretrainedUnavailable as error:
        if not args.fallback_random:
            raise
        print(f"{error}\n{RANDOM_BANNER}", file=sys.stderr, flush=True)
        request = TorchvisionRequest(**{**request.__dict__, "weights": "random"})
        source = request.build()
    report_dir = args.report_dir or default_report_dir(args.name)
    parity = None if args.skip_parity else ParityOptions(images_dir=args.images, report_dir=report_dir)
    result = export_family(
        request,
        args.repository,
        family=args.name,
        max_batch_size=args.max_batch_size,
        parity=parity,
        source=source,
        threads=ExportSettings().threads if args.threads is None else args.threads,
    )
    for runtime, folder in result.model_dirs.items():
        print(f"wrote {folder} ({runtime})")
    if result.report_dir:
        print(f"parity report: {result.report_dir / 'report.json'}, picture: {result.report_dir / 'comparison.png'}")
    if source.weights_are_random:
        print("NOTE: exported with RANDOM WEIGHTS (fixed seed): shapes and parity only, not real predictions")
    progress.say(f"finished in {time.perf_counter() - started:.1f} s")
    return run_int8(args) if args.int8_calibration else 0


def run_int8(args: argparse.Namespace) -> int:
    from .int8 import photo_files
    from .int8_export import export_int8

    calibration = photo_files(args.int8_calibration)
    holdout = photo_files(args.int8_holdout or [args.images])
    result = export_int8(args.repository, args.name, calibration, holdout)
    print(
        f"wrote {args.repository / (args.name + '_onnx_int8')} (onnx_int8): kept in float "
        f"{len(result.excluded_nodes)} node(s) {result.excluded_nodes}; map agreement with fp32 on held-out "
        f"photos {result.holdout_agreement}; in-process {result.fp32_ms} ms fp32 vs {result.int8_ms} ms int8"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
