"""Parity check: eager PyTorch vs TorchScript vs ONNX Runtime (and the original model, when the source has
one), on the real photos and on random inputs. Writes report.json and comparison.png; run by
`python -m export` and on its own as `python -m export.compare --repository DIR --name FAMILY`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from gateway.defaults import DEFAULT_FAMILY

from . import progress, runners
from .compare_tolerances import DEFAULT_TOLERANCES, TOLERANCE_HELP, Tolerances
from .errors import ExportError
from .layout import MANIFEST_FILENAME, model_dir, model_file
from .manifest import read_manifest
from .parity import Agreement, InputResult, ParityReport, class_fractions, output_contract_problems
from .paths import default_images_dir, default_report_dir, default_repository
from .photos import load_photos, random_inputs
from .picture import PhotoRow, draw_comparison
from .sources.base import ModelSource
from .sources.request import request_from_dict
from .triton_config import ONNX, TORCH

REPORT_FILENAME = "report.json"
PICTURE_FILENAME = "comparison.png"
RANDOM_BATCH = 2  # random inputs go through as one batch of 2, which also exercises the dynamic batch axis


def run_parity(
    source: ModelSource,
    family: str,
    torchscript_path: Path,
    onnx_path: Path,
    images_dir: Path,
    report_dir: Path,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> ParityReport:
    photos = load_photos(images_dir)
    if not photos:
        progress.say(f"WARNING: no photos in {images_dir}; parity runs on random inputs only")
    report = ParityReport(
        family=family,
        weights=source.weights,
        weights_are_random=source.weights_are_random,
        tolerances=tolerances,
        threads=torch.get_num_threads(),
    )
    with progress.step("parity: loading eager, TorchScript and ONNX Runtime models"):
        reference = runners.eager(source)
        others = [runners.torchscript(torchscript_path), runners.onnx_runtime(onnx_path)]
        if source.reference is not None:
            others.append(runners.original(source.reference))
    all_runners = [reference, *others]

    def run_all(name: str, kind: str, batch: np.ndarray) -> dict[str, runners.Outputs]:
        outputs = {r.name: r(batch, timed=kind == "photo") for r in all_runners}
        for runner_name, result in outputs.items():
            if runner_name != "original":  # the original model is not ours: its outputs follow its own rules
                report.contract_problems += [
                    f"{name} {runner_name}: {p}"
                    for p in output_contract_problems(result, len(batch), source.num_classes, source.input_size)
                ]
        agreements = {f"{r.name}_vs_eager": Agreement.between(outputs[r.name], outputs["eager"]) for r in others}
        agreements["onnxruntime_vs_torchscript"] = Agreement.between(outputs["onnxruntime"], outputs["torchscript"])
        fractions = {runner: class_fractions(out.segmentation_map, source.labels) for runner, out in outputs.items()}
        report.inputs.append(InputResult(name, kind, agreements, fractions))
        return outputs

    rows = []
    with progress.step(
        f"parity: {len(photos)} photo(s) + {RANDOM_BATCH} random inputs through {len(all_runners)} runtimes"
    ):
        warm_up = photos[0].as_input(source.input_size) if photos else random_inputs(1, source.input_size)
        for runner in all_runners:
            runner(warm_up, timed=False)  # first calls allocate and optimise; keep them out of the timings
        for photo in photos:
            progress.say(f"parity: {photo.name}")
            outputs = run_all(photo.name, "photo", photo.as_input(source.input_size))
            agreements = report.inputs[-1].agreements
            rows.append(
                PhotoRow(
                    photo,
                    outputs["torchscript"].segmentation_map[0],
                    outputs["onnxruntime"].segmentation_map[0],
                    agreements["torchscript_vs_eager"],
                    agreements["onnxruntime_vs_eager"],
                    agreements["onnxruntime_vs_torchscript"],
                    report.inputs[-1].class_fractions["torchscript"],
                )
            )
        run_all(f"random x{RANDOM_BATCH}", "random", random_inputs(RANDOM_BATCH, source.input_size))
    report.ms_per_image = {r.name: (round(r.ms_per_image, 1) if r.ms_per_image else None) for r in all_runners}

    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / REPORT_FILENAME).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    draw_comparison(report, rows, source.labels).save(report_dir / PICTURE_FILENAME)
    progress.say(f"parity: {'PASS' if report.passed else 'FAIL'}; report in {report_dir}")
    return report


def compare_family(
    repository: Path, family: str, images_dir: Path, report_dir: Path, tolerances: Tolerances = DEFAULT_TOLERANCES
) -> ParityReport:
    """Rebuild the eager model from the manifest and compare it with the exported files."""
    folder = model_dir(repository, family, TORCH)
    if not (folder / MANIFEST_FILENAME).is_file():
        raise ExportError(
            f"no exported family {family!r} in {repository} ({folder / MANIFEST_FILENAME} missing); "
            f"run `python -m export --name {family} --repository {repository}` first"
        )
    manifest = read_manifest(folder)
    with progress.step(f"rebuilding the eager model of {family} from its manifest"):
        source = request_from_dict(manifest["source"]["request"]).build()
    return run_parity(
        source,
        family,
        model_file(repository, family, TORCH),
        model_file(repository, family, ONNX),
        images_dir,
        report_dir,
        tolerances,
    )


def print_summary(report: ParityReport) -> None:
    print(
        f"parity of {report.family} ({'RANDOM WEIGHTS' if report.weights_are_random else report.weights}): "
        f"{'PASS' if report.passed else 'FAIL'}"
    )
    for pair, agreement in report.worst_by_pair().items():
        print(
            f"  {pair:28s} max|dlogit| {agreement.max_abs_logit_diff:.2e}  mean L2 dprob "
            f"{agreement.mean_l2_probability_diff:.2e}  identical map {agreement.identical_map_fraction:.4%}"
        )
    for name, ms in report.ms_per_image.items():
        print(f"  {name:28s} {ms} ms/image (in-process, batch 1, {report.threads} thread(s))")
    for failure in report.failures:
        print(f"  FAIL {failure}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export.compare",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__,
        epilog=f"tolerances (exit 1 beyond them):\n{TOLERANCE_HELP}\n"
        "Why: see export/compare_tolerances.py. Outputs: DIR/report.json and DIR/comparison.png.",
    )
    parser.add_argument(
        "--repository",
        type=Path,
        default=default_repository(),
        help="model repository (default: $MODEL_REPOSITORY or model_repository)",
    )
    parser.add_argument("--name", default=DEFAULT_FAMILY, metavar="FAMILY", help="model family (default %(default)s)")
    parser.add_argument(
        "--images",
        type=Path,
        default=default_images_dir(),
        metavar="DIR",
        help="photos to compare on (default: $SHARED_DIR/images or ../shared/images)",
    )
    parser.add_argument("--report-dir", type=Path, default=None, metavar="DIR", help="default artifacts/parity/FAMILY")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = compare_family(
            args.repository, args.name, args.images, args.report_dir or default_report_dir(args.name)
        )
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_summary(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
