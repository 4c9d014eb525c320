"""Results → ratios to the reference, the printed table, and the final one-line JSON summary."""

from __future__ import annotations

from bench.scenarios import COST_PREFIX, GRAPH, OUTPUT_SETS, REFERENCE, REFERENCE_NOSPIN
from bench.stats import ratio
from gateway.contract import ONNX_RUNTIME, TORCH_RUNTIME

# The first version of this service (tolist() + json.dumps answers; docs/performance.md), measured on this kind
# of machine: what the gateway is compared with.
OLD_MAP_ONLY_MS = 720.0
OLD_ALL_JSON_MS = 12_100.0
OLD_C4_RPS = 1.38


def find(runs: list[dict], scenario: str, photo: str, concurrency: int) -> dict | None:
    for run in runs:
        if (run["scenario"], run["photo"], run["concurrency"]) == (scenario, photo, concurrency):
            return run
    return None


def add_ratios(runs: list[dict]) -> None:
    """Each run's p50 and throughput relative to the network alone (in-process, onnxruntime's defaults) on the
    same photo: to the reference measured in turn with it when there is one (concurrency 1), else to the
    reference's own run. ``p50_ratio_nospin``, the second column, is to the no-spinning reference's p50."""
    for run in runs:
        reference = find(runs, REFERENCE, run["photo"], 1)
        nospin = find(runs, REFERENCE_NOSPIN, run["photo"], 1)
        p50 = run.get("paired_reference_p50_ms", reference["p50_ms"] if reference else None)
        throughput = run.get("paired_reference_throughput_rps", reference["throughput_rps"] if reference else None)
        run["p50_ratio"] = ratio(run["p50_ms"], p50)
        run["throughput_ratio"] = ratio(run["throughput_rps"], throughput)
        run["p50_ratio_nospin"] = ratio(run["p50_ms"], _get(nospin, "p50_ms"))


def _get(run: dict | None, key: str) -> float | None:
    return None if run is None else run.get(key)


