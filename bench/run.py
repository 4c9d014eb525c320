"""One harness run: find (or start) the stack, measure every scenario, write and print the results."""

from __future__ import annotations

import json
import os
import sys
import time
import typing
from datetime import datetime, timezone
from pathlib import Path

import httpx

from bench import bulk, decoding, encoding, machine, report
from bench.first_request import first_request_vs_warm
from bench.inputs import Photo, load_photo
from bench.load import LoadPlan, RequestFailed, SenderFactory, run_load, run_paired
from bench.models import ServedModel, discover, onnx_file
from bench.options import Options
from bench.photo_model import photo_vs_tensor
from bench.process_memory import RssSampler, listening_pid, stack_pss
from bench.request_paths import GatewayPath, ReferencePath, network_alone
from bench.scenarios import ALL_RESULTS, MAP_ONLY, MAP_ONLY_OUTPUT, REFERENCE, REFERENCES, Scenario, for_photo
from bench.stack import Endpoints, StackUnavailable, running_stack, stack_ready
from export.paths import default_images_dir
from gateway.contract import (
    DISTRIBUTION_RESULT,
    LOGITS,
    LOGITS_RESULT,
    ONNX_RUNTIME,
    TORCH_RUNTIME,
    partial_model_name,
)
from gateway.domain import ResponseFormat


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def plan_for(scenario: Scenario, concurrency: int, options: Options) -> LoadPlan:
    if scenario.heavy:
        requests = options.heavy_requests if concurrency == 1 else max(options.heavy_requests, concurrency)
        warmup = 1 if concurrency == 1 else 0  # the concurrency-1 run just before warmed it
    else:
        requests = options.requests if concurrency == 1 else max(options.requests_concurrent, concurrency)
        warmup = options.warmup if concurrency == 1 else 1
    return LoadPlan(concurrency, requests, warmup, options.max_seconds)


SERVING_ENV_PREFIXES = ("SERVING_", "GATEWAY_", "TRITON_", "OMP_", "GOMP_")
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def recorded_env(serving_env: dict[str, str] | None) -> dict[str, str]:
    """The serving knobs in force, for the results file; secrets (API keys) left out."""
    merged = {**os.environ, **(serving_env or {})}
    return {
        k: v
        for k, v in sorted(merged.items())
        if k.startswith(SERVING_ENV_PREFIXES) and not any(word in k for word in SECRET_WORDS)
    }


def new_results(options: Options, serving_env: dict[str, str] | None) -> dict:
    info = machine.describe()
    return {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": info,
        "machine_line": machine.one_line(info),
        "options": {
            "concurrency": list(options.concurrency),
            "requests": options.requests,
            "requests_concurrent": options.requests_concurrent,
            "heavy_requests": options.heavy_requests,
            "warmup": options.warmup,
            "reference_threads": options.reference_threads,
            "bulk_photos": options.bulk_photos,
            "serving_env": recorded_env(serving_env),
        },
        "runs": [],
        "skipped": [],
    }


