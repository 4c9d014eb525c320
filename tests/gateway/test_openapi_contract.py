"""The OpenAPI description says what the server enforces: required fields, allowed values, limits, 401s."""

from __future__ import annotations

import pytest

from gateway.core.config import Settings
from gateway.domain import MASK_SIZES, RESULT_TYPES, RUNTIMES
from gateway.main import create_app
from gateway.results.registry import FORMATS

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def schema() -> dict:
    return create_app(Settings(max_batch_files=5)).openapi()


def _body(schema: dict, path: str) -> dict:
    content = schema["paths"][path]["post"]["requestBody"]["content"]
    form = content.get("multipart/form-data") or content["application/x-www-form-urlencoded"]
    ref = form["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]


def _strings(field: dict) -> dict:
    """The string (or array-of-strings) branch of an optional field's schema."""
    for branch in field.get("anyOf", [field]):
        if branch.get("type") in ("string", "array"):
            return branch
    raise AssertionError(field)


def test_the_raw_body_query_parameter_infer_model_type_is_required(schema: dict) -> None:
    parameters = {item["name"]: item for item in schema["paths"]["/infer/file"]["post"]["parameters"]}
    assert parameters["infer_model_type"]["required"] is True
    assert parameters["infer_model_type"]["schema"]["enum"] == list(RUNTIMES)
    assert parameters["requested_results_types"]["schema"]["items"]["enum"] == list(RESULT_TYPES)


@pytest.mark.parametrize("path", ["/infer/url", "/infer/file", "/infer/files"])
def test_every_choice_of_the_forms_has_its_enum(schema: dict, path: str) -> None:
    body = _body(schema, path)
    assert body["infer_model_type"]["enum"] == list(RUNTIMES)
    assert _strings(body["response_format"])["enum"] == list(FORMATS)
    assert _strings(body["mask_size"])["enum"] == list(MASK_SIZES)
    assert _strings(body["requested_results_types"])["items"]["enum"] == list(RESULT_TYPES)


def test_a_batch_documents_its_most_files(schema: dict) -> None:
    files = _body(schema, "/infer/files")["file"]
    assert (files["minItems"], files["maxItems"]) == (1, 5)


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/models"), ("post", "/infer/url"), ("post", "/infer/file"), ("post", "/infer/files")]
)
def test_routes_that_need_a_key_document_401(schema: dict, method: str, path: str) -> None:
    assert "401" in schema["paths"][path][method]["responses"]
