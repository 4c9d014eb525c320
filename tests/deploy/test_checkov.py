"""checkov over every render, the hand-applied manifests and the Dockerfiles, with deploy/checkov-skips.yaml.

One checkov process scans them all (a few seconds). checkov lives in a tool environment of its own
(deploy/checkov-requirements.txt says why it cannot share .venv); without it these tests skip, saying how
to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.deploy import manifests
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(300)

SKIPS_FILE = REPO_ROOT / "deploy" / "checkov-skips.yaml"
PIN_FILE = REPO_ROOT / "deploy" / "checkov-requirements.txt"
DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))


@dataclass(frozen=True)
class Finding:
    check_id: str
    file: str
    resource: str
    name: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.file} {self.resource}: {self.name}"


def checkov_binary() -> Path | None:
    for candidate in (os.environ.get("CHECKOV"), Path(sys.prefix) / "checkov" / "bin" / "checkov"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    found = shutil.which("checkov")
    return Path(found) if found else None


def pinned_version() -> str:
    pins = [line.split("==")[1].strip() for line in PIN_FILE.read_text().splitlines() if line.startswith("checkov==")]
    assert len(pins) == 1, f"{PIN_FILE} pins no checkov version"
    return pins[0]


def _render_name(path: Path) -> str:
    if path.is_file():
        return path.name
    return "kserve.yaml" if path == manifests.KSERVE_DIR else f"overlay-{path.name}.yaml"


BROKEN = "broken-on-purpose.yaml"


def broken_deployment() -> dict:
    """Triton's Deployment broken on purpose: privileged, writable root, a mounted token, no resources."""
    objects = manifests.load(manifests.OVERLAYS[0])
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "triton")
    pod = deployment["spec"]["template"]["spec"]
    pod.pop("automountServiceAccountToken")
    container = pod["containers"][0]
    container["securityContext"] = {"privileged": True}
    container.pop("resources")
    return deployment


def write_inputs(directory: Path) -> list[str]:
    """Every render, hand-applied manifest and Dockerfile as a file of ``directory``, and the broken
    manifest (checked apart, in the same checkov run); their names."""
    for path in [*manifests.KUSTOMIZATIONS, *manifests.HAND_APPLIED]:
        (directory / _render_name(path)).write_text(manifests.render_text(path))
    for dockerfile in DOCKERFILES:
        shutil.copy(dockerfile, directory / dockerfile.name)
    (directory / BROKEN).write_text(yaml.safe_dump(broken_deployment()))
    return sorted(p.name for p in directory.iterdir())


def run_checkov(binary: Path, directory: Path) -> tuple[list[Finding], dict[str, dict], float]:
    started = time.perf_counter()
    result = subprocess.run(
        [str(binary), "-d", str(directory), "--framework", "kubernetes", "dockerfile", "-o", "json", "--compact"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_ON_SUCCESS": "false"},
    )
    elapsed = time.perf_counter() - started
    assert result.returncode in (0, 1), f"checkov failed to run ({result.returncode}):\n{result.stderr[-3000:]}"
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    findings = [
        Finding(f["check_id"], f["file_path"].lstrip("/"), f["resource"], f["check_name"])
        for report in reports
        for f in report["results"]["failed_checks"]
    ]
    summaries = {report["check_type"]: report["summary"] for report in reports}
    return findings, summaries, elapsed


def load_skips() -> list[dict]:
    skips = yaml.safe_load(SKIPS_FILE.read_text())["skips"]
    for skip in skips:
        assert set(skip) <= {"id", "reason", "where"}, skip
        assert skip.get("reason", "").strip(), f"{skip['id']}: a skipped check says why"
    return skips


def covers(skip: dict, finding: Finding) -> bool:
    if skip["id"] != finding.check_id:
        return False
    where = skip.get("where")
    return not where or any(w in finding.file or w in finding.resource for w in where)


def unaccepted(findings: list[Finding], skips: list[dict]) -> list[Finding]:
    return [f for f in findings if not any(covers(s, f) for s in skips)]


def unused(findings: list[Finding], skips: list[dict]) -> list[str]:
    return [s["id"] for s in skips if not any(covers(s, f) for f in findings)]


Scan = tuple[list[Finding], dict[str, dict], list[str]]


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    binary = checkov_binary()
    if binary is None:
        pytest.skip(f"checkov is not installed: see {PIN_FILE.relative_to(REPO_ROOT)}")
    directory = tmp_path_factory.mktemp("checkov")
    names = write_inputs(directory)
    findings, summaries, elapsed = run_checkov(binary, directory)
    print(f"checkov over {len(names)} files: {elapsed:.1f} s")
    return findings, summaries, names


def _shipped(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.file != BROKEN]


def test_checkov_is_the_pinned_version(scan: Scan) -> None:
    _, summaries, _ = scan
    assert {summary["checkov_version"] for summary in summaries.values()} == {pinned_version()}


def test_checkov_scanned_every_render_and_dockerfile(scan: Scan) -> None:
    _, summaries, names = scan
    assert {"kserve.yaml", "gateway.Dockerfile", "export.Dockerfile"} <= set(names)
    assert {f"overlay-{p.name}.yaml" for p in manifests.OVERLAYS} <= set(names)
    assert summaries["kubernetes"]["parsing_errors"] == 0 and summaries["kubernetes"]["resource_count"] > 0
    assert summaries["dockerfile"]["parsing_errors"] == 0 and summaries["dockerfile"]["resource_count"] == len(
        DOCKERFILES
    )


def test_checkov_finds_nothing_that_the_skip_list_does_not_explain(scan: Scan) -> None:
    findings, _, _ = scan
    left = unaccepted(_shipped(findings), load_skips())
    assert not left, "checkov findings not in deploy/checkov-skips.yaml:\n" + "\n".join(map(str, left))


def test_every_skip_still_matches_a_finding(scan: Scan) -> None:
    findings, _, _ = scan
    assert unused(_shipped(findings), load_skips()) == [], "entries of deploy/checkov-skips.yaml that match no finding"


def test_a_new_finding_fails(scan: Scan) -> None:
    """The manifest broken on purpose gets findings the skip list does not cover."""
    findings, _, _ = scan
    new = {f.check_id for f in unaccepted([f for f in findings if f.file == BROKEN], load_skips())}
    assert {"CKV_K8S_16", "CKV_K8S_22", "CKV_K8S_38", "CKV_K8S_11"} <= new, new


def test_the_skip_list_scopes_by_file_and_resource() -> None:
    skip = {"id": "CKV_K8S_40", "reason": "r", "where": ["triton"]}
    assert covers(skip, Finding("CKV_K8S_40", "overlay-cpu.yaml", "Deployment.segmentation.triton", ""))
    assert not covers(skip, Finding("CKV_K8S_40", "overlay-cpu.yaml", "Deployment.segmentation.gateway", ""))
    assert not covers(skip, Finding("CKV_K8S_41", "overlay-cpu.yaml", "Deployment.segmentation.triton", ""))
