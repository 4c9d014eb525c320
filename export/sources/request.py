"""What the user asked for, as data: built into a ModelSource now, and kept in the manifest so that
`python -m export.compare` can rebuild the same eager model later."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExportError
from .base import read_labels_file

if TYPE_CHECKING:
    from .base import ModelSource


@dataclass(frozen=True)
class TorchvisionRequest:
    arch: str
    weights: str  # "pretrained" | "random" | path
    num_classes: int | None = None
    labels_file: str | None = None
    input_size: tuple[int, int] = (512, 512)
    kind: str = "torchvision"

    def build(self) -> ModelSource:
        from .torchvision_source import build_torchvision_source

        labels = read_labels_file(Path(self.labels_file)) if self.labels_file else None
        return build_torchvision_source(
            weights=self.weights,
            arch=self.arch,
            num_classes=self.num_classes,
            labels=labels,
            input_size=(self.input_size[0], self.input_size[1]),
        )


@dataclass(frozen=True)
class OnnxRequest:
    input_spec: str  # path of the JSON description
    onnx_model: str | None = None  # overrides the spec's model path
    kind: str = "onnx"

    def build(self) -> ModelSource:
        from .onnx_source import build_onnx_source

        return build_onnx_source(Path(self.input_spec), Path(self.onnx_model) if self.onnx_model else None)


SourceRequest = TorchvisionRequest | OnnxRequest


def request_to_dict(request: SourceRequest) -> dict[str, Any]:
    return asdict(request)


def request_from_dict(data: dict[str, Any]) -> SourceRequest:
    kinds = {"torchvision": TorchvisionRequest, "onnx": OnnxRequest}
    kind = data.get("kind")
    if kind not in kinds:
        raise ExportError(f"manifest names an unknown source kind {kind!r}")
    fields = {k: v for k, v in data.items() if k != "kind"}
    if "input_size" in fields:
        fields["input_size"] = tuple(fields["input_size"])
    return kinds[kind](**fields)
