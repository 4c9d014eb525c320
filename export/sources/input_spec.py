"""The JSON description of an existing ONNX segmentation model (format documented in export/README.md)."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ExportError
from ..paths import shared_dir

Layout = Literal["NCHW", "NHWC"]
Triple = Annotated[list[float], Field(min_length=1, max_length=3)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # a typo in a key is an error, not a default


class NoNormalisation(_Strict):
    """Pixels go in as 0..255 (the model normalises internally, or wants raw pixels)."""

    kind: Literal["none"] = "none"


class MeanStd(_Strict):
    """(pixel / 255 - mean) / std per channel: torchvision/ImageNet-style, mean/std on the [0, 1] scale."""

    kind: Literal["mean_std"]
    mean: Triple
    std: Triple


class ScaleOffset(_Strict):
    """pixel * scale + offset per channel, on 0..255 pixels (e.g. scale 1/127.5, offset -1 for [-1, 1])."""

    kind: Literal["scale_offset"]
    scale: Triple
    offset: Triple


Normalisation = Annotated[NoNormalisation | MeanStd | ScaleOffset, Field(discriminator="kind")]


class InputDescription(_Strict):
    name: str | None = None  # default: the graph's only input
    size: Annotated[list[int], Field(min_length=2, max_length=2)]  # [H, W]
    layout: Layout = "NCHW"
    dtype: Literal["uint8", "float32"] = "float32"
    normalisation: Normalisation = NoNormalisation()

    @model_validator(mode="after")
    def _uint8_is_raw(self) -> InputDescription:
        if self.dtype == "uint8" and self.normalisation.kind != "none":
            raise ValueError("a uint8 input cannot be normalised outside the model; use normalisation none")
        if min(self.size) < 1:
            raise ValueError("size must be positive [H, W]")
        return self


class OutputDescription(_Strict):
    name: str  # the graph output holding per-class scores (logits, or probabilities if that is all it has)
    layout: Layout = "NCHW"


class InputSpec(_Strict):
    model: str  # path of the .onnx file: relative to the spec file, or using ${SHARED_DIR}
    labels: str  # class names, one per line, index order (same path rules)
    input: InputDescription
    output: OutputDescription
    description: str = ""


def resolve_path(value: str, spec_dir: Path) -> Path:
    """`${SHARED_DIR}` (and other environment variables) expand; relative paths are from the spec's folder."""
    variables = {**os.environ, "SHARED_DIR": str(shared_dir())}
    try:
        expanded = string.Template(value).substitute(variables)
    except KeyError as error:
        raise ExportError(f"input spec path {value!r} uses an unset variable {error}") from error
    path = Path(expanded).expanduser()
    return path if path.is_absolute() else (spec_dir / path)


def read_input_spec(path: Path) -> InputSpec:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ExportError(f"cannot read input spec {path}: {error.strerror or error}") from error
    except json.JSONDecodeError as error:
        raise ExportError(f"input spec {path} is not valid JSON: {error}") from error
    try:
        return InputSpec.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise ExportError(f"input spec {path} is invalid: {problems} (format: export/README.md)") from error
