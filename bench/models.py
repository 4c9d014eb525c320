"""Which Triton models serve the family under test, found the way the gateway finds them: from the
``segmentation.*`` parameters of each model's config (docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tritonclient.grpc as grpcclient

from gateway.contract import (
    FAMILY_PARAM,
    INPUT_NAME,
    ONNX_RUNTIME,
    OUTPUT_NAMES,
    RUNTIME_PARAM,
    single_output_model_name,
)

# The export's single-output models (gateway/contract.py): `<full model>__<output>`, computing only that output.


@dataclass(frozen=True)
class ServedModel:
    name: str  # Triton model name
    runtime: str  # "onnx" | "torch": the gateway's infer_model_type
    input_shape: tuple[int, int, int]  # (3, H, W)
    single_outputs: tuple[str, ...] = ()  # outputs that have a READY model of their own

    def for_outputs(self, outputs: tuple[str, ...]) -> str:
        """The model the gateway asks for these outputs: the output's own model, else the full one."""
        if len(outputs) == 1 and outputs[0] in self.single_outputs:
            return single_output_model_name(self.name, outputs[0])
        return self.name


def discover(triton_grpc_url: str, family: str) -> dict[str, ServedModel]:
    """runtime → model for ``family``; raises LookupError naming what Triton serves when it is absent."""
    client = grpcclient.InferenceServerClient(triton_grpc_url)
    found: dict[str, ServedModel] = {}
    seen: list[str] = []
    index = client.get_model_repository_index(as_json=True).get("models", [])
    ready = {entry["name"] for entry in index if entry.get("state") == "READY"}
    for entry in index:
        name = entry["name"]
        config = client.get_model_config(name, as_json=True)["config"]
        params = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        seen.append(f"{name} ({params.get(FAMILY_PARAM)}/{params.get(RUNTIME_PARAM)})")
        if params.get(FAMILY_PARAM) != family:
            continue
        dims = next(tensor["dims"] for tensor in config["input"] if tensor["name"] == INPUT_NAME)
        single = tuple(output for output in OUTPUT_NAMES if single_output_model_name(name, output) in ready)
        found[params[RUNTIME_PARAM]] = ServedModel(
            name, params[RUNTIME_PARAM], (int(dims[0]), int(dims[1]), int(dims[2])), single
        )
    if ONNX_RUNTIME not in found:
        raise LookupError(
            f"Triton serves no onnx model of family {family!r}; it serves: {', '.join(seen) or 'nothing'}"
        )
    return found


def onnx_file(repository: Path, model_name: str) -> Path:
    """The exported ``model.onnx`` of ``model_name``: its highest numeric version directory."""
    versions = sorted(
        (path for path in (repository / model_name).glob("*/model.onnx") if path.parent.name.isdigit()),
        key=lambda path: int(path.parent.name),
    )
    if not versions:
        raise FileNotFoundError(
            f"no {repository / model_name}/<version>/model.onnx: export the model first (`make models`)"
        )
    return versions[-1]
