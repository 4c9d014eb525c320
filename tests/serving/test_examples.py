"""The power-user tools against the session's stack: the gRPC example and the perf_analyzer smoke run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.exported_repository import DEFAULT_FAMILY, VOC_FAMILY, VOC_SPEC
from tests.support.paths import REPO_ROOT, shared_image

pytestmark = pytest.mark.timeout(600)

VOC_LABELS = {
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
}


def run_example(stack, model: str, photo: str, *extra: str) -> dict[str, float]:
    result = subprocess.run(
        [
            sys.executable,
            "examples/grpc_segment.py",
            str(shared_image(photo)),
            "--url",
            stack.triton_grpc_url,
            "--model",
            model,
            *extra,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    fractions = {}
    for line in result.stdout.splitlines():
        name, fraction = line.rsplit(None, 1)
        fractions[name] = float(fraction)
    return fractions


@pytest.mark.parametrize("backend", ["onnx", "torchscript"])
def test_grpc_example_prints_class_fractions(stack, backend: str, tmp_path) -> None:
    saved = tmp_path / "map.png"
    fractions = run_example(stack, f"{DEFAULT_FAMILY}_{backend}", "dog1.jpg", "--save", str(saved))
    assert fractions and set(fractions) <= VOC_LABELS
    assert sum(fractions.values()) == pytest.approx(1.0, abs=0.01)
    assert saved.stat().st_size > 0


@pytest.mark.skipif(not VOC_SPEC.is_file(), reason=f"the real VOC model joins the stack once {VOC_SPEC.name} exists")
def test_grpc_example_finds_the_dog_with_the_real_voc_model(stack) -> None:
    fractions = run_example(stack, f"{VOC_FAMILY}_onnx", "dog2.jpg")
    assert fractions.get("dog", 0) > 0.15, fractions  # measured 0.27 with onnxruntime at 513x513
    assert max(fractions, key=fractions.get) in {"background", "dog"}


def test_loadtest_smoke_run_reports_every_model(stack, tmp_path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "serving.loadtest",
            "--url",
            stack.triton_grpc_url,
            "--requests",
            "2",
            "--photos",
            str(shared_image("dog1.jpg")),
            str(shared_image("people.jpg")),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        env={**stack.environment(), "SERVING_RUN_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[2:]}
    assert set(rows) == set(stack.model_names), result.stdout
    for model, (_, concurrency, throughput, *latencies) in rows.items():
        assert concurrency == "1" and float(throughput) > 0, model
        assert len(latencies) == 4 and all(float(v) > 0 for v in latencies), model
        p50, p90, p95, p99 = map(float, latencies)
        assert p50 <= p90 <= p95 <= p99, model
    assert any(model.endswith("_photo__segmentation_map") for model in rows)  # real photos, decoded in Triton
