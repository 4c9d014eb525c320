"""Smoke test of ``python -m bench``: the real CLI, tiny counts, against the session's embedded stack.

It checks what the harness promises (every path measured without errors, the results file, the table,
the final JSON line), never how fast anything is: timings on a shared CI machine prove nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(900)

HEADLINE_NUMBERS = (
    "network_p50_ms",
    "network_default_p50_ms",
    "network_nospin_p50_ms",
    "bundle_vs_png",
    "summary_vs_png",
    "bulk_vs_inprocess",
    "stack_memory_mb",
    "first_request_vs_warm_onnx",
    "first_request_vs_warm_torch",
    "photo_model_photos_per_s",
    "photo_vs_tensor_onnx",
    "photo_vs_tensor_torch",
    "triton_map_vs_network",
    "gateway_map_vs_network",
    "gateway_png_vs_network",
    "torch_gateway_map_vs_network",
    "graph_map_vs_network",
    "gateway_map_p50_ratio",
    "triton_p50_ratio",
    "gateway_c4_throughput_ratio",
    "all_json_ms",
    "json_encode_speedup",
    "npz_vs_json_size_ratio",
    "npz_vs_json_speed_ratio",
    "gateway_rss_mb",
    "triton_rss_mb",
)
# Measured at concurrency 1 only: the in-process references and Triton's cost per output set.
SEQUENTIAL_SCENARIOS = {
    "network/onnx",
    "network-nospin/onnx",
    "graph/onnx",
    "triton-outputs/map",
    "triton-outputs/logits",
    "triton-outputs/distribution",
    "triton-outputs/all",
    "triton-outputs/map-on-full-model",
}
EXPECTED_SCENARIOS = SEQUENTIAL_SCENARIOS | {
    "triton/onnx",
    "triton/torch",
    "gateway-map/onnx",
    "gateway-map/torch",
    "gateway-all/onnx",
    "format-npz/onnx",
    "format-png/onnx",
    "format-summary/onnx",
    "format-bundle/onnx",
}


@pytest.fixture(scope="module")
def bench_run(stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    output = tmp_path_factory.mktemp("bench") / "results.json"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--no-start",
        "--photos",
        "dog1.jpg",
        "--concurrency",
        "1",
        "2",
        "--gateway-url",
        stack.gateway_url,
        "--triton-url",
        stack.triton_grpc_url,
        "--repository",
        str(stack.repository),
        "--output",
        str(output),
    ]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=840)
    assert completed.returncode == 0, f"bench exited {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
    return completed, output


def test_last_line_is_the_headline_json(bench_run) -> None:
    completed, _ = bench_run
    headline = json.loads(completed.stdout.strip().splitlines()[-1])
    for key in HEADLINE_NUMBERS:
        assert isinstance(headline[key], (int, float)) and headline[key] > 0, (key, headline[key])
    assert headline["errors"] == 0
    assert "cores" in headline["machine"]


def test_results_file_has_every_path_at_every_concurrency(bench_run) -> None:
    _, output = bench_run
    results = json.loads(output.read_text())
    measured = {(run["scenario"], run["concurrency"]) for run in results["runs"]}
    assert results["skipped"] == []
    for scenario in EXPECTED_SCENARIOS - SEQUENTIAL_SCENARIOS:
        assert {(scenario, 1), (scenario, 2)} <= measured, scenario
    for scenario in SEQUENTIAL_SCENARIOS:
        assert (scenario, 1) in measured and (scenario, 2) not in measured, scenario
    network = next(run for run in results["runs"] if run["scenario"] == "network/onnx")
    # measured before and after the serving paths; its p50 is the mean of the two
    assert network["p50_ms"] == pytest.approx((network["p50_ms_before"] + network["p50_ms_after"]) / 2, abs=0.01)
    for run in results["runs"]:
        assert run["errors"] == 0 and run["requests"] >= 1, run
        assert run["p50_ms"] <= run["p95_ms"], run
        assert run["response_bytes"] > 0 and run["p50_ratio"] > 0 and run["throughput_ratio"] > 0, run
        assert run["p50_ratio_nospin"] > 0, run  # the second column: to the no-spinning reference
        # concurrency 1: measured in turn with the network alone, and its ratio is to that
        paired = run["concurrency"] == 1 and run["scenario"] != "network/onnx"
        assert ("paired_reference_p50_ms" in run) == paired, run
        if paired:
            assert run["p50_ratio"] == pytest.approx(run["p50_ms"] / run["paired_reference_p50_ms"], abs=0.001)


def test_the_reference_is_onnxruntimes_defaults_and_the_nospin_figure_stands_beside_it(bench_run) -> None:
    completed, output = bench_run
    results = json.loads(output.read_text())
    headline = json.loads(completed.stdout.strip().splitlines()[-1])
    network = next(run for run in results["runs"] if run["scenario"] == "network/onnx")
    nospin = next(run for run in results["runs"] if run["scenario"] == "network-nospin/onnx")
    assert headline["network_default_p50_ms"] == headline["network_p50_ms"] == network["p50_ms"]
    assert headline["network_nospin_p50_ms"] == nospin["p50_ms"]
    # measured in turn with the defaults like any path: its ratio is to them
    assert nospin["p50_ratio"] == pytest.approx(nospin["p50_ms"] / nospin["paired_reference_p50_ms"], abs=0.001)
    assert "p50/nospin" in completed.stdout


def test_bulk_scenario_runs_the_cli_on_distinct_photos_against_the_in_process_loop(bench_run) -> None:
    completed, output = bench_run
    bulk = json.loads(output.read_text())["bulk"]
    assert bulk["photos"] == 8  # --quick scales the 64 down
    assert (bulk["cli_returncode"], bulk["cli_summaries"]) == (0, 8)
    assert bulk["map_file"].endswith("deeplabv3_onnx__segmentation_map/1/model.onnx")
    assert bulk["bulk_vs_inprocess"] == pytest.approx(
        bulk["cli_photos_per_s"] / bulk["in_process_photos_per_s"], rel=0.02
    )
    assert "`segment DIR --summary`" in completed.stdout


def test_the_first_request_after_a_reload_is_measured_against_the_warm_ones(bench_run) -> None:
    _, output = bench_run
    first = json.loads(output.read_text())["first_request"]
    assert set(first) == {"onnx", "torch"}
    for figures in first.values():
        assert figures["first_ms"] > 0 and figures["warm_p50_ms"] > 0 and figures["reload_s"] > 0
        assert figures["ratio"] == pytest.approx(figures["first_ms"] / figures["warm_p50_ms"], abs=0.01)


def test_photos_straight_to_triton_are_measured_beside_the_tensor_model(bench_run) -> None:
    _, output = bench_run
    photo = json.loads(output.read_text())["photo_model"]
    assert set(photo) == {"onnx", "torch"}
    assert photo["onnx"]["model"] == "deeplabv3_onnx_photo__segmentation_map"
    for figures in photo.values():
        assert figures["photo_p50_ms"] > 0 and figures["tensor_p50_ms"] > 0
        assert figures["photos_per_s"] == pytest.approx(1000 / figures["photo_p50_ms"], rel=0.01)


def test_stack_memory_is_the_pss_of_triton_its_stubs_and_the_gateway_after_every_format(bench_run) -> None:
    _, output = bench_run
    results = json.loads(output.read_text())
    assert results["warm_every_format_errors"] == []
    memory = results["stack_memory"]
    assert set(memory["trees"]) == {"gateway", "triton"}
    assert "tritonserver" in memory["trees"]["triton"]["processes"]
    assert "triton_python_backend_stub" in memory["trees"]["triton"]["processes"]
    assert memory["total_pss_mb"] == pytest.approx(sum(tree["pss_mb"] for tree in memory["trees"].values()), abs=0.2)


def test_all_results_json_and_npz_carry_the_same_arrays_in_different_sizes(bench_run) -> None:
    _, output = bench_run
    results = json.loads(output.read_text())
    sizes = {run["scenario"]: run["response_bytes"] for run in results["runs"] if run["concurrency"] == 1}
    # Three arrays of one 512x512 image: 2 x 21 x 512 x 512 float32 + 512 x 512 uint8, plus headers.
    arrays_bytes = 2 * 21 * 512 * 512 * 4 + 512 * 512
    assert sizes["format-npz/onnx"] >= arrays_bytes
    assert sizes["gateway-all/onnx"] > sizes["format-npz/onnx"]
    assert sizes["gateway-map/onnx"] < sizes["gateway-all/onnx"]
    encoding = results["encoding"]
    assert encoding["fast_bytes"] > 0 and encoding["tolist_json_dumps_bytes"] > 0


def test_output_sets_go_to_the_models_that_compute_only_them(bench_run) -> None:
    completed, output = bench_run
    runs = {run["scenario"]: run for run in json.loads(output.read_text())["runs"] if run["concurrency"] == 1}
    # The embedded twin's full models select their partial files themselves (serving.selects_partials): the bench
    # asks them directly, as the gateway does, and the adapter runs the file of each set.
    assert runs["triton/onnx"]["model"] == "deeplabv3_onnx"
    assert runs["triton/torch"]["model"] == "deeplabv3_torchscript"
    for scenario in ("logits", "distribution", "all", "map-on-full-model"):
        assert runs[f"triton-outputs/{scenario}"]["model"] == "deeplabv3_onnx"
    # Map 512x512 uint8; logits or probabilities 21x512x512 float32; all three together.
    assert runs["triton-outputs/map"]["response_bytes"] == 512 * 512
    assert (
        runs["triton-outputs/logits"]["response_bytes"]
        == runs["triton-outputs/distribution"]["response_bytes"]
        == 21 * 512 * 512 * 4
    )
    assert runs["triton-outputs/all"]["response_bytes"] == 2 * 21 * 512 * 512 * 4 + 512 * 512
    assert "Triton's cost per output set" in completed.stdout


def test_table_lists_each_scenario(bench_run) -> None:
    completed, _ = bench_run
    for scenario in EXPECTED_SCENARIOS:
        assert scenario in completed.stdout


def test_help_describes_the_options() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0
    for flag in ("--requests", "--concurrency", "--quick", "--output", "--no-start"):
        assert flag in completed.stdout
