"""What one harness run measures: each (path, backend, photo) as a Scenario, in the order they run.

Adding a path (e.g. raw TorchScript at batch 64 on a GPU) means adding one Scenario factory here:
the load runner, the report and the final line take any scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.inputs import Photo
from bench.load import SenderFactory
from bench.models import ServedModel
from bench.request_paths import GatewayPath, ReferencePath, TritonPath
from bench.stack import Endpoints
from gateway.contract import (
    LOGITS,
    MAP_RESULT,
    ONNX_RUNTIME,
    PROBABILITIES,
    RESULT_TYPES,
    SEGMENTATION_MAP,
)

ALL_RESULTS = RESULT_TYPES
MAP_ONLY = (MAP_RESULT,)
MAP_ONLY_OUTPUT = (SEGMENTATION_MAP,)
# Faster formats than the JSON lists (response_format=json), with the results each is asked for. npz carries the
# same three arrays as the all-results JSON (the size/speed comparison); png, summary and bundle (the mask PNG and the
# summary together: what the CLI, the web page and SegmentationClient.segment() ask) answer from the map.
FAST_FORMATS: dict[str, tuple[str, ...]] = {
    "npz": ALL_RESULTS,
    "png": MAP_ONLY,
    "summary": MAP_ONLY,
    "bundle": MAP_ONLY,
}
HEAVY_FORMATS = {"npz"}
# The network alone (bench.request_paths.network_alone), in-process with onnxruntime's default session options
# (what a user who skips the service runs): every serving path is a ratio to it.
REFERENCE = "network/onnx"
# The same with idle threads sleeping (session.intra_op.allow_spinning=0, the reference of earlier runs): the
# second column, measured in turn with the reference like any path.
REFERENCE_NOSPIN = "network-nospin/onnx"
REFERENCES = (REFERENCE, REFERENCE_NOSPIN)
# The whole exported graph in-process (onnxruntime's defaults), fetching the map (it still runs softmax and argmax).
GRAPH = "graph/onnx"
# Triton's cost per output set (concurrency 1), each through the model the gateway would ask.
OUTPUT_SETS: dict[str, tuple[str, ...]] = {
    "map": (SEGMENTATION_MAP,),
    "logits": (LOGITS,),
    "distribution": (PROBABILITIES,),
    "all": (LOGITS, PROBABILITIES, SEGMENTATION_MAP),
}
COST_PREFIX = "triton-outputs"


@dataclass(frozen=True)
class Scenario:
    name: str  # path/backend, e.g. gateway-map/onnx
    photo: Photo
    make_sender: SenderFactory
    heavy: bool = False  # all-results sized: few requests
    sequential_only: bool = False  # the reference: measured at concurrency 1 only
    probe: GatewayPath | None = None  # a gateway request to try first (skips formats the gateway lacks)
    model: str | None = None  # the Triton model a direct path asks


def for_photo(
    photo: Photo,
    reference: ReferencePath,
    reference_nospin: ReferencePath,
    graph: ReferencePath,
    models: dict[str, ServedModel],
    endpoints: Endpoints,
    with_heavy: bool,
    api_key: str | None = None,
) -> list[Scenario]:
    def gateway(
        name: str, runtime: str, results: tuple[str, ...], fmt: str | None = None, heavy: bool = False
    ) -> Scenario:
        path = GatewayPath(endpoints.gateway_url, photo.name, photo.data, runtime, results, fmt, api_key)
        return Scenario(name, photo, path.make_sender, heavy=heavy, probe=path)

    scenarios = [
        Scenario(REFERENCE, photo, reference.make_sender, sequential_only=True),
        Scenario(REFERENCE_NOSPIN, photo, reference_nospin.make_sender, sequential_only=True),
        Scenario(GRAPH, photo, graph.make_sender, sequential_only=True),
    ]
    for runtime, model in sorted(models.items()):
        # A direct map-only user asks the map's own model (what the gateway does too).
        path = TritonPath(endpoints.triton_grpc_url, model.for_outputs(MAP_ONLY_OUTPUT), photo.model_input)
        scenarios.append(Scenario(f"triton/{runtime}", photo, path.make_sender, model=path.model_name))
    if with_heavy:
        model = models[ONNX_RUNTIME]
        for label, outputs in OUTPUT_SETS.items():
            path = TritonPath(endpoints.triton_grpc_url, model.for_outputs(outputs), photo.model_input, outputs=outputs)
            scenarios.append(
                Scenario(
                    f"{COST_PREFIX}/{label}",
                    photo,
                    path.make_sender,
                    heavy=label != "map",
                    sequential_only=True,
                    model=path.model_name,
                )
            )
        # The same map-only request on the full model: what a map costs when the graph computes everything.
        path = TritonPath(endpoints.triton_grpc_url, model.name, photo.model_input)
        scenarios.append(
            Scenario(
                f"{COST_PREFIX}/map-on-full-model", photo, path.make_sender, sequential_only=True, model=path.model_name
            )
        )
    # triton/onnx_int8 (when the family has an int8 model) at every concurrency: int8_speedup compares it with
    # triton/onnx.
    for runtime in sorted(models):
        scenarios.append(gateway(f"gateway-map/{runtime}", runtime, MAP_ONLY))
    if with_heavy:
        scenarios.append(gateway(f"gateway-all/{ONNX_RUNTIME}", ONNX_RUNTIME, ALL_RESULTS, "json", heavy=True))
    for fmt, results in FAST_FORMATS.items():
        heavy = fmt in HEAVY_FORMATS
        if heavy and not with_heavy:
            continue
        scenarios.append(gateway(f"format-{fmt}/{ONNX_RUNTIME}", ONNX_RUNTIME, results, fmt, heavy=heavy))
    return scenarios