def headline(results: dict) -> dict:
    runs, photo = results["runs"], results["primary_photo"]
    levels = results["options"]["concurrency"]
    top = 4 if 4 in levels else max(levels)  # the targets are stated at concurrency 4

    def at(scenario: str, concurrency: int = 1, on: str = photo) -> dict | None:
        return find(runs, scenario, on, concurrency)

    reference, nospin, graph = at(REFERENCE), at(REFERENCE_NOSPIN), at(GRAPH)
    png = at("format-png/onnx")
    bulk = results.get("bulk") or {}
    gateway_map, gateway_map_top = at("gateway-map/onnx"), at("gateway-map/onnx", top)
    all_json, npz = at("gateway-all/onnx"), at("format-npz/onnx")
    encoding = results.get("encoding") or {}
    memory = results.get("memory") or {}
    int8 = int8_figures(results)
    summary = {
        # Issue 13's figures: every path against the network alone (normalise, network, upsample), since issue 21
        # with onnxruntime's default session options; the no-spinning figure beside it.
        "network_p50_ms": _get(reference, "p50_ms"),
        "network_default_p50_ms": _get(reference, "p50_ms"),
        "network_nospin_p50_ms": _get(nospin, "p50_ms"),
        "network_nospin_vs_default": _get(nospin, "p50_ratio"),
        "triton_map_vs_network": _get(at("triton/onnx"), "p50_ratio"),
        "gateway_map_vs_network": _get(gateway_map, "p50_ratio"),
        "gateway_png_vs_network": _get(png, "p50_ratio"),
        "gateway_map_vs_network_nospin": _get(gateway_map, "p50_ratio_nospin"),
        "triton_map_vs_network_nospin": _get(at("triton/onnx"), "p50_ratio_nospin"),
        # Issue 21: what the CLI, the web page and segment() ask (bundle, summary) against a PNG of the map. Each
        # p50 is first taken over the reference measured in turn with it, so a drift between the two blocks cancels.
        "bundle_vs_png": ratio(_get(at("format-bundle/onnx"), "p50_ratio"), _get(png, "p50_ratio")),
        "summary_vs_png": ratio(_get(at("format-summary/onnx"), "p50_ratio"), _get(png, "p50_ratio")),
        # A folder of distinct photos: `segment DIR --summary` photos/s over the in-process loop's.
        "bulk_vs_inprocess": bulk.get("bulk_vs_inprocess"),
        "bulk_cli_photos_per_s": bulk.get("cli_photos_per_s"),
        "bulk_inprocess_photos_per_s": bulk.get("in_process_photos_per_s"),
        # PSS of tritonserver, its Python stubs and the gateway after every format was used.
        "stack_memory_mb": (results.get("stack_memory") or {}).get("total_pss_mb"),
        "first_request_vs_warm_onnx": (results.get("first_request") or {}).get(ONNX_RUNTIME, {}).get("ratio"),
        "first_request_vs_warm_torch": (results.get("first_request") or {}).get(TORCH_RUNTIME, {}).get("ratio"),
        "photo_model_photos_per_s": (results.get("photo_model") or {}).get(ONNX_RUNTIME, {}).get("photos_per_s"),
        "photo_vs_tensor_onnx": (results.get("photo_model") or {}).get(ONNX_RUNTIME, {}).get("photo_vs_tensor"),
        "photo_vs_tensor_torch": (results.get("photo_model") or {}).get(TORCH_RUNTIME, {}).get("photo_vs_tensor"),
        "torch_gateway_map_vs_network": _get(at("gateway-map/torch"), "p50_ratio"),
        "int8_speedup": int8.get("speedup"),
        "int8_map_agreement": int8.get("map_agreement"),
        "graph_map_vs_network": _get(graph, "p50_ratio"),
        "gateway_map_p50_ratio": _get(gateway_map, "p50_ratio"),
        "triton_p50_ratio": _get(at("triton/onnx"), "p50_ratio"),
        "gateway_c4_throughput_ratio": ratio(
            _get(gateway_map_top, "throughput_rps"), _get(reference, "throughput_rps")
        ),
        # Issue 6's form of it (against the whole exported graph), for comparison with earlier runs.
        "gateway_c4_throughput_vs_graph": ratio(_get(gateway_map_top, "throughput_rps"), _get(graph, "throughput_rps")),
        "all_json_ms": _get(all_json, "p50_ms"),
        "json_encode_speedup": encoding.get("speedup"),
        "npz_vs_json_size_ratio": ratio(_get(all_json, "response_bytes"), _get(npz, "response_bytes"), 2),
        "npz_vs_json_speed_ratio": ratio(_get(all_json, "p50_ms"), _get(npz, "p50_ms"), 2),
        # The same arrays as tolist() + json.dumps text (the first version's encoder), against npz.
        "npz_vs_old_json_size_ratio": ratio(encoding.get("tolist_json_dumps_bytes"), _get(npz, "response_bytes"), 2),
        "reference_p50_ms": _get(reference, "p50_ms"),
        "graph_p50_ms": _get(graph, "p50_ms"),
        "gateway_map_p50_ms": _get(gateway_map, "p50_ms"),
        "gateway_map_torch_p50_ratio": _get(at("gateway-map/torch"), "p50_ratio"),
        "triton_torch_p50_ratio": _get(at("triton/torch"), "p50_ratio"),
        "gateway_c4_rps": _get(gateway_map_top, "throughput_rps"),
        "all_json_bytes": _get(all_json, "response_bytes"),
        "map_speedup_vs_old": ratio(OLD_MAP_ONLY_MS, _get(gateway_map, "p50_ms"), 1),
        "all_json_speedup_vs_old": ratio(OLD_ALL_JSON_MS, _get(all_json, "p50_ms"), 1),
        "c4_throughput_vs_old": ratio(_get(gateway_map_top, "throughput_rps"), OLD_C4_RPS, 1),
        "gateway_rss_mb": (memory.get("gateway") or {}).get("peak_rss_mb"),
        "triton_rss_mb": (memory.get("triton") or {}).get("peak_rss_mb"),
        "photo": photo,
        "top_concurrency": top,
        "errors": sum(run["errors"] for run in runs),
        "machine": results["machine_line"],
        "load_average_1m": [results["machine"]["load_average_1m"], results.get("load_average_1m_end")],
        "quiet_machine": is_quiet(results),
    }
    for other in results["photos"]:
        if other != photo:
            summary[f"gateway_map_p50_ratio[{other}]"] = _get(at("gateway-map/onnx", 1, other), "p50_ratio")
    return summary


def int8_figures(results: dict) -> dict:
    """int8 ÷ fp32 Triton map-only throughput at each concurrency (speedup = the smaller), and the int8
    export's map agreement with fp32 on held-out photos (its manifest); empty without an int8 model."""
    runs, photo = results["runs"], results["primary_photo"]
    per_level = {}
    for level in results["options"]["concurrency"]:
        int8, fp32 = find(runs, "triton/onnx_int8", photo, level), find(runs, "triton/onnx", photo, level)
        if int8 and fp32:
            per_level[f"c{level}"] = ratio(int8["throughput_rps"], fp32["throughput_rps"], 2)
    figures = dict(results.get("int8") or {})
    if per_level:
        figures["throughput_speedup"] = per_level
        figures["speedup"] = min(value for value in per_level.values() if value is not None)
    return figures


