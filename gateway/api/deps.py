"""Dependencies of the routes, declared once as ``Annotated`` aliases.

The objects themselves are created by the app's lifespan (gateway/main.py) and kept on ``app.state``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.core.config import Settings
from gateway.inference import InferenceService
from gateway.metrics import BACKEND_STATE_KEY, FAMILY_STATE_KEY, FORMAT_STATE_KEY, Metrics
from gateway.triton import ModelCatalogue, TritonClient


def app_settings(request: Request) -> Settings:
    """The app's settings (create_app's), not a fresh read of the environment (gateway.core.config.get_settings)."""
    return request.app.state.settings


def get_inference(request: Request) -> InferenceService:
    return request.app.state.inference


def get_triton(request: Request) -> TritonClient:
    return request.app.state.inference.triton


def get_catalogue(request: Request) -> ModelCatalogue:
    return request.app.state.inference.catalogue


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def label_runtime(request: Request, runtime: str) -> None:
    """Record the runtime that served this request (the API's infer_model_type), for the metrics' label, which is
    named ``backend`` (a public label name dashboards and alerts use)."""
    setattr(request.state, BACKEND_STATE_KEY, runtime)


def label_family(request: Request, family: str) -> None:
    """Record the model family that served this request (a resolved one only), for the ``family`` label."""
    setattr(request.state, FAMILY_STATE_KEY, family)


def label_format(request: Request, response_format: str) -> None:
    """Record the (negotiated, known) response format, for the metrics' ``response_format`` label."""
    setattr(request.state, FORMAT_STATE_KEY, response_format)


SettingsDep = Annotated[Settings, Depends(app_settings)]
InferenceDep = Annotated[InferenceService, Depends(get_inference)]
TritonDep = Annotated[TritonClient, Depends(get_triton)]
CatalogueDep = Annotated[ModelCatalogue, Depends(get_catalogue)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
