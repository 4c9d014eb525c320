"""Rendered objects validate strictly: core kinds against Kubernetes' schemas of several versions,
custom resources against their CRDs (shared k8s-crds/) with unknown fields refused."""

from __future__ import annotations

import copy
import json

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy import manifests
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(120)

CUSTOM_KINDS = {"InferenceService", "ServingRuntime", "ScaledObject", "ServiceMonitor", "PodMonitor", "PrometheusRule"}


def _objects(custom: bool) -> list[tuple[str, dict]]:
    """Each distinct rendered object once (overlays share most of the base), labelled where first seen."""
    cases: dict[str, tuple[str, dict]] = {}
    for path in [*manifests.KUSTOMIZATIONS, *manifests.HAND_APPLIED]:
        for obj in manifests.load(path):
            if manifests.is_custom_resource(obj) == custom:
                key = json.dumps(obj, sort_keys=True)
                cases.setdefault(key, (f"{path.relative_to(REPO_ROOT)}:{manifests.name_of(obj)}", obj))
    return list(cases.values())


CORE = _objects(custom=False)
CUSTOM = _objects(custom=True)


@pytest.mark.parametrize("version", manifests.K8S_VERSIONS)
@pytest.mark.parametrize("obj", [pytest.param(obj, id=label) for label, obj in CORE])
def test_core_object_validates_strictly(obj: dict, version: str) -> None:
    manifests.validate_core(obj, version)


@pytest.mark.parametrize("obj", [pytest.param(obj, id=label) for label, obj in CUSTOM])
def test_custom_resource_validates_against_its_strict_crd(obj: dict) -> None:
    manifests.validate_custom_resource(obj)


def test_every_custom_kind_is_rendered_and_checked() -> None:
    assert {obj["kind"] for _, obj in CUSTOM} == CUSTOM_KINDS


@pytest.mark.parametrize("kind", sorted(CUSTOM_KINDS))
def test_a_misspelt_field_is_refused_by_the_strict_crd(kind: str) -> None:
    bad = copy.deepcopy(next(o for _, o in CUSTOM if o["kind"] == kind))
    key = next(iter(bad["spec"]))
    bad["spec"][key + "s"] = bad["spec"].pop(key)  # e.g. minReplicaCount -> minReplicaCounts
    messages = [e.message for e in manifests.custom_resource_errors(bad)]
    assert any("Additional properties" in m and repr(key + "s") in m for m in messages), messages


def test_a_misspelt_nested_field_is_refused() -> None:
    isvc = next(o for _, o in CUSTOM if o["kind"] == "InferenceService")
    bad = copy.deepcopy(isvc)
    bad["spec"]["predictor"]["model"]["storageURI"] = bad["spec"]["predictor"]["model"].pop("storageUri")
    with pytest.raises(jsonschema.ValidationError, match="storageURI"):
        manifests.validate_custom_resource(bad)


def test_strictness_is_needed_the_plain_crd_lets_a_misspelt_field_pass() -> None:
    """Why strict() exists: the CRD as published does not refuse unknown fields."""
    isvc = next(o for _, o in CUSTOM if o["kind"] == "InferenceService")
    bad = copy.deepcopy(isvc)
    bad["spec"]["predictor"]["model"]["storageURI"] = bad["spec"]["predictor"]["model"].pop("storageUri")
    schema = manifests._crds()[("serving.kserve.io", "v1beta1", "InferenceService")]
    assert not list(jsonschema.Draft7Validator(schema).iter_errors(bad))  # the published CRD lets it through
    with pytest.raises(jsonschema.ValidationError, match="storageURI"):  # the strict one does not
        manifests.validate_custom_resource(bad)


def test_a_custom_kind_without_crd_is_an_error() -> None:
    with pytest.raises(LookupError):
        manifests.validate_custom_resource(
            {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob", "metadata": {"name": "x"}, "spec": {}}
        )


def test_a_misspelt_core_field_is_refused() -> None:
    deployment = next(o for _, o in CORE if o["kind"] == "Deployment")
    bad = copy.deepcopy(deployment)
    bad["spec"]["selectors"] = bad["spec"].pop("selector")
    with pytest.raises(kubernetes_validate.ValidationError):
        manifests.validate_core(bad, manifests.K8S_VERSIONS[-1])


def test_a_core_kind_without_schema_is_an_error() -> None:
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        manifests.validate_core(
            {"apiVersion": "apps/v1", "kind": "Deploymint", "metadata": {"name": "x"}}, manifests.K8S_VERSIONS[-1]
        )
