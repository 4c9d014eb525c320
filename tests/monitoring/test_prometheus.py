"""The scrape config and the dashboard's queries on a real Prometheus (Debian's `prometheus` package).

`promtool` checks monitoring/prometheus/prometheus.yml; then a Prometheus on loopback scrapes the session
stack's Triton and gateway every second under the job names of that file, and every PromQL expression of
the dashboard (Grafana variables replaced by their defaults) must evaluate, and return series unless it
only counts errors. Skipped where the package is not installed (`make system-deps` installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.monitoring.test_dashboard import PROMETHEUS_CONFIG, dashboard_expressions
from tests.support.paths import shared_image
from tests.support.ports import free_ports

pytestmark = pytest.mark.timeout(300)

SCRAPE_INTERVAL_S = 1
# Grafana's variables as the dashboard's defaults (and Grafana's minimal $__rate_interval) resolve them.
VARIABLES = {"$__rate_interval": "30s", "$gateway_job": "gateway", "$triton_job": "triton", "$family": ".*"}
ERROR_ONLY = ('status=~"5..', 'status=~"4..')


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install --no-install-recommends prometheus)")
    return path


def test_promtool_accepts_the_scrape_config() -> None:
    result = subprocess.run(
        [binary("promtool"), "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def prometheus(stack, tmp_path: Path) -> Iterator[str]:
    """A Prometheus scraping the session stack with the jobs of monitoring/prometheus/prometheus.yml."""
    executable = binary("prometheus")
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    local = {"triton": stack.triton_metrics_url, "gateway": stack.gateway_url}
    config["global"]["scrape_interval"] = f"{SCRAPE_INTERVAL_S}s"
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [local[job["job_name"]].removeprefix("http://")]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_ports(1)[0]
    log = tmp_path / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                executable,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def query(url: str, expression: str) -> dict:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expression}, timeout=10, trust_env=False)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{expression}\n{response.text}"
    return body["data"]


def wait_until_scraped(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            up = {r["metric"]["job"]: r["value"][1] for r in query(url, "up")["result"]}
        except (httpx.HTTPError, ValueError):
            up = {}
        if up == {"triton": "1", "gateway": "1"}:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus did not scrape both targets within {timeout_s:.0f} s: up = {up}")
        time.sleep(0.5)


def test_every_dashboard_query_evaluates_on_the_real_metrics(stack, prometheus: str) -> None:
    wait_until_scraped(prometheus)
    for _ in range(2):  # two scrapes apart, so rates see the counters move
        with shared_image("dog2.jpg").open("rb") as photo:
            answer = httpx.post(
                f"{stack.gateway_url}/infer/file",
                files={"file": ("dog2.jpg", photo, "image/jpeg")},
                data={"infer_model_type": "onnx", "response_format": "summary"},
                timeout=120,
                trust_env=False,
            )
        assert answer.status_code == 200, answer.text
        time.sleep(3 * SCRAPE_INTERVAL_S)

    expressions = dashboard_expressions()
    assert expressions
    empty = []
    for expression in expressions:
        for variable, value in VARIABLES.items():
            expression = expression.replace(variable, value)
        assert "$" not in expression, f"a Grafana variable the test does not know: {expression}"
        if not query(prometheus, expression)["result"] and not any(marker in expression for marker in ERROR_ONLY):
            empty.append(expression)
    assert empty == [], "queries without any series on a stack that just served requests"

    by_family = query(
        prometheus,
        "sum by (family, backend, response_format) "
        '(increase(gateway_requests_total{job="gateway", endpoint="/infer/file"}[1m]))',
    )
    assert any(
        r["metric"] == {"family": "deeplabv3", "backend": "onnx", "response_format": "summary"}
        and float(r["value"][1]) > 0
        for r in by_family["result"]
    ), by_family
