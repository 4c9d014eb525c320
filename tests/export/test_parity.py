"""The three-way parity check on the real photos, its report and picture, and that it can fail."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from export.compare import compare_family, run_parity
from export.compare import main as compare_main
from export.compare_tolerances import DEFAULT_TOLERANCES, Tolerances
from export.layout import model_file
from export.parity import Agreement, ParityReport
from export.pipeline import ExportResult, export_family
from export.runners import Outputs
from export.sources.base import ModelSource
from export.sources.request import TorchvisionRequest
from export.triton_config import ONNX, TORCH
from tests.export.shared_assets import IMAGES_DIR, require_shared

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def photo_parity(
    exported: ExportResult, random_source: ModelSource, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ParityReport, Path]:
    require_shared(IMAGES_DIR)
    repository = exported.model_dirs["torch"].parent
    report_dir = tmp_path_factory.mktemp("parity")
    report = run_parity(
        random_source,
        exported.family,
        model_file(repository, exported.family, TORCH),
        model_file(repository, exported.family, ONNX),
        IMAGES_DIR,
        report_dir,
    )
    return report, report_dir


def test_eager_torchscript_and_onnxruntime_agree_on_the_real_photos(photo_parity) -> None:
    report, _ = photo_parity
    assert report.passed, report.failures
    photos = sorted(p.name for p in IMAGES_DIR.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert sorted(r.name for r in report.inputs if r.kind == "photo") == photos
    assert any(r.kind == "random" for r in report.inputs)
    for result in report.inputs:
        assert set(result.agreements) == {"torchscript_vs_eager", "onnxruntime_vs_eager", "onnxruntime_vs_torchscript"}
        for agreement in result.agreements.values():
            assert agreement.max_abs_logit_diff <= DEFAULT_TOLERANCES.max_abs_logit_diff
            assert agreement.identical_map_fraction >= DEFAULT_TOLERANCES.min_identical_map_fraction
    assert all(ms and ms > 0 for ms in report.ms_per_image.values())


def test_report_and_picture_are_written_and_say_random_weights(photo_parity) -> None:
    report, report_dir = photo_parity
    written = json.loads((report_dir / "report.json").read_text())
    assert written["passed"] is True and written["weights_are_random"] is True
    assert "RANDOM WEIGHTS" in written["note"]
    assert set(written["ms_per_image"]) == {"eager", "torchscript", "onnxruntime"}
    with Image.open(report_dir / "comparison.png") as picture:
        assert picture.format == "PNG"
        # one row per photo, three cells each: tall and wide enough to show them
        assert picture.width >= 1000 and picture.height >= 300 * len(report.inputs[:-1])
        # the RANDOM WEIGHTS banner's red is on it
        assert (200, 20, 20) in {colour for _, colour in picture.convert("RGB").getcolors(1 << 20)}


def _outputs(logits: np.ndarray) -> Outputs:
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities = probabilities.astype(np.float32)
    return Outputs(logits, probabilities, logits.argmax(axis=1).astype(np.uint8), probabilities.max(axis=1))


def test_agreement_fails_beyond_each_tolerance() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 4, 16, 16)).astype(np.float32)
    same = Agreement.between(_outputs(logits), _outputs(logits.copy()))
    assert same.failures(DEFAULT_TOLERANCES) == []
    swapped = Agreement.between(_outputs(logits), _outputs(logits[:, ::-1].copy()))  # a swapped-label bug
    assert len(swapped.failures(DEFAULT_TOLERANCES)) == 3
    nudged = Agreement.between(_outputs(logits), _outputs(logits + 0.01))
    assert [f.split(" ")[0] for f in nudged.failures(DEFAULT_TOLERANCES)] == ["max|logit"]
    nan = Agreement.between(_outputs(logits), _outputs(np.full_like(logits, np.nan)))
    assert nan.failures(DEFAULT_TOLERANCES)


@pytest.fixture(scope="module")
def small_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random LR-ASPP at 64x64: a real torchvision export that compares in seconds."""
    repository = tmp_path_factory.mktemp("small")
    request = TorchvisionRequest(arch="lraspp_mobilenet_v3_large", weights="random", input_size=(64, 64))
    export_family(request, repository, family="small")
    return repository


def test_standalone_compare_rebuilds_the_model_from_the_manifest(
    small_repository: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = compare_main(
        [
            "--repository",
            str(small_repository),
            "--name",
            "small",
            "--images",
            str(tmp_path / "no-photos"),
            "--report-dir",
            str(tmp_path / "report"),
        ]
    )
    assert code == 0, capsys.readouterr()
    assert "parity of small (RANDOM WEIGHTS): PASS" in capsys.readouterr().out
    assert json.loads((tmp_path / "report" / "report.json").read_text())["passed"] is True


def test_standalone_compare_fails_beyond_tolerance(small_repository: Path, tmp_path: Path) -> None:
    """Zero tolerance must fail on float rounding alone: the check is able to fail."""
    strict = Tolerances(max_abs_logit_diff=0.0, mean_l2_probability_diff=0.0, min_identical_map_fraction=1.0)
    report = compare_family(small_repository, "small", tmp_path / "no-photos", tmp_path / "report", strict)
    assert [r.kind for r in report.inputs] == ["random"]
    assert not report.passed and any("onnxruntime_vs_eager" in f for f in report.failures)


def test_compare_of_a_family_not_exported_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert compare_main(["--repository", str(tmp_path), "--name", "nothing"]) == 1
    assert "no exported family 'nothing'" in capsys.readouterr().err
