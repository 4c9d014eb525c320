"""The shapes of the JSON answers, for the OpenAPI description (the renderers in gateway/results/ write them).

``response_format=json`` answers ``InferResponse``; ``summary`` answers ``SummaryResponse``; ``bundle`` answers
``BundleResponse`` (the summary plus the labels and the mask); all three are ``application/json``, so a 200's JSON
schema is ``JsonAnswer``, any one of them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, RootModel

from gateway.api.routes.models import Weights
from gateway.contract import ONNX_RUNTIME
from gateway.defaults import DEFAULT_FAMILY


class InferResponse(BaseModel):
    """The JSON answer (response_format=json)."""

    Status: str = Field(examples=["OK"])
    infer_model_type: str = Field(examples=[ONNX_RUNTIME])
    image_type: str = Field(description="`url` or `file`.", examples=["file"])
    requested_results: dict[str, list] = Field(
        description="Result name → nested lists, in the order requested: logits and pixels_distribution "
        "[classes][height][width] floats, segmentation_map [height][width] class indices.",
        examples=[{"segmentation_map": [[0, 0, 12], [0, 12, 12]]}],
    )


class ServedModel(BaseModel):
    name: str = Field(description="Triton model name.", examples=["deeplabv3_onnx"])
    family: str = Field(examples=[DEFAULT_FAMILY])
    backend: str = Field(examples=[ONNX_RUNTIME])
    num_classes: int = Field(examples=[21])


class Size(BaseModel):
    width: int
    height: int


class MaskSize(Size):
    mode: str = Field(description="`model` or `original`.", examples=["model"])


class ClassShare(BaseModel):
    id: int = Field(examples=[12])
    name: str = Field(examples=["dog"])
    color: str = Field(description="The palette colour of the class, #rrggbb.", examples=["#400080"])
    pixel_count: int
    pixel_fraction: float = Field(description="Share of the mask's pixels, 0 to 1.")
    mean_confidence: float | None = Field(description="Mean winning probability over the class's pixels.")


class SummaryResponse(BaseModel):
    """response_format=summary: which classes the photo holds, how much of it, how sure the model is."""

    Status: str = Field(examples=["OK"])
    infer_model_type: str = Field(examples=[ONNX_RUNTIME])
    image_type: str = Field(examples=["file"])
    model: ServedModel
    weights: Weights
    image_size: Size = Field(description="The photo's own size.")
    mask_size: MaskSize = Field(description="The size the classes were counted at.")
    classes: list[ClassShare] = Field(description="The classes present, largest first.")


class BundleResponse(SummaryResponse):
    """response_format=bundle: the summary plus what a client needs to write a mask and paint an overlay."""

    labels: list[str] = Field(description="Every class name, in class-index order.")
    mask_png: str = Field(
        description="The segmentation map at mask_size as a palette PNG (response_format=png), base64."
    )


class JsonAnswer(RootModel[InferResponse | SummaryResponse | BundleResponse]):
    """A JSON answer: json, summary or bundle, as response_format asked."""
