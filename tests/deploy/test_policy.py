"""Policies over the rendered manifests: what a cluster would only reveal at run time, checked here."""

from __future__ import annotations

import re
import shlex
from urllib.parse import urlparse

import pytest
import yaml

from gateway.core.config import Settings
from tests.deploy import manifests
from tests.deploy.manifests import find, one
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(120)

K8S = manifests.OVERLAYS
ALL = manifests.KUSTOMIZATIONS
_ids = lambda p: str(p.relative_to(REPO_ROOT))  # noqa: E731
TRITON_PORTS = {8000, 8001, 8002}


def _compose() -> dict:
    class ComposeLoader(yaml.SafeLoader):
        pass

    ComposeLoader.add_constructor("!reset", lambda _loader, _node: None)
    return yaml.load((REPO_ROOT / "docker-compose.yml").read_text(), Loader=ComposeLoader)


def _pod_templates(objects: list[dict]) -> list[tuple[str, dict]]:
    """(owner, pod spec-with-metadata) of every Deployment; KServe objects are handled apart."""
    return [(manifests.name_of(o), o["spec"]["template"]) for o in find(objects, "Deployment")]


def _pod_templates_by_owner(objects: list[dict]) -> dict[str, dict]:
    return dict(_pod_templates(objects))


def _containers(objects: list[dict]) -> list[tuple[str, dict, dict]]:
    """(owner, container, pod-level securityContext) of every container the manifests run."""
    found = []
    for owner, template in _pod_templates(objects):
        spec = template["spec"]
        for c in spec.get("initContainers", []) + spec["containers"]:
            found.append((owner, c, spec.get("securityContext", {})))
    for runtime in find(objects, "ServingRuntime"):
        for c in runtime["spec"]["containers"]:
            found.append((manifests.name_of(runtime), c, {}))
    for isvc in find(objects, "InferenceService"):
        for part in ("predictor", "transformer"):
            spec = isvc["spec"].get(part, {})
            for c in spec.get("containers", []):
                found.append((f"{manifests.name_of(isvc)}.{part}", c, spec.get("securityContext", {})))
    return found


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _triton(objects):
    return one(objects, "Deployment", "triton")["spec"]["template"]["spec"]["containers"][0]


def _gateway_pod(objects):
    return one(objects, "Deployment", "gateway")["spec"]["template"]