def measure(options: Options, serving_env: dict[str, str] | None = None) -> dict:
    results = new_results(options, serving_env)
    endpoints = options.endpoints
    if not options.start_stack and not stack_ready(endpoints):
        raise StackUnavailable(f"no ready stack at {endpoints.gateway_url} / {endpoints.triton_grpc_url} (--no-start)")
    log_path = options.output.parent / "serving.log"
    with running_stack(endpoints, log_path, options.start_timeout_s, serving_env) as started:
        models = discover(endpoints.triton_grpc_url, options.family)
        model_file = onnx_file(options.repository, models[ONNX_RUNTIME].name)
        size_hw = models[ONNX_RUNTIME].input_shape[1:]
        photos = [load_photo(path, size_hw) for path in options.photos]
        results["stack"] = {
            "gateway_url": endpoints.gateway_url,
            "triton_grpc_url": endpoints.triton_grpc_url,
            "started_by_bench": started,
            "models": {r: m.name for r, m in models.items()},
            "onnx_file": str(model_file),
        }
        results["photos"] = [photo.name for photo in photos]
        results["primary_photo"] = photos[0].name
        results["decode"] = {photo.name: decoding.measure(photo.data, size_hw) for photo in photos}
        if "onnx_int8" in models:
            results["int8"] = int8_manifest_figures(options.repository, models["onnx_int8"].name)
        network = network_alone(model_file)

        roots = {"gateway": listening_pid(endpoints.gateway_port), "triton": listening_pid(endpoints.triton_grpc_port)}
        with RssSampler({k: v for k, v in roots.items() if v is not None}) as sampler:
            for index, photo in enumerate(photos):
                threads = options.reference_threads
                reference = ReferencePath(network, photo.model_input, threads, output=LOGITS)
                nospin = ReferencePath(network, photo.model_input, threads, output=LOGITS, spinning=False)
                graph = ReferencePath(model_file, photo.model_input, threads)
                scenarios = for_photo(photo, reference, nospin, graph, models, endpoints, index == 0, options.api_key)
                for scenario in scenarios:
                    if scenario.name in REFERENCES or options.selects(scenario.name):
                        run_scenario(scenario, options, results, reference.make_sender)
                # The reference again after the serving paths: on a shared machine the load drifts, so its
                # p50 is the mean of a measurement before and one after everything it is compared with.
                remeasure_reference(next(s for s in scenarios if s.name == REFERENCE), options, results)
                if index == 0 and options.encoding:
                    log("encoding all three results in-process (tolist()+json.dumps takes a while)")
                    results["encoding"] = encoding.compare(graph.run(), options.encode_repeats, 1)
                del reference, nospin, graph
            if options.bulk_photos and options.selects("bulk"):
                # the map's own file, also where the full model selects it itself (the embedded twin)
                map_model = partial_model_name(models[ONNX_RUNTIME].name, MAP_ONLY_OUTPUT)
                if not (options.repository / map_model).is_dir():
                    map_model = models[ONNX_RUNTIME].name
                map_file = onnx_file(options.repository, map_model)
                results["bulk"] = run_bulk(options, map_file, size_hw)
            if options.selects("first-request"):
                results["first_request"] = {
                    runtime: first_request_vs_warm(endpoints.triton_grpc_url, model.name, photos[0].model_input)
                    for runtime, model in models.items()
                    if runtime in (ONNX_RUNTIME, TORCH_RUNTIME)
                }
                log(f"first request after a reload vs warm p50: {results['first_request']}")
            if options.selects("photo-model"):
                results["photo_model"] = {
                    runtime: photo_vs_tensor(
                        endpoints.triton_grpc_url, model.name, photos[0].data, photos[0].model_input
                    )
                    for runtime, model in models.items()
                    if runtime in (ONNX_RUNTIME, TORCH_RUNTIME)
                }
                log(f"photos straight to Triton vs the tensor model: {results['photo_model']}")
            # Every format once on every runtime (and every output's model), then the stack's PSS: the memory a
            # user's stack holds once everything has been used.
            results["warm_every_format_errors"] = warm_every_format(models, endpoints, photos[0], options.api_key)
            results["stack_memory"] = stack_pss({k: v for k, v in roots.items() if v is not None})
            log(f"stack memory (PSS): {results['stack_memory']['total_pss_mb']} MB")
        results["memory"] = sampler.report()
        missing = [k for k, v in roots.items() if v is None]
        if missing:
            results["memory_note"] = f"no visible process listening for: {', '.join(missing)}"
    results["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    report.add_ratios(results["runs"])
    results["summary"] = report.headline(results)
    return results


def run_scenario(scenario: Scenario, options: Options, results: dict, reference: SenderFactory | None = None) -> None:
    """Run one scenario at each concurrency level. At concurrency 1 its requests take turns in short blocks
    with ``reference``'s (the network alone), and the run records that reference's p50 over the same window:
    its ratio is to that (bench.load.run_paired)."""
    if scenario.probe is not None:
        reason = scenario.probe.probe()
        if reason is not None:
            results["skipped"].append({"scenario": scenario.name, "photo": scenario.photo.name, "reason": reason})
            log(f"skip {scenario.name} on {scenario.photo.name}: {reason}")
            return
    levels = (1,) if scenario.sequential_only else options.concurrency
    for concurrency in levels:
        plan = plan_for(scenario, concurrency, options)
        started = time.perf_counter()
        paired = None
        if concurrency == 1 and reference is not None and scenario.name != REFERENCE:
            figures, paired, errors = run_paired(scenario.make_sender, reference, plan)
        else:
            figures, errors = run_load(scenario.make_sender, plan)
        run = {"scenario": scenario.name, "photo": scenario.photo.name, **figures.as_dict()}
        if paired is not None:
            run["paired_reference_p50_ms"] = paired.p50_ms
            run["paired_reference_throughput_rps"] = paired.throughput_rps
        if scenario.model is not None:
            run["model"] = scenario.model
        if errors:
            run["errors_seen"] = errors
        results["runs"].append(run)
        beside = f", reference beside it {paired.p50_ms} ms" if paired is not None else ""
        log(
            f"{scenario.name:<20} {scenario.photo.name:<11} c={concurrency} n={figures.requests} "
            f"p50={figures.p50_ms} ms{beside} ({time.perf_counter() - started:.1f} s)"
        )


def remeasure_reference(scenario: Scenario, options: Options, results: dict) -> None:
    first = next(
        run for run in results["runs"] if (run["scenario"], run["photo"]) == (scenario.name, scenario.photo.name)
    )
    figures, _ = run_load(scenario.make_sender, plan_for(scenario, 1, options))
    if figures.p50_ms is None or first["p50_ms"] is None:
        return
    first["p50_ms_before"], first["p50_ms_after"] = first["p50_ms"], figures.p50_ms
    first["p50_ms"] = round((first["p50_ms"] + figures.p50_ms) / 2, 2)
    # The p95 of the two blocks together is at most the larger one: a p95 kept from the first block alone could
    # fall below the averaged p50 when the machine slowed down in between (seen on a loaded CI machine).
    if first.get("p95_ms") is not None and figures.p95_ms is not None:
        first["p95_ms"] = max(first["p95_ms"], figures.p95_ms)
    if first["throughput_rps"] is not None and figures.throughput_rps is not None:
        first["throughput_rps"] = round((first["throughput_rps"] + figures.throughput_rps) / 2, 3)
    log(
        f"{scenario.name:<20} {scenario.photo.name:<11} again: p50={figures.p50_ms} ms; "
        f"reference p50 = mean {first['p50_ms']} ms"
    )


def run_bulk(options: Options, map_file: Path, size_hw: tuple[int, int]) -> dict:
    sources = bulk.source_photos(options.bulk_sources or default_images_dir())
    log(f"bulk: `segment DIR --summary` on {options.bulk_photos} distinct photos vs the in-process loop")
    started = time.perf_counter()
    figures = bulk.measure(
        sources,
        options.bulk_photos,
        map_file,
        size_hw,
        options.endpoints.gateway_url,
        options.family,
        options.api_key,
        options.reference_threads,
    )
    log(
        f"bulk: CLI {figures['cli_photos_per_s']} photos/s (exit {figures['cli_returncode']}), in-process "
        f"{figures['in_process_photos_per_s']} photos/s ({time.perf_counter() - started:.1f} s)"
    )
    return figures


WARM_RESULTS: tuple[tuple[str, ...], ...] = ((LOGITS_RESULT,), (DISTRIBUTION_RESULT,), ALL_RESULTS)


def warm_every_format(
    models: dict[str, ServedModel], endpoints: Endpoints, photo: Photo, api_key: str | None
) -> list[str]:
    """One ``/infer/file`` of every response format (map only) on every runtime, and the npz of each score array
    and of all three (their models); returns what failed (a format the gateway lacks), the run goes on."""
    errors = []
    for runtime in sorted(models):
        asks: list[tuple[str, tuple[str, ...]]] = [(fmt, MAP_ONLY) for fmt in typing.get_args(ResponseFormat)]
        asks += [("npz", results) for results in WARM_RESULTS]
        for fmt, results in asks:
            path = GatewayPath(endpoints.gateway_url, photo.name, photo.data, runtime, results, fmt, api_key)
            try:
                path.make_sender()()
            except (RequestFailed, httpx.HTTPError) as exc:
                errors.append(f"{runtime} {fmt} {'+'.join(results)}: {str(exc)[:200]}")
    return errors


def int8_manifest_figures(repository: Path, model_name: str) -> dict:
    """What the int8 export measured: map agreement with fp32 on held-out photos (not re-measured here)."""
    try:
        manifest = json.loads((repository / model_name / "manifest.json").read_text())
    except (OSError, ValueError):
        return {"note": f"no readable {repository / model_name / 'manifest.json'}"}
    int8 = manifest.get("int8", {})
    return {"map_agreement": int8.get("min_holdout_agreement"), "holdout_agreement": int8.get("holdout_agreement")}


def write(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


def main(options: Options) -> int:
    try:
        results = measure(options)
    except (StackUnavailable, LookupError, FileNotFoundError) as exc:
        log(f"error: {exc}")
        return 2
    write(results, options.output)
    print(report.table(results))
    print(f"results: {options.output}")
    print(json.dumps(results["summary"]))
    return 0 if results["summary"]["errors"] == 0 else 1