def is_quiet(results: dict) -> bool:
    """False when other work already loaded the machine as the run began: its figures are noise.

    The harness itself keeps the load near the core count, so only the starting load is a fair sign.
    """
    return results["machine"]["load_average_1m"] < 0.5 * results["machine"]["cores"]


COLUMNS = (
    ("scenario", 20, "scenario"),
    ("photo", 11, "photo"),
    ("c", 2, "concurrency"),
    ("n", 4, "requests"),
    ("err", 3, "errors"),
    ("p50 ms", 9, "p50_ms"),
    ("p95 ms", 9, "p95_ms"),
    ("req/s", 7, "throughput_rps"),
    ("bytes", 11, "response_bytes"),
    ("p50/ref", 7, "p50_ratio"),
    ("thr/ref", 7, "throughput_ratio"),
    ("p50/nospin", 10, "p50_ratio_nospin"),
)


def output_set_table(results: dict) -> list[str]:
    """Triton's cost per output set (concurrency 1, primary photo), against the network alone."""
    runs, photo = results["runs"], results["primary_photo"]
    found = [(label, find(runs, f"{COST_PREFIX}/{label}", photo, 1)) for label in (*OUTPUT_SETS, "map-on-full-model")]
    rows = [(label, run) for label, run in found if run is not None]
    if not rows:
        return []
    lines = [
        f"Triton's cost per output set ({photo}, concurrency 1; ratio to the network alone in-process):",
        f"  {'outputs':<18} {'model':<36} {'p50 ms':>8} {'x network':>9} {'bytes':>10}",
    ]
    for label, run in rows:
        lines.append(
            f"  {label:<18} {run.get('model', '-'):<36} {run['p50_ms']:>8.1f} "
            f"{run['p50_ratio'] if run['p50_ratio'] is not None else '-':>9} {run['response_bytes']:>10}"
        )
    return lines


def bulk_lines(figures: dict | None) -> list[str]:
    if not figures:
        return []
    line = (
        f"bulk, {figures['photos']} distinct photos: `segment DIR --summary` {figures['cli_photos_per_s']} photos/s "
        f"({figures['cli_wall_s']} s, of which ~{figures['cli_start_up_s']} s start-up; "
        f"exit {figures['cli_returncode']}) "
        f"vs in-process loop {figures['in_process_photos_per_s']} photos/s "
        f"(before {figures['in_process_photos_per_s_before']}, after {figures['in_process_photos_per_s_after']}): "
        f"{figures['bulk_vs_inprocess']}x"
    )
    lines = [line]
    if figures.get("cli_error"):
        lines.append(f"bulk CLI failed: {figures['cli_error']}")
    return lines


def table(results: dict) -> str:
    def cell(value: object, width: int) -> str:
        text = "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)
        return text.rjust(width) if not isinstance(value, str) else text.ljust(width)

    lines = ["  ".join(cell(title, width) for title, width, _ in COLUMNS)]
    lines += ["  ".join(cell(run.get(key), width) for _, width, key in COLUMNS) for run in results["runs"]]
    lines += output_set_table(results)
    int8 = results.get("int8")
    if int8:
        lines.append(f"int8: {int8}")
    for skipped in results["skipped"]:
        lines.append(f"skipped {skipped['scenario']} on {skipped['photo']}: {skipped['reason']}")
    encoding = results.get("encoding")
    if encoding:
        lines.append(
            f"all-results JSON in-process: {encoding['encoder']} {encoding['fast_ms']} ms vs tolist()+json.dumps "
            f"{encoding['tolist_json_dumps_ms']} ms ({encoding['speedup']}x), {encoding['fast_bytes']:,} bytes"
        )
    for photo, figures in results.get("decode", {}).items():
        lines.append(f"decode+resize {photo}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    for label, figures in (results.get("memory") or {}).items():
        lines.append(f"peak RSS {label}: {figures['peak_rss_mb']} MB ({figures['processes']})")
    stack_memory = results.get("stack_memory")
    if stack_memory:
        trees = "; ".join(
            f"{label} {tree['pss_mb']} MB ({tree['processes']})" for label, tree in stack_memory["trees"].items()
        )
        lines.append(f"stack memory after every format (PSS): {stack_memory['total_pss_mb']} MB = {trees}")
    for failed in results.get("warm_every_format_errors") or []:
        lines.append(f"warm-up of every format: {failed}")
    lines += bulk_lines(results.get("bulk"))
    lines.append(f"machine: {results['machine_line']}")
    if not is_quiet(results):
        lines.append(
            f"WARNING: the machine was busy before the run (1-min load {results['machine']['load_average_1m']} on "
            f"{results['machine']['cores']} cores): these figures include other work's contention"
        )
    return "\n".join(lines)