# --- selectors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", K8S, ids=_ids)
def test_deployment_selectors_match_their_pod_labels(path) -> None:
    for deployment in find(manifests.render(path), "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert _selects(selector, deployment["spec"]["template"]["metadata"]["labels"]), manifests.name_of(deployment)


@pytest.mark.parametrize("path", K8S, ids=_ids)
def test_services_and_pdbs_select_pods_and_name_their_ports(path) -> None:
    objects = manifests.render(path)
    templates = [t for _, t in _pod_templates(objects)]
    for service in find(objects, "Service"):
        pods = [t for t in templates if _selects(service["spec"]["selector"], t["metadata"]["labels"])]
        assert pods, f"{manifests.name_of(service)} selects no pod"
        port_names = {p["name"] for t in pods for c in t["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"{manifests.name_of(service)}: no container port {port}"
    for pdb in find(objects, "PodDisruptionBudget"):
        assert any(_selects(pdb["spec"]["selector"]["matchLabels"], t["metadata"]["labels"]) for t in templates)


@pytest.mark.parametrize("path", K8S, ids=_ids)
def test_monitors_and_autoscalers_point_at_existing_objects(path) -> None:
    objects = manifests.render(path)
    for monitor in find(objects, "ServiceMonitor"):
        services = [
            s
            for s in find(objects, "Service")
            if _selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert services, f"{manifests.name_of(monitor)} selects no Service"
        names = {p["name"] for s in services for p in s["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= names
    for scaler in find(objects, "HorizontalPodAutoscaler") + find(objects, "ScaledObject"):
        target = scaler["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        one(objects, "Deployment", target["name"])


def test_monitoring_scrapes_triton_metrics_and_gateway_metrics() -> None:
    objects = manifests.render(manifests.K8S_DIR / "overlays" / "production")
    triton = one(objects, "ServiceMonitor", "triton")["spec"]["endpoints"]
    gateway = one(objects, "ServiceMonitor", "gateway")["spec"]["endpoints"]
    service_port = {p["name"]: p["port"] for p in one(objects, "Service", "triton")["spec"]["ports"]}
    assert [service_port[e["port"]] for e in triton] == [8002]
    assert [e["path"] for e in gateway] == ["/metrics"]
    rules = [r for g in one(objects, "PrometheusRule", "segmentation")["spec"]["groups"] for r in g["rules"]]
    ratio = next(r for r in rules if r.get("record") == "pod:triton_queue_to_compute_ratio:rate1m")
    assert "by (namespace, pod)" in ratio["expr"]
    assert (
        "nv_inference_queue_duration_us" in ratio["expr"] and "nv_inference_compute_infer_duration_us" in ratio["expr"]
    )


def test_triton_autoscaling_follows_its_queue_and_the_gateway_its_cpu() -> None:
    objects = manifests.render(manifests.K8S_DIR / "overlays" / "production")
    scaled = one(objects, "ScaledObject", "triton")["spec"]
    queries = " ".join(t["metadata"]["query"] for t in scaled["triggers"])
    assert "nv_inference_pending_request_count" in queries and "nv_inference_queue_duration_us" in queries
    assert scaled["minReplicaCount"] >= 2
    hpa = one(objects, "HorizontalPodAutoscaler", "gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["minReplicas"] >= 2


# --- Triton ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", K8S, ids=_ids)
def test_triton_service_is_headless_with_its_three_ports(path) -> None:
    service = one(manifests.render(path), "Service", "triton")
    assert service["spec"]["clusterIP"] == "None"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": 8000, "grpc": 8001, "metrics": 8002}


@pytest.mark.parametrize("path", K8S, ids=_ids)
def test_gateway_targets_the_headless_service_on_tritons_grpc_container_port(path) -> None:
    objects = manifests.render(path)
    env = _env(_gateway_pod(objects)["spec"]["containers"][0])
    url = env["GATEWAY_TRITON_URL"]["value"]
    match = re.fullmatch(r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", url)
    assert match, url
    service = one(objects, "Service", match[1])
    assert service["metadata"]["namespace"] == match[2]
    assert service["spec"]["clusterIP"] == "None"
    port = next(p for p in service["spec"]["ports"] if p["port"] == int(match[3]))
    container_ports = {p["name"]: p["containerPort"] for p in _triton(objects)["ports"]}
    assert container_ports[port["targetPort"]] == 8001 and port["targetPort"] == "grpc"
    assert "--grpc-port" not in " ".join(_triton(objects)["args"])  # Triton's default gRPC port 8001
    assert env["GATEWAY_TRITON_LB_POLICY"]["value"] == "round_robin"


@pytest.mark.parametrize("path", K8S, ids=_ids)
def test_triton_flags_probes_and_shm(path) -> None:
    objects = manifests.render(path)
    triton = _triton(objects)
    args = triton["args"]
    assert triton["command"] == ["tritonserver"]
    assert "--strict-readiness=true" in args
    age = {a.split("=")[0]: int(a.split("=")[1]) for a in args if a.startswith("--grpc-max-connection-age")}
    assert set(age) == {"--grpc-max-connection-age", "--grpc-max-connection-age-grace"} and all(age.values())
    assert "--model-repository=$(MODEL_REPOSITORY)" in args and "MODEL_REPOSITORY" in _env(triton)
    assert triton["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    startup = triton["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "model loading needs minutes"
    pod = one(objects, "Deployment", "triton")["spec"]["template"]["spec"]
    shm = next(m for m in triton["volumeMounts"] if m["mountPath"] == "/dev/shm")
    volume = next(v for v in pod["volumes"] if v["name"] == shm["name"])
    assert volume["emptyDir"]["medium"] == "Memory"


def test_gpu_overlays_ask_for_a_gpu_and_cpu_does_not() -> None:
    for name, gpus in (("cpu", None), ("gpu", "1"), ("s3", "1"), ("production", "1")):
        resources = _triton(manifests.render(manifests.K8S_DIR / "overlays" / name))["resources"]
        assert resources["limits"].get("nvidia.com/gpu") == gpus, name


def test_model_sources_pvc_and_s3() -> None:
    pvc_objects = manifests.render(manifests.K8S_DIR / "overlays" / "gpu")
    triton = _triton(pvc_objects)
    assert _env(triton)["MODEL_REPOSITORY"]["value"] == "/models"
    mount = next(m for m in triton["volumeMounts"] if m["mountPath"] == "/models")
    assert mount["readOnly"] is True
    volume = next(
        v
        for v in one(pvc_objects, "Deployment", "triton")["spec"]["template"]["spec"]["volumes"]
        if v["name"] == mount["name"]
    )
    one(pvc_objects, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])

    s3_objects = manifests.render(manifests.K8S_DIR / "overlays" / "s3")
    env = _env(_triton(s3_objects))
    source = one(s3_objects, "ConfigMap", env["MODEL_REPOSITORY"]["valueFrom"]["configMapKeyRef"]["name"])
    assert source["data"]["MODEL_REPOSITORY"].startswith("s3://")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"]["secretKeyRef"]["name"] == "triton-s3-credentials", key
    assert not any(m["mountPath"] == "/models" for m in _triton(s3_objects).get("volumeMounts", []))


@pytest.mark.parametrize("path", ALL, ids=_ids)
def test_no_secret_in_the_manifests(path) -> None:
    objects = manifests.render(path)
    assert not find(objects, "Secret")
    for owner, container, _ in _containers(objects):
        for name, entry in _env(container).items():
            if re.search(r"KEY|SECRET|PASSWORD|TOKEN", name):
                assert "value" not in entry and "secretKeyRef" in entry.get("valueFrom", {}), f"{owner}: {name}"


@pytest.mark.parametrize("path", K8S, ids=_ids)
def test_only_gateway_pods_reach_tritons_inference_ports(path) -> None:
    objects = manifests.render(path)
    triton_labels = _pod_templates_by_owner(objects)["Deployment/triton"]["metadata"]["labels"]
    gateway_labels = _gateway_pod(objects)["metadata"]["labels"]
    policies = [
        p for p in find(objects, "NetworkPolicy") if _selects(p["spec"]["podSelector"]["matchLabels"], triton_labels)
    ]
    assert len(policies) == 1 and policies[0]["spec"]["policyTypes"] == ["Ingress"]
    for rule in policies[0]["spec"]["ingress"]:
        ports = {p["port"] for p in rule["ports"]}
        if ports & {"http", "grpc", 8000, 8001}:
            sources = rule.get("from", [])
            assert sources and all(set(s) == {"podSelector"} for s in sources), rule
            assert all(_selects(s["podSelector"]["matchLabels"], gateway_labels) for s in sources), rule
        else:
            assert ports == {"metrics"}, rule


# --- gateway ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", K8S, ids=_ids)
def test_gateway_probes_pdb_and_drain(path) -> None:
    objects = manifests.render(path)
    deployment = one(objects, "Deployment", "gateway")
    pod = deployment["spec"]["template"]["spec"]
    gateway = pod["containers"][0]
    # its own readiness: a gateway without Triton stays in the Service and answers 503 (docs/scaling.md)
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/healthcheck"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthcheck"
    env = _env(gateway)
    drain = float(env["GATEWAY_DRAIN_SETTLE_S"]["value"]) + float(env["GATEWAY_DRAIN_TIMEOUT_S"]["value"])
    assert drain < pod["terminationGracePeriodSeconds"] == 40
    pdb = one(objects, "PodDisruptionBudget", "gateway")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert "model-repository" not in {v["name"] for v in pod.get("volumes", [])}
    assert not any(m["mountPath"] == "/models" for m in gateway.get("volumeMounts", []))


@pytest.mark.parametrize("path", ALL, ids=_ids)
def test_no_triton_port_leaves_the_cluster(path) -> None:
    objects = manifests.render(path)
    triton_labels = [t["metadata"]["labels"] for owner, t in _pod_templates(objects) if owner == "Deployment/triton"]
    assert not find(objects, "Ingress") and not find(objects, "Route") and not find(objects, "HTTPRoute")
    for service in find(objects, "Service"):
        spec = service["spec"]
        exposed = spec.get("type", "ClusterIP") in ("LoadBalancer", "NodePort") or spec.get("externalIPs")
        if not exposed:
            continue
        selects_triton = any(_selects(spec.get("selector", {}), labels) for labels in triton_labels)
        assert not selects_triton, f"{manifests.name_of(service)} exposes Triton"
        assert not TRITON_PORTS & {p.get("targetPort") for p in spec["ports"]}, manifests.name_of(service)
    gateway = find(objects, "Service", "gateway")
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in gateway)


# --- everything that runs --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL, ids=_ids)
def test_every_container_has_resources_and_runs_as_non_root(path) -> None:
    containers = _containers(manifests.render(path))
    assert containers
    for owner, container, pod_security in containers:
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{owner}/{container['name']}: {kind}"
        security = {**pod_security, **container.get("securityContext", {})}
        assert security.get("runAsNonRoot") is True, f"{owner}/{container['name']}"
        assert security.get("runAsUser", 1) != 0
        assert security.get("allowPrivilegeEscalation") is False, f"{owner}/{container['name']}"
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def _without_registry(image: str) -> str:
    """segmentation-gateway:1.0.0 for ghcr.io/your-org/segmentation-gateway:1.0.0 (compose builds it locally)."""
    return image.rsplit("/", 1)[-1]


@pytest.mark.parametrize("path", ALL, ids=_ids)
def test_images_are_composes(path) -> None:
    compose = _compose()["services"]
    images = {c["image"] for _, c, _ in _containers(manifests.render(path))}
    # compose builds both images locally (docker/triton.Dockerfile: NGC's Triton plus Pillow; the gateway's)
    assert {_without_registry(i) for i in images} == {compose["triton"]["image"], compose["gateway"]["image"]}


# --- KServe ----------------------------------------------------------------------------------------------


def test_kserve_triton_predictor_and_gateway_transformer() -> None:
    objects = manifests.render(manifests.KSERVE_DIR)
    isvc = one(objects, "InferenceService", "deeplabv3")
    assert isvc["metadata"]["name"] == Settings.model_fields["default_family"].default
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] in ("Standard", "RawDeployment")
    model = isvc["spec"]["predictor"]["model"]
    runtime = one(objects, "ServingRuntime", model["runtime"])["spec"]
    assert model["modelFormat"]["name"] == "triton"
    assert model["modelFormat"]["name"] in {f["name"] for f in runtime["supportedModelFormats"]}
    assert model["protocolVersion"] == "grpc-v2" and "grpc-v2" in runtime["protocolVersions"]
    assert urlparse(model["storageUri"]).scheme in ("s3", "pvc", "gs", "https")

    triton = runtime["containers"][0]
    assert _without_registry(triton["image"]) == _compose()["services"]["triton"]["image"]
    args = triton["args"]
    assert "--model-repository=/mnt/models" in args and "--strict-readiness=true" in args
    assert "--grpc-port=8001" in args
    ports = triton["ports"]
    # Standard mode: the predictor Service maps 80 to the first port and keeps the others' numbers,
    # so the gateway's dns:///<predictor_host>:8001 reaches gRPC.
    assert ports[0]["containerPort"] != 8001
    grpc = next(p for p in ports if p["containerPort"] == 8001)
    assert "grpc" in grpc["name"] or "h2c" in grpc["name"]
    assert any(m["mountPath"] == "/dev/shm" for m in triton["volumeMounts"])
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"

    transformer = isvc["spec"]["transformer"]
    gateway = transformer["containers"][0]
    assert gateway["command"] == ["python", "-m", "gateway"]  # args alone would replace the image's CMD
    given = shlex.join(gateway.get("args", []))
    for argument in ("--model_name", "--predictor_host", "--http_port"):
        assert argument not in given, f"KServe appends {argument} itself"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/healthcheck"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthcheck"
    assert transformer["minReplicas"] >= 2 and transformer["terminationGracePeriodSeconds"] == 40
    assert "GATEWAY_TRITON_URL" not in _env(gateway)  # from --predictor_host


def test_monitoring_ships_the_one_grafana_dashboard_for_grafanas_sidecar() -> None:
    objects = manifests.render(manifests.K8S_DIR / "overlays" / "production")
    dashboard = manifests.one(objects, "ConfigMap", "segmentation-grafana-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "segmentation"
    source = REPO_ROOT / "monitoring" / "grafana" / "dashboards" / "segmentation.json"
    assert dashboard["data"]["segmentation.json"] == source.read_text()  # the same file compose mounts
