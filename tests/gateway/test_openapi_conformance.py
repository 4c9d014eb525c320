"""schemathesis over the real gateway's /openapi.json: no 5xx, and every answer is what the schema says.

Against the session stack's gateway over HTTP, bounded: EXAMPLES generated requests an operation, positive cases
(values the schema allows; the gateway must answer each with a documented status, content type, headers and body).
A schema-valid request may still be refused with a documented 4xx (an unknown model family, bytes that are no
image), so schemathesis's positive-data-acceptance check is the one left out.
/infer/url is left out: its generated URLs would make the gateway resolve random host names (no traffic leaves
the machine here; its refusals are tested in tests/gateway/hardening).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from gateway.main import create_app

pytestmark = pytest.mark.timeout(600)

EXAMPLES = 30
LEFT_OUT = {("POST", "/infer/url")}
OPERATIONS = sorted(
    (method.upper(), path)
    for path, methods in create_app().openapi()["paths"].items()
    for method in methods
    if (method.upper(), path) not in LEFT_OUT
)


@pytest.fixture(scope="module")
def api_schema(stack):
    return schemathesis.openapi.from_url(f"{stack.gateway_url}/openapi.json")


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=lambda value: str(value))
def test_the_gateway_answers_as_its_openapi_says(api_schema, method: str, path: str) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def conforms(case) -> None:
        case.call_and_validate(timeout=60, excluded_checks=[positive_data_acceptance])

    conforms()


def test_the_operations_are_all_there() -> None:
    assert ("POST", "/infer/file") in OPERATIONS and ("GET", "/ready") in OPERATIONS and len(OPERATIONS) >= 6
