"""GET /models: what Triton serves, grouped by family, with labels, input size and what the weights are."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.api.deps import CatalogueDep, SettingsDep
from gateway.defaults import DEFAULT_FAMILY
from gateway.domain import ModelInfo
from gateway.errors import error_responses

router = APIRouter(tags=["models"])


class Weights(BaseModel):
    kind: str = Field(
        description="pretrained | random | file | unknown (config written before this was recorded).",
        examples=["pretrained"],
    )
    weights_are_random: bool | None = Field(description="True when the masks mean nothing (random weights).")
    file: str | None = Field(None, description="Base name of the weights file (kind file).", examples=["finetuned.pth"])
    sha256: str | None = Field(None, description="sha256 of that file (kind file).")


class Backend(BaseModel):
    model: str = Field(description="Triton model name.", examples=["deeplabv3_onnx"])
    max_batch_size: int = Field(examples=[8])
    weights: Weights = Field(description="What the weights are, from the model's Triton config.")


class Family(BaseModel):
    labels: list[str] = Field(description="Class names in class-index order.", examples=[["background", "aeroplane"]])
    input_size: tuple[int, int] = Field(description="(height, width) the photo is resized to.", examples=[[512, 512]])
    backends: dict[str, Backend] = Field(description="`infer_model_type` value → the model serving it.")


class Catalogue(BaseModel):
    default_model: str = Field(description="Family used when a request names no `model`.", examples=[DEFAULT_FAMILY])
    models: dict[str, Family] = Field(description="Family name (the `model` form field) → its backends.")


def _family(infos: list[ModelInfo]) -> Family:
    first = infos[0]
    return Family(
        labels=list(first.labels),
        input_size=first.input_size,
        backends={
            info.runtime: Backend(model=info.name, max_batch_size=info.max_batch_size, weights=Weights(**info.weights))
            for info in infos
        },
    )


@router.get(
    "/models",
    response_model=Catalogue,
    summary="Served models, backends, labels and weights",
    responses=error_responses(401, 503, 504),
)
async def list_models(catalogue: CatalogueDep, settings: SettingsDep) -> Catalogue:
    """Discovered from Triton's model configs (a discovery at most GATEWAY_CATALOGUE_REFRESH_S old, 10 s by
    default), so a model added to the repository shows up here without restarting the gateway."""
    by_family: dict[str, list[ModelInfo]] = {}
    for info in await catalogue.models():
        by_family.setdefault(info.family, []).append(info)
    return Catalogue(
        default_model=settings.default_family,
        models={family: _family(infos) for family, infos in by_family.items()},
    )
