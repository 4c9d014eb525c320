"""The Python-backend adapter Triton runs for every model of the generated twin repository.

It serves the artefact the native config points at (`serving.artifact` parameter, set by serving/twin.py):
`model.pt` through torch.jit, `model.onnx` through onnxruntime, on CUDA when the instance is a GPU one and
the runtime can use it, else on CPU. Requests of one dynamic batch run as one call; each request gets back
only the outputs it asked for. Beside the artefact, `partial.<output>+<output>.<ext>` files (linked by
serving/twin.py from the partial models) compute only their outputs: a batch that asks for exactly one of those
sets runs that file instead, so the partial models' ensembles cost no process of their own.

This file runs inside Triton's Python stub, which imports it by path: it must not import the project.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import triton_python_backend_utils as pb_utils

ARTIFACT_PARAMETER = "serving.artifact"
PARTIAL_PREFIX = "partial."  # serving/twin.py's partial_link_name
# Thread counts: the twin's own parameter, else the native backends' (written by `python -m export --threads`).
INTRA_OP_PARAMETERS = ("serving.intra_op_threads", "intra_op_thread_count", "INTRA_OP_THREAD_COUNT")
INTER_OP_PARAMETERS = ("serving.inter_op_threads", "inter_op_thread_count", "INTER_OP_THREAD_COUNT")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


class Runner(Protocol):
    device: str

    def run(self, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]: ...


class TorchRunner:
    """A TorchScript module whose forward returns the config's outputs in config order (or a dict)."""

    def __init__(
        self,
        path: Path,
        input_names: list[str],
        output_names: list[str],
        use_gpu: bool,
        device_id: int,
        intra_op: int,
        inter_op: int,
    ) -> None:
        import torch

        self._torch = torch
        torch.set_num_threads(intra_op)
        # Only settable before the first parallel work; the stub may have run some.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(inter_op)
        self.device = f"cuda:{device_id}" if use_gpu and torch.cuda.is_available() else "cpu"
        with warnings.catch_warnings():
            # torch 2.14 deprecates TorchScript in favour of torch.export, but TorchScript is what Triton's
            # libtorch backend serves in production, so the twin must run the very same file.
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.load.*")
            self._module = torch.jit.load(str(path), map_location=self.device).eval()
        self._input_names = input_names
        self._output_names = output_names

    def run(self, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            args = [torch.from_numpy(inputs[name]).to(self.device) for name in self._input_names]
            result = self._module(*args)
            if isinstance(result, torch.Tensor):
                result = (result,)
            named = dict(result) if isinstance(result, dict) else dict(zip(self._output_names, result, strict=True))
            missing = [name for name in outputs if name not in named]
            if missing:
                raise RuntimeError(f"the TorchScript module returned no {missing} (got {sorted(named)})")
            # Only the requested outputs leave the device: a 21x512x512 FP32 copy is not free.
            return {name: named[name].cpu().numpy() for name in outputs}


class OnnxRunner:
    def __init__(
        self, path: Path, output_names: list[str], use_gpu: bool, device_id: int, intra_op: int, inter_op: int
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op
        options.inter_op_num_threads = inter_op
        # onnxruntime's own default, spinning idle threads, unless SERVING_ORT_SPINNING=0: measured on the 2-core
        # machine beside the gateway, map-only over gRPC 1.09x the network alone with spinning against 1.46x
        # without, and no loss at 4 in flight or on a folder of photos (docs/performance.md, round 3). With one
        # stub per runtime (not per model) the spinning pools no longer starve each other.
        spinning = "1" if _enabled("SERVING_ORT_SPINNING") else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
        # SERVING_ORT_STOP_SPINNING=1: the threads stop spinning once each run returns instead of spinning on a
        # while, so a gateway beside the stub gets the cores at once (side by side on the 2-core machine: Triton
        # map-only c=1 a little faster, the gateway's paths within the noise; off by default, docs/performance.md).
        if _enabled("SERVING_ORT_STOP_SPINNING", default=False):
            options.add_session_config_entry("session.force_spinning_stop", "1")
        providers: list = ["CPUExecutionProvider"]
        if use_gpu and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device_id}))
        # On CPU the map is computed from channels-last upsampling (map_layout.py; never on CUDA).
        model, self.rewritten = (str(path), 0) if len(providers) > 1 else _map_channels_last(path)
        # On CPU every session of the process (the model's file and its partial files) allocates from one arena
        # instead of one each: each arena kept the peak of the batches its file ran (one stub of one family
        # settled at 2.4 GB PSS; in process, after the same batches, 3.3 GB against 1.2 GB shared, at the same
        # speed: docs/performance.md). SERVING_ORT_SHARED_ARENA=0 gives each session its own.
        self.shared_arena = len(providers) == 1 and _enabled("SERVING_ORT_SHARED_ARENA")
        if self.shared_arena:
            _register_shared_cpu_arena(ort)
            options.add_session_config_entry("session.use_env_allocators", "1")
        self._session = ort.InferenceSession(model, sess_options=options, providers=providers)
        self.device = self._session.get_providers()[0]
        graph_outputs = {o.name for o in self._session.get_outputs()}
        missing = [name for name in output_names if name not in graph_outputs]
        if missing:
            raise RuntimeError(f"{path.name} has no graph output {missing} (it has {sorted(graph_outputs)})")

    def run(self, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        return dict(zip(outputs, self._session.run(outputs, inputs), strict=True))


_SHARED_ARENA_REGISTERED = False


def _register_shared_cpu_arena(ort: Any) -> None:
    """Registers, once per process, the CPU arena that sessions with `session.use_env_allocators` share
    (onnxruntime's default arena settings: no limit, growing by powers of two)."""
    global _SHARED_ARENA_REGISTERED
    if not _SHARED_ARENA_REGISTERED:
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))
        _SHARED_ARENA_REGISTERED = True


