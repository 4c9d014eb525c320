"""`python -m export` as users run it: help, --weights errors, unwritable repository, --if-missing, fallback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

from export.cli import main
from export.paths import PROJECT_ROOT
from export.pipeline import ExportResult

pytestmark = pytest.mark.timeout(600)


def run_in_process(*arguments: str) -> int:
    """The CLI's own main(), in this process: no second torch import (seconds on 2 busy cores)."""
    return main(list(arguments))


def run_export(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "export", *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=500,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def test_help_documents_every_flag() -> None:
    result = run_export("--help")
    assert result.returncode == 0
    for flag in (
        "--weights",
        "--fallback-random",
        "--if-missing",
        "--repository",
        "--name",
        "--max-batch-size",
        "--skip-parity",
        "--images",
        "--report-dir",
        "--source",
        "--arch",
        "--num-classes",
        "--labels",
        "--input-spec",
        "--onnx-model",
        "MODEL_REPOSITORY",
        "RANDOM WEIGHTS",
        "tolerances",
    ):
        assert flag in result.stdout, flag


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("weights")
    corrupt = folder / "corrupt.pth"
    corrupt.write_bytes(b"this is not a pickle or a zip archive" * 10)
    other_arch = folder / "lraspp.pth"
    torch.save(
        torchvision.models.get_model(
            "lraspp_mobilenet_v3_large", weights=None, weights_backbone=None, num_classes=21
        ).state_dict(),
        other_arch,
    )
    return {"missing": folder / "missing.pth", "corrupt": corrupt, "wrong architecture": other_arch}


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "does not exist"),
        ("corrupt", "not a readable PyTorch state dict"),
        ("wrong architecture", "does not fit torchvision deeplabv3_mobilenet_v3_large"),
    ],
)
def test_bad_weights_file_is_named_and_nothing_is_written(
    weights_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    repository = tmp_path / "repo"
    assert run_in_process("--weights", str(weights_files[case]), "--repository", str(repository), "--skip-parity") == 1
    stderr = capsys.readouterr().err
    assert message in stderr and str(weights_files[case]) in stderr
    assert not repository.exists() or not any(repository.rglob("*"))


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """No cached weights, and every download goes to a closed loopback port: 'no network', deterministically."""
    closed = "http://127.0.0.1:9"
    return {
        "TORCH_HOME": str(tmp_path / "torch-home"),
        "https_proxy": closed,
        "HTTPS_PROXY": closed,
        "http_proxy": closed,
        "HTTP_PROXY": closed,
        "no_proxy": "",
        "NO_PROXY": "",
    }


def test_pretrained_without_network_names_the_alternatives(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    result = run_export(
        "--weights", "pretrained", "--repository", str(repository), "--skip-parity", env=_offline_env(tmp_path)
    )
    assert result.returncode != 0
    assert "--weights random" in result.stderr and "--weights PATH" in result.stderr
    assert not repository.exists() or not any(repository.rglob("*"))


def test_fallback_random_continues_loudly_then_if_missing_does_nothing(tmp_path: Path) -> None:
    """Like `make serve` offline; a small architecture and input keep the real export quick."""
    repository = tmp_path / "repo"
    (repository / "small_onnx").mkdir(parents=True)
    (repository / "small_onnx" / "manifest.json").write_text("{}")  # a manifest without its model: not an export
    small = ("--arch", "lraspp_mobilenet_v3_large", "--input-size", "64", "64", "--name", "small")
    result = run_export(
        "--if-missing",
        "--fallback-random",
        "--skip-parity",
        "--repository",
        str(repository),
        *small,
        env=_offline_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "RANDOM WEIGHTS" in result.stderr and "#####" in result.stderr
    assert '"weights_are_random": true' in (repository / "small_onnx" / "manifest.json").read_text()
    assert (repository / "small_onnx" / "1" / "model.onnx").is_file()
    again = run_export("--if-missing", "--repository", str(repository), "--name", "small")
    assert again.returncode == 0 and "already exported" in again.stdout and "model.pt" in again.stdout


def test_unwritable_repository_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert run_in_process("--weights", "random", "--repository", str(blocker / "repo"), "--skip-parity") == 1
    stderr = capsys.readouterr().err
    assert "not writable" in stderr and str(blocker / "repo") in stderr


def test_if_missing_sees_an_existing_export(exported: ExportResult, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_in_process("--if-missing", "--repository", str(exported.model_dirs["onnx"].parent)) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_a_finetuned_torchvision_checkpoint_is_served_with_its_own_classes(tmp_path: Path) -> None:
    """--weights PATH with another architecture and class count: the exported file computes that model."""
    import numpy as np
    import onnxruntime

    from export.sources.torchvision_source import TorchvisionLogits

    torch.manual_seed(7)
    finetuned = torchvision.models.get_model(
        "lraspp_mobilenet_v3_large", weights=None, weights_backbone=None, num_classes=3
    ).eval()
    checkpoint, labels = tmp_path / "finetuned.pth", tmp_path / "labels.txt"
    torch.save({"model": finetuned.state_dict(), "epoch": 3}, checkpoint)  # a training checkpoint, nested
    labels.write_text("background\nroad\nsign\n")
    repository = tmp_path / "repo"
    assert (
        run_in_process(
            "--source",
            "torchvision",
            "--arch",
            "lraspp_mobilenet_v3_large",
            "--num-classes",
            "3",
            "--labels",
            str(labels),
            "--weights",
            str(checkpoint),
            "--input-size",
            "64",
            "64",
            "--name",
            "roads",
            "--skip-parity",
            "--repository",
            str(repository),
        )
        == 0
    )
    config = (repository / "roads_onnx" / "config.pbtxt").read_text()
    assert "dims: [ 3, 64, 64 ]" in config and 'string_value: "background,road,sign"' in config
    image = np.random.default_rng(0).integers(0, 256, (1, 3, 64, 64), dtype=np.uint8)
    session = onnxruntime.InferenceSession(
        str(repository / "roads_onnx" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    with torch.inference_mode():
        expected = TorchvisionLogits(finetuned)(torch.from_numpy(image)).numpy()
    np.testing.assert_allclose(session.run(["logits"], {"image": image})[0], expected, atol=1e-3)


def test_pretrained_comes_from_torchvisions_cache_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real pretrained path (torchvision's weights enum + torch.hub cache), fed a cached file that has the
    layout of the real download (aux head included): the aux head is dropped and VOC labels come back."""
    from torchvision.models.segmentation import DeepLabV3_MobileNet_V3_Large_Weights

    weights = DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT
    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    like_the_download = torchvision.models.get_model(
        "deeplabv3_mobilenet_v3_large", weights=None, weights_backbone=None, num_classes=21, aux_loss=True
    )
    torch.save(like_the_download.state_dict(), cache / weights.url.rsplit("/", 1)[1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    repository = tmp_path / "repo"
    assert (
        run_in_process(
            "--weights", "pretrained", "--input-size", "64", "64", "--skip-parity", "--repository", str(repository)
        )
        == 0
    )
    manifest = (repository / "deeplabv3_torchscript" / "manifest.json").read_text()
    assert '"weights": "pretrained"' in manifest and '"weights_are_random": false' in manifest
    assert (repository / "deeplabv3_torchscript" / "labels.txt").read_text().split()[:2] == ["background", "aeroplane"]


def test_help_and_the_cli_module_need_no_torch() -> None:
    """Why export keeps its small light modules (errors, defaults, compare_tolerances) and takes the contract's names
    from gateway.contract: `--help` and `--if-missing` on an exported repository answer without importing torch
    (seconds on a busy machine)."""
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['export', '--help']\n"
        "try:\n    runpy.run_module('export', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'python -m export --help imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--weights" in result.stdout
