"""The Grafana dashboard and the Prometheus scrape config of monitoring/ are valid and read real metrics.

Every metric name the dashboard's PromQL uses must be exposed by the real Triton (`/metrics` on its metrics
port) or the real gateway (`/metrics`) of the session stack, scraped after an inference; a name that neither
exposes would be an empty panel in production.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
import yaml

from tests.monitoring.promql import metric_names
from tests.serving.test_compose import load_compose
from tests.support.paths import REPO_ROOT, shared_image

MONITORING = REPO_ROOT / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "segmentation.json"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"

pytestmark = pytest.mark.timeout(300)


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    panels += [inner for panel in panels for inner in panel.get("panels", [])]  # collapsed rows
    return [target["expr"] for panel in panels for target in panel.get("targets", []) if target.get("expr")]


def dashboard_metric_names() -> set[str]:
    names = {name for expr in dashboard_expressions() for name in metric_names(expr)}
    variables = json.loads(DASHBOARD.read_text())["templating"]["list"]
    for variable in variables:
        if variable["type"] == "query":
            names |= metric_names(variable["definition"].removeprefix("label_values(").rsplit(",", 1)[0])
    return names


def exposed_names(metrics_text: str) -> set[str]:
    return {
        line.split("{", 1)[0].split(" ", 1)[0]
        for line in metrics_text.splitlines()
        if line and not line.startswith("#")
    }


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            'sum by (family, backend) (rate(gateway_requests_total{endpoint=~"/infer.*", job=~"$j"}'
            "[$__rate_interval]))",
            {"gateway_requests_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le) (rate(a_bucket[5m]))) / 1e6 / ignoring(x) group_left b",
            {"a_bucket", "b"},
        ),
        ('rate(x{le="+Inf", name="sum by (y)"}[1m] offset 5m) and on(instance) up', {"x", "up"}),
        ("sum(rate(c[1m:10s]))", {"c"}),
    ],
)
def test_parser_finds_metric_names_and_nothing_else(expression: str, expected: set[str]) -> None:
    assert metric_names(expression) == expected


def test_dashboard_is_grafana_json_with_queries_on_the_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"]), "panel ids must be unique"
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
    expressions = dashboard_expressions()
    assert len(expressions) >= len(panels)
    # The gateway's request metrics are broken down by model family, backend, response format and status.
    grouped = {
        label.strip()
        for expr in expressions
        if "gateway_request" in expr
        for labels in re.findall(r"\bby \(([^)]*)\)", expr)
        for label in labels.split(",")
    }
    assert {"family", "backend", "response_format", "status"} <= grouped, grouped


def test_dashboard_reads_both_servers() -> None:
    names = dashboard_metric_names()
    assert any(name.startswith("gateway_") for name in names), names
    assert any(name.startswith("nv_") for name in names), names


def test_prometheus_scrapes_triton_and_gateway_as_compose_names_them() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]] for job in config["scrape_configs"]
    }
    services = load_compose("docker-compose.yml")["services"]
    assert targets == {"triton": ["triton:8002"], "gateway": ["gateway:8080"]}
    # published ports end with HOST_PORT:CONTAINER_PORT (Triton's are bound to an address: 127.0.0.1 by default)
    assert any(port.endswith("8002:8002") for port in services["triton"]["ports"])
    assert "8080:8080" in services["gateway"]["ports"]
    dashboard = DASHBOARD.read_text()
    assert "$triton_job" in dashboard and "$gateway_job" in dashboard
    defaults = {v["name"]: v["query"] for v in json.loads(dashboard)["templating"]["list"] if v["type"] == "custom"}
    assert defaults == {"gateway_job": "gateway", "triton_job": "triton"}, "job names as in prometheus.yml"


def test_monitoring_profile_mounts_existing_provisioning_files() -> None:
    services = load_compose("docker-compose.yml")["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
        for volume in services[name]["volumes"]:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).exists(), f"{name}: {source}"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    provider = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/segmentation.yml").read_text())
    assert home == provider["providers"][0]["options"]["path"] + "/" + DASHBOARD.name
    datasource = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_every_metric_the_dashboard_queries_is_exposed_by_the_real_stack(stack) -> None:
    with shared_image("dog2.jpg").open("rb") as photo:
        answer = httpx.post(
            f"{stack.gateway_url}/infer/file",
            files={"file": ("dog2.jpg", photo, "image/jpeg")},
            data={"infer_model_type": "onnx", "response_format": "summary"},
            timeout=120,
            trust_env=False,
        )
    assert answer.status_code == 200, answer.text
    gateway = httpx.get(f"{stack.gateway_url}/metrics", timeout=10, trust_env=False)
    triton = httpx.get(f"{stack.triton_metrics_url}/metrics", timeout=10, trust_env=False)
    assert gateway.status_code == 200 and triton.status_code == 200
    exposed = exposed_names(gateway.text) | exposed_names(triton.text)

    wanted = dashboard_metric_names()
    assert len(wanted) >= 10, f"the parser found too few names: {sorted(wanted)}"
    assert sorted(wanted - exposed) == [], f"exposed: {sorted(exposed)}"
    # The labelled sample of this request is there: family, backend and response format.
    assert any(
        line.startswith("gateway_requests_total{")
        and 'family="deeplabv3"' in line
        and 'backend="onnx"' in line
        and 'response_format="summary"' in line
        and 'endpoint="/infer/file"' in line
        and 'status="200"' in line
        for line in gateway.text.splitlines()
    ), gateway.text