def _map_channels_last(path: Path) -> tuple[str | bytes, int]:
    """The graph at `path` with its map computed from channels-last upsampling, as bytes, and how many maps
    were rewritten; the path itself when there was nothing to rewrite."""
    import importlib.util

    import onnx

    spec = importlib.util.spec_from_file_location("map_layout", Path(__file__).resolve().with_name("map_layout.py"))
    assert spec is not None and spec.loader is not None
    map_layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(map_layout)
    model = onnx.load(str(path))
    rewritten = map_layout.argmax_channels_last(model)
    return (model.SerializeToString(), rewritten) if rewritten else (str(path), 0)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self._name = args["model_name"]
        parameters = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        artifact = parameters.get(ARTIFACT_PARAMETER)
        if not artifact:
            raise pb_utils.TritonModelException(
                f"{self._name}: config has no '{ARTIFACT_PARAMETER}' parameter (generate it with serving/twin.py)"
            )
        path = Path(args["model_repository"]) / args["model_version"] / artifact
        if not path.exists():
            raise pb_utils.TritonModelException(f"{self._name}: artefact {path} does not exist")

        self._inputs = {i["name"]: pb_utils.triton_string_to_numpy(i["data_type"]) for i in config["input"]}
        self._outputs = {o["name"]: pb_utils.triton_string_to_numpy(o["data_type"]) for o in config["output"]}
        use_gpu = args.get("model_instance_kind") == "GPU"
        device_id = int(args.get("model_instance_device_id", 0))
        intra_op = _thread_setting(parameters, INTRA_OP_PARAMETERS, "SERVING_INTRA_OP_THREADS", usable_cpus())
        inter_op = _thread_setting(parameters, INTER_OP_PARAMETERS, "SERVING_INTER_OP_THREADS", 1)

        def runner(file: Path, outputs: list[str]) -> Runner:
            if file.suffix == ".onnx":
                return OnnxRunner(file, outputs, use_gpu, device_id, intra_op, inter_op)
            return TorchRunner(file, list(self._inputs), outputs, use_gpu, device_id, intra_op, inter_op)

        self._runner: Runner = runner(path, list(self._outputs))
        # Output set (in config order) -> the runner of the partial file that computes exactly it.
        self._partials: dict[tuple[str, ...], Runner] = {}
        for file in sorted(path.parent.glob(f"{PARTIAL_PREFIX}*{path.suffix}")):
            names = file.name[len(PARTIAL_PREFIX) : -len(path.suffix)].split("+")
            outputs = [name for name in self._outputs if name in names]
            if len(outputs) != len(names):
                raise pb_utils.TritonModelException(f"{self._name}: {file.name} names outputs this model lacks")
            self._partials[tuple(outputs)] = partial = runner(file, outputs)
            layout = " (map from channels-last upsampling)" if getattr(partial, "rewritten", 0) else ""
            pb_utils.Logger.log_info(f"{self._name}: partial file {file.name} on {partial.device}{layout}")
        files = [ALL_OUTPUTS, *("+".join(k) for k in self._partials)]
        self._trimmer = _IdleTrimmer()
        self._runs = _RunCounter(
            "segmentation_adapter_runs_total", "Batches run by the embedded adapter", self._name, files
        )
        self._warmups = _RunCounter(
            "segmentation_adapter_warmup_runs_total", "Warm-up runs of the partial files", self._name, files[1:]
        )
        self._warm_partials(Path(args["model_repository"]) / "warmup", config)
        layout = " (map from channels-last upsampling)" if getattr(self._runner, "rewritten", 0) else ""
        pb_utils.Logger.log_info(
            f"{self._name}: serving {path.name} on {self._runner.device}{layout} "
            f"(intra-op threads {intra_op}, inter-op threads {inter_op}, {len(self._partials)} partial files)"
        )

    def _warm_partials(self, samples: Path, config: dict) -> None:
        """Triton's model_warmup runs the model's own file before READY; its partial files get the same samples
        here (TorchScript optimises on its first calls), so no first request pays for that."""
        for sample in config.get("model_warmup", []):
            arrays = {}
            for name, spec in sample.get("inputs", {}).items():
                path = samples / spec.get("input_data_file", "")
                if name not in self._inputs or not path.is_file():
                    return
                shape = [int(sample.get("batch_size", 1)), *(int(d) for d in spec.get("dims", []))]
                arrays[name] = np.fromfile(path, dtype=self._inputs[name]).reshape(shape)
            for outputs, runner in self._partials.items():
                for _ in range(int(sample.get("count", 1))):
                    runner.run(arrays, list(outputs))
                    self._warmups.count("+".join(outputs))

    def execute(self, requests: list) -> list:
        responses: list = [None] * len(requests)
        batch: list[tuple[int, dict[str, np.ndarray], list[str]]] = []
        for index, request in enumerate(requests):
            try:
                batch.append((index, self._read_inputs(request), self._requested(request)))
            except ValueError as exc:
                responses[index] = _error_response(f"{self._name}: {exc}")
        if batch:
            self._run_batch(batch, responses)
        return responses

    def _run_batch(self, batch: list[tuple[int, dict[str, np.ndarray], list[str]]], responses: list) -> None:
        wanted = [name for name in self._outputs if any(name in requested for _, _, requested in batch)]
        sizes = [len(next(iter(inputs.values()))) for _, inputs, _ in batch]
        joined = {
            name: np.concatenate([inputs[name] for _, inputs, _ in batch]) if len(batch) > 1 else batch[0][1][name]
            for name in self._inputs
        }
        runner = self._partials.get(tuple(wanted), self._runner)
        self._runs.count(ALL_OUTPUTS if runner is self._runner else "+".join(wanted))
        try:
            results = runner.run(joined, wanted)
        except Exception as exc:  # noqa: BLE001 - the whole batch failed: every request gets the reason
            for index, _, _ in batch:
                responses[index] = _error_response(f"{self._name}: inference failed: {exc}")
            return
        self._trimmer.after(sum(array.nbytes for array in results.values()))
        offsets = np.cumsum([0, *sizes])
        for (index, _, requested), start, stop in zip(batch, offsets[:-1], offsets[1:], strict=True):
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(results[name][start:stop], dtype=self._outputs[name]))
                for name in requested
            ]
            responses[index] = pb_utils.InferenceResponse(output_tensors=tensors)

    def _read_inputs(self, request: pb_utils.InferenceRequest) -> dict[str, np.ndarray]:
        inputs = {}
        for name, dtype in self._inputs.items():
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise ValueError(f"input '{name}' is missing")
            array = tensor.as_numpy()
            if array.dtype != dtype:
                raise ValueError(f"input '{name}' must be {np.dtype(dtype).name}, got {array.dtype.name}")
            inputs[name] = array
        sizes = {len(array) for array in inputs.values()}
        if len(sizes) > 1:
            raise ValueError(f"inputs disagree on the batch size: {sorted(sizes)}")
        return inputs

    def _requested(self, request: pb_utils.InferenceRequest) -> list[str]:
        requested = list(request.requested_output_names())
        unknown = [name for name in requested if name not in self._outputs]
        if unknown:
            raise ValueError(f"unknown output(s) {unknown}; this model has {list(self._outputs)}")
        # A request that names no output gets all of them (Triton's own convention).
        return requested or list(self._outputs)

    def finalize(self) -> None:
        self._runner = None  # type: ignore[assignment]
        self._partials = {}


