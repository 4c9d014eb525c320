"""/docs and /redoc render their operations in headless Chromium with every non-loopback host unreachable.

Swagger UI and ReDoc come from the gateway itself (the fastapi-offline package's files), so API docs work on
machines without internet. Chromium's resolver is told that every host but 127.0.0.1 does not exist, so a
page that still loaded a script from a CDN would render nothing and fail here even on a machine with internet.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.timeout(300)

NO_NETWORK_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--virtual-time-budget=30000",
)
OPERATIONS = ("/infer/file", "/infer/url", "/infer/files", "/models")


def rendered_dom(url: str, tmp_path) -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: run `make system-deps` (Debian package chromium)")
    result = subprocess.run(
        [binary, *NO_NETWORK_FLAGS, f"--user-data-dir={tmp_path}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_swagger_ui_renders_every_operation_without_network(stack, tmp_path) -> None:
    dom = rendered_dom(f"{stack.gateway_url}/docs", tmp_path)
    assert "opblock" in dom, "Swagger UI did not render (its script could not load?)\n" + dom[:1500]
    for operation in OPERATIONS:
        assert f'data-path="{operation}"' in dom, f"operation {operation} not rendered"


def test_redoc_renders_the_operations_without_network(stack, tmp_path) -> None:
    dom = rendered_dom(f"{stack.gateway_url}/redoc", tmp_path)
    # Summaries come from /openapi.json: they are in the page only once ReDoc's script ran.
    for summary in ("Served models, backends, labels and weights", "Readiness: Triton and every model can serve"):
        assert summary in dom, f"ReDoc did not render {summary!r}\n" + dom[:1500]
