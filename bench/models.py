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
    PARTIAL_OUTPUT_SETS,
    RUNTIME_PARAM,
    SELECTS_PARTIALS_PARAM,
    in_contract_order,
    partial_model_name,
)

# The export's partial models (gateway/contract.py): `<full model>__<output>[__<output>]`, computing only those.


@dataclass(frozen=True)
class ServedModel:
    name: str  # Triton model name
    runtime: str  # "onnx" | "torch": the gateway's infer_model_type
    input_shape: tuple[int, int, int]  # (3, H, W)
    partials: tuple[tuple[str, ...], ...] = ()  # output sets that have a READY model of their own

    def for_outputs(self, outputs: tuple[str, ...]) -> str:
        """The model the gateway asks for these outputs: the set's own model, else the full one."""
        subset = in_contract_order(outputs)
        return partial_model_name(self.name, subset) if subset in self.partials else self.name


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
        # A full model that selects its partial files itself (the embedded twin) is asked directly, as the gateway does.
        selects = params.get(SELECTS_PARTIALS_PARAM) == "true"
        single = (
            ()
            if selects
            else tuple(outputs for outputs in PARTIAL_OUTPUT_SETS if partial_model_name(name, outputs) in ready)
        )
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