ALL_OUTPUTS = "all"
TRIM_AFTER_BYTES = 64 * 1024 * 1024  # a batch that returned more than this (logits, distributions of a batch)
TRIM_IDLE_S = 1.0


class _IdleTrimmer:
    """Hands the heap's free memory back to the kernel (glibc malloc_trim) once the model has been idle for
    TRIM_IDLE_S after a batch with large outputs. glibc's dynamic mmap threshold keeps freed blocks of the sizes
    it saw (21x512x512 floats, per image) in the heap: after the all-results runs the torch stub stayed at ~2 GB.
    Map-only batches never arm it, so the fast path pays nothing."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("c")
        try:
            self._trim = ctypes.CDLL(name).malloc_trim if name else None
        except (OSError, AttributeError):
            self._trim = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def after(self, output_bytes: int) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()  # still busy: wait for the next idle spell
            armed = self._timer is not None or output_bytes > TRIM_AFTER_BYTES
            self._timer = threading.Timer(TRIM_IDLE_S, self._release) if armed and self._trim else None
            if self._timer is not None:
                self._timer.daemon = True
                self._timer.start()

    def _release(self) -> None:
        with self._lock:
            self._timer = None
        if self._trim is not None:
            self._trim(0)


class _RunCounter:
    """A counter `{name}{model, file}` on Triton's metrics endpoint: which file ran each batch (`all` = the
    model's own artefact, else the partial file's output set). Counts nothing where the stub has no custom
    metrics (older Python backends)."""

    def __init__(self, name: str, description: str, model: str, files: list[str]) -> None:
        self._metrics: dict[str, object] = {}
        family_type = getattr(pb_utils, "MetricFamily", None)
        if family_type is None:
            return
        self._family = family_type(name=name, description=f"{description}, by file", kind=family_type.COUNTER)
        self._metrics = {file: self._family.Metric(labels={"model": model, "file": file}) for file in files}

    def count(self, file: str) -> None:
        metric = self._metrics.get(file)
        if metric is not None:
            metric.increment(1)  # type: ignore[attr-defined]


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may use: its affinity, capped by the cgroup's CPU quota (a container's CPU limit),
    rounded up. os.cpu_count() is the node's cores, which inside a 4-CPU pod oversubscribes the limit."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max" and int(period) > 0:
            cpus = min(cpus, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota: the affinity is the bound
    return max(cpus, 1)


def _enabled(variable: str, default: bool = True) -> bool:
    """A switch of the environment: unset, ``default``; else on unless set to 0, false or no."""
    return os.environ.get(variable, "1" if default else "0").strip().lower() not in ("0", "false", "no")


def _thread_setting(parameters: dict[str, str], names: tuple[str, ...], variable: str, default: int) -> int:
    name, raw = next(((key, parameters[key]) for key in names if parameters.get(key)), (variable, None))
    raw = raw or os.environ.get(variable) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise pb_utils.TritonModelException(f"{name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise pb_utils.TritonModelException(f"{name} must be >= 1, got {value}")
    return value


def _error_response(message: str) -> pb_utils.InferenceResponse:
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message))
