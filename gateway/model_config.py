"""A Triton model config (as JSON) read as the gateway's ``ModelInfo``: the one reading of the contract's
parameters (gateway/contract.py), for the gateway's discovery and the clients alike. No settings, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.contract import (
    FAMILY_PARAM,
    INPUT_NAME,
    LABELS_PARAM,
    RUNTIME_PARAM,
    SELECTS_PARTIALS_PARAM,
    WEIGHTS_FILE_PARAM,
    WEIGHTS_PARAM,
    WEIGHTS_SHA256_PARAM,
)
from gateway.domain import ModelInfo


def _param(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get("parameters", {}).get(key)
    return value.get("string_value") if isinstance(value, Mapping) else None


def weights_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """What the model's config says about its weights: kind, and for a file its base name and sha256.

    This is all a client learns about the weights: nothing of the server's disk. ``kind`` is "unknown" for
    repositories exported before the parameter existed.
    """
    kind = _param(config, WEIGHTS_PARAM) or "unknown"
    return {
        "kind": kind,
        "weights_are_random": None if kind == "unknown" else kind == "random",
        "file": _param(config, WEIGHTS_FILE_PARAM) or None,
        "sha256": _param(config, WEIGHTS_SHA256_PARAM) or None,
    }


def model_info_from_config(config: Mapping[str, Any]) -> ModelInfo | None:
    """A ``ModelInfo`` from a Triton model config (as JSON), or None if it is not a segmentation model."""
    family, runtime, labels = (_param(config, key) for key in (FAMILY_PARAM, RUNTIME_PARAM, LABELS_PARAM))
    image = next((tensor for tensor in config.get("input", []) if tensor.get("name") == INPUT_NAME), None)
    if not family or not runtime or labels is None or image is None:
        return None
    dims = [int(d) for d in image.get("dims", [])]
    if len(dims) != 3:
        return None
    return ModelInfo(
        name=config["name"],
        family=family,
        runtime=runtime,
        labels=tuple(label.strip() for label in labels.split(",")),
        input_size=(dims[1], dims[2]),
        max_batch_size=int(config.get("max_batch_size", 0)),
        weights=weights_from_config(config),
        outputs=tuple(str(tensor.get("name")) for tensor in config.get("output", [])),
        selects_partials=_param(config, SELECTS_PARTIALS_PARAM) == "true",
    )
