"""The API, the Python client, the `segment` CLI and the web page share their defaults: backend onnx, mask at the
model's input size. Read from each one's own definition, so a change in one place fails here."""

from __future__ import annotations

import inspect
import re
import typing

from client.cli import build_parser
from client.gateway_client import SegmentationClient
from gateway.api.forms import infer_request
from gateway.domain import RenderOptions
from tests.support.paths import REPO_ROOT

PAGE = (REPO_ROOT / "gateway" / "static" / "index.html").read_text()


def _default(function, name):
    return inspect.signature(function).parameters[name].default


def test_backend_defaults_agree_on_onnx():
    cli = build_parser().parse_args(["photo.jpg"])
    page_first_backend = re.search(r'<select id="backend"[^>]*>\s*<option value="(\w+)"', PAGE).group(1)
    # The API requires infer_model_type; its documented example is what the others default to.
    api_example = (
        typing.get_type_hints(infer_request, include_extras=True)["infer_model_type"].__metadata__[0].examples[0]
    )
    assert {
        _default(SegmentationClient.segment, "backend"),
        _default(SegmentationClient.iter_segment, "backend"),
        cli.backend,
        page_first_backend,
        api_example,
    } == {"onnx"}


def test_mask_size_defaults_agree_on_the_models_size():
    cli = build_parser().parse_args(["photo.jpg"])
    api = inspect.signature(infer_request).parameters["mask_size"].default
    page_checkbox = re.search(r'<input id="mask-original"[^>]*>', PAGE).group(0)
    page = "original" if "checked" in page_checkbox else "model"
    assert {
        api,
        RenderOptions().mask_size,
        _default(SegmentationClient.segment, "mask_size"),
        _default(SegmentationClient.iter_segment, "mask_size"),
        cli.mask_size,
        page,
    } == {"model"}
