"""``python -m bench.sweep``: the serving knobs, measured one variant at a time with the harness.

Each variant is a copy of the model repository with its config edited (dynamic-batching delay, instance
count) and/or environment knobs of the launcher (``SERVING_INTRA_OP_THREADS``); for each, a private
stack is started on its own ports, the selected harness scenarios run, and the stack is stopped. The
repository in git is never touched: the copies link to its exported weights.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from bench import run
from bench.options import parse as parse_bench_options
from bench.stack import Endpoints


@dataclass(frozen=True)
class Variant:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    queue_delay_us: int | None = None  # dynamic_batching.max_queue_delay_microseconds
    instances: int | None = None  # instance_group[0].count
    preferred_batch: tuple[int, ...] | None = None


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("threads1", env={"SERVING_INTRA_OP_THREADS": "1"}),
        Variant("threads2", env={"SERVING_INTRA_OP_THREADS": "2"}),
        # libgomp (torch's intra-op pool) busy-waits between ops by default; PASSIVE makes idle threads sleep.
        Variant("threads2-passive", env={"SERVING_INTRA_OP_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}),
        Variant("delay0", env={"SERVING_INTRA_OP_THREADS": "2"}, queue_delay_us=0),
        Variant("delay10ms", env={"SERVING_INTRA_OP_THREADS": "2"}, queue_delay_us=10_000, preferred_batch=(4,)),
        Variant("instances2-threads1", env={"SERVING_INTRA_OP_THREADS": "1"}, instances=2),
        Variant("instances2-threads2", env={"SERVING_INTRA_OP_THREADS": "2"}, instances=2),
    )
}


def edited_repository(source: Path, variant: Variant, target: Path) -> Path:
    """A copy of ``source`` with the variant's config edits; version directories are symlinks."""
    if target.exists():
        shutil.rmtree(target)
    for model_dir in sorted(p for p in source.iterdir() if (p / "config.pbtxt").is_file()):
        copy = target / model_dir.name
        copy.mkdir(parents=True)
        for entry in model_dir.iterdir():
            if entry.is_dir():
                (copy / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
            elif entry.name != "config.pbtxt":
                shutil.copy2(entry, copy / entry.name)
        config = text_format.Parse((model_dir / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        if variant.queue_delay_us is not None:
            config.dynamic_batching.max_queue_delay_microseconds = variant.queue_delay_us
        if variant.preferred_batch is not None:
            del config.dynamic_batching.preferred_batch_size[:]
            config.dynamic_batching.preferred_batch_size.extend(variant.preferred_batch)
        if variant.instances is not None:
            config.instance_group[0].count = variant.instances
        (copy / "config.pbtxt").write_text(text_format.MessageToString(config))
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.sweep",
        description="Run the harness once per serving variant, each on a private stack. Arguments after "
        "`--` go to the harness (default: --only triton/ gateway-map/onnx --photos dog1.jpg --skip-encoding).",
    )
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from: {', '.join(VARIANTS)}")
    p.add_argument("--repository", type=Path, default=Path("model_repository"), help="exported repository to copy")
    p.add_argument("--work-dir", type=Path, default=Path("artifacts/bench/sweep"), help="copies, logs and results")
    p.add_argument(
        "--base-port", type=int, default=18700, help="Triton HTTP/gRPC/metrics and the gateway on 4 ports from here"
    )
    args, harness_args = p.parse_known_args(argv)
    harness_args = [a for a in harness_args if a != "--"] or [
        "--only",
        "triton/",
        "gateway-map/onnx",
        "--photos",
        "dog1.jpg",
        "--skip-encoding",
    ]
    ports = {
        "TRITON_HTTP_PORT": args.base_port,
        "TRITON_GRPC_PORT": args.base_port + 1,
        "TRITON_METRICS_PORT": args.base_port + 2,
        "GATEWAY_PORT": args.base_port + 3,
    }
    endpoints = Endpoints(f"http://127.0.0.1:{ports['GATEWAY_PORT']}", f"127.0.0.1:{ports['TRITON_GRPC_PORT']}")

    table: dict[str, dict] = {}
    for name in args.variants.split(","):
        variant = VARIANTS[name]
        work = args.work_dir / name
        repository = edited_repository(args.repository.resolve(), variant, work / "repo")
        options = replace(
            parse_bench_options(
                [*harness_args, "--output", str(work / "results.json"), "--repository", str(repository)]
            ),
            endpoints=endpoints,
        )
        env = {
            **{k: str(v) for k, v in ports.items()},
            **variant.env,
            "MODEL_REPOSITORY": str(repository),
            "SERVING_RUN_DIR": str((work / "run").resolve()),
            "GATEWAY_TRITON_URL": endpoints.triton_grpc_url,
            "TRITON_HOST": "127.0.0.1",
            "GATEWAY_HOST": "127.0.0.1",
        }
        run.log(f"variant {name}: {variant}")
        results = run.measure(options, serving_env=env)
        if not results["stack"]["started_by_bench"]:
            run.log(f"warning: a stack was already running on {endpoints}; variant {name} measured it, not its own")
        run.write(results, options.output)
        table[name] = {
            f"{r['scenario']} c{r['concurrency']}": [r["p50_ms"], r["throughput_rps"]] for r in results["runs"]
        }
        table[name]["load_average_1m"] = [results["machine"]["load_average_1m"], results["load_average_1m_end"]]
        print(f"{name}: " + json.dumps(table[name]), flush=True)
    (args.work_dir / "sweep.json").write_text(json.dumps(table, indent=2))
    print(render(table))
    return 0


def render(table: dict[str, dict]) -> str:
    """variant × (scenario, concurrency): 'p50 ms / req/s'."""
    keys = sorted({key for row in table.values() for key in row if key != "load_average_1m"})
    lines = ["variant".ljust(22) + "".join(key.rjust(24) for key in keys)]
    for name, row in table.items():
        cells = [f"{row[k][0]} / {row[k][1]}" if k in row and row[k][0] is not None else "-" for k in keys]
        lines.append(name.ljust(22) + "".join(cell.rjust(24) for cell in cells))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
