"""Every kustomization renders with the pinned kubectl, and every component is rendered by some overlay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy import manifests
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(120)


def test_kubectl_is_the_pinned_one_from_this_environment() -> None:
    binary = manifests.kubectl_binary()
    assert binary.resolve().is_relative_to(Path(sys.prefix).resolve()), binary  # the venv's, not PATH's
    out = subprocess.run(
        [str(binary), "version", "--client", "-o", "yaml"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert yaml.safe_load(out)["clientVersion"]["gitVersion"] == f"v{manifests.pinned_kubectl_version()}"


def test_the_expected_overlays_exist() -> None:
    assert {p.name for p in manifests.OVERLAYS} >= {"cpu", "gpu", "s3", "production"}


@pytest.mark.parametrize("path", manifests.KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_renders(path) -> None:
    objects = manifests.render(path)
    assert objects, f"{path} rendered nothing"
    # the plain stack in `segmentation`, KServe's in its own (deleting one never deletes the other)
    namespace = "segmentation-kserve" if path == manifests.KSERVE_DIR else "segmentation"
    for obj in objects:
        assert obj["metadata"].get("namespace") == namespace or obj["kind"] == "Namespace", (
            f"{manifests.name_of(obj)} is outside the {namespace} namespace"
        )


def _components_used_by(overlay) -> set[str]:
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    return {(overlay / c).resolve().name for c in kustomization.get("components", [])}


def test_every_component_is_rendered_by_an_overlay() -> None:
    used = set().union(*(_components_used_by(o) for o in manifests.OVERLAYS))
    assert {c.name for c in manifests.COMPONENTS} <= used


def test_the_docs_name_every_overlay_and_component() -> None:
    doc = (REPO_ROOT / "docs" / "scaling.md").read_text()
    for path in manifests.OVERLAYS + manifests.COMPONENTS + [manifests.KSERVE_DIR]:
        assert f"`{path.relative_to(REPO_ROOT)}" in doc, path
