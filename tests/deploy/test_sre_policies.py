"""Issue 22's policies (tests/deploy/policies.py) over every render and hand-applied manifest, and each policy
shown to fail on a manifest broken on purpose."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy import manifests
from tests.deploy import policies as p
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(120)

RENDERS = [*manifests.KUSTOMIZATIONS, *manifests.HAND_APPLIED]
OVERLAY = {path.name: path for path in manifests.OVERLAYS}
KSERVE = manifests.KSERVE_DIR
FILL_POD = manifests.HAND_APPLIED[0]
_ids = lambda path: str(path.relative_to(REPO_ROOT))  # noqa: E731


def _applies(name: str, path: Path) -> bool:
    # a hand-applied manifest goes into a namespace a kustomization made
    return not (name == "namespaces" and path in manifests.HAND_APPLIED)


@pytest.mark.parametrize("path", RENDERS, ids=_ids)
@pytest.mark.parametrize("name", sorted(p.CHECKS))
def test_policy_holds(name: str, path: Path) -> None:
    if not _applies(name, path):
        pytest.skip(f"{name} does not apply to a hand-applied manifest")
    assert p.CHECKS[name](manifests.load(path)) == []


# --- each policy fails on a broken manifest --------------------------------------------------------------


def _deployment(objects: p.Objects, name: str) -> dict:
    return next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name)


def _pod(objects: p.Objects, name: str) -> dict:
    return _deployment(objects, name)["spec"]["template"]["spec"]


def _container(objects: p.Objects, name: str) -> dict:
    return _pod(objects, name)["containers"][0]


def _kind(objects: p.Objects, kind: str, name: str | None = None) -> dict:
    return next(o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name))


def _drop(objects: p.Objects, kind: str, name: str) -> None:
    objects.remove(_kind(objects, kind, name))


def _isvc(objects: p.Objects) -> dict:
    return _kind(objects, "InferenceService")["spec"]


def _set_env(container: dict, name: str, **entry: object) -> None:
    container["env"] = [e for e in container.get("env", []) if e["name"] != name] + [{"name": name, **entry}]


def _triton_ingress(objects: p.Objects) -> list[dict]:
    return _kind(objects, "NetworkPolicy", "triton")["spec"]["ingress"]


Mutation = Callable[[p.Objects], object]
BROKEN: list[tuple[str, str, Path, Mutation]] = [
    # 1. availability
    ("pdbs", "no Triton PDB", OVERLAY["gpu"], lambda o: _drop(o, "PodDisruptionBudget", "triton")),
    (
        "pdbs",
        "gateway PDB minAvailable 1",
        OVERLAY["production"],
        lambda o: _kind(o, "PodDisruptionBudget", "gateway").update(
            spec={**_kind(o, "PodDisruptionBudget", "gateway")["spec"], "minAvailable": 1}
        ),
    ),
    ("pdbs", "no predictor PDB", KSERVE, lambda o: _drop(o, "PodDisruptionBudget", "deeplabv3-predictor")),
    (
        "spread",
        "Triton without spread or anti-affinity",
        OVERLAY["cpu"],
        lambda o: [_pod(o, "triton").pop(k) for k in ("topologySpreadConstraints", "affinity")],
    ),
    (
        "spread",
        "gateway spread on zones only",
        OVERLAY["production"],
        lambda o: [
            _pod(o, "gateway").pop("affinity"),
            _pod(o, "gateway").update(topologySpreadConstraints=_pod(o, "gateway")["topologySpreadConstraints"][1:]),
        ],
    ),
    ("spread", "predictor without spread", KSERVE, lambda o: _isvc(o)["predictor"].pop("topologySpreadConstraints")),
    # 2. autoscalers own the replica counts
    (
        "replicas",
        "replicas under KEDA",
        OVERLAY["production"],
        lambda o: _deployment(o, "triton")["spec"].update(replicas=2),
    ),
    (
        "replicas",
        "replicas under the CPU HPA",
        OVERLAY["cpu"],
        lambda o: _deployment(o, "gateway")["spec"].update(replicas=2),
    ),
    (
        "replicas",
        "no autoscaler, no replicas",
        OVERLAY["gpu"],
        lambda o: _deployment(o, "triton")["spec"].pop("replicas"),
    ),
    # 3. KEDA and Prometheus
    (
        "keda",
        "fallback without behavior",
        OVERLAY["production"],
        lambda o: _kind(o, "ScaledObject")["spec"]["fallback"].pop("behavior"),
    ),
    (
        "keda",
        "cooldownPeriod",
        OVERLAY["production"],
        lambda o: _kind(o, "ScaledObject")["spec"].update(cooldownPeriod=300),
    ),
    (
        "keda",
        "ignoreNullValues default",
        OVERLAY["production"],
        lambda o: _kind(o, "ScaledObject")["spec"]["triggers"][0]["metadata"].pop("ignoreNullValues"),
    ),
    (
        "keda",
        "a Value trigger, which KEDA's fallback does not cover",
        OVERLAY["production"],
        lambda o: _kind(o, "ScaledObject")["spec"]["triggers"][1].update(metricType="Value"),
    ),
    (
        "monitors_selected",
        "ServiceMonitor without release label",
        OVERLAY["production"],
        lambda o: _kind(o, "ServiceMonitor", "triton")["metadata"]["labels"].pop("release"),
    ),
    (
        "monitors_selected",
        "PodMonitor without release label",
        KSERVE,
        lambda o: _kind(o, "PodMonitor")["metadata"].pop("labels"),
    ),
    # 4. rollouts
    (
        "rollout",
        "GPU pods surge",
        OVERLAY["gpu"],
        lambda o: _deployment(o, "triton")["spec"]["strategy"].update(
            rollingUpdate={"maxSurge": 1, "maxUnavailable": 0}
        ),
    ),
    # 5. threads and QoS
    ("threads_and_qos", "no OMP_NUM_THREADS", OVERLAY["cpu"], lambda o: _container(o, "triton").pop("env")),
    (
        "threads_and_qos",
        "OMP_NUM_THREADS 64",
        OVERLAY["gpu"],
        lambda o: _set_env(_container(o, "triton"), "OMP_NUM_THREADS", value="64"),
    ),
    (
        "threads_and_qos",
        "GPU memory request below limit",
        OVERLAY["production"],
        lambda o: _container(o, "triton")["resources"]["requests"].update(memory="8Gi"),
    ),
    (
        "threads_and_qos",
        "predictor Burstable",
        KSERVE,
        lambda o: _isvc(o)["predictor"]["model"]["resources"]["requests"].update(cpu="4"),
    ),
    # 6. hardening
    ("hardening", "token mounted", OVERLAY["s3"], lambda o: _pod(o, "triton").pop("automountServiceAccountToken")),
    (
        "hardening",
        "token mounted in the fill pod",
        FILL_POD,
        lambda o: _kind(o, "Pod")["spec"].pop("automountServiceAccountToken"),
    ),
    ("hardening", "transformer token", KSERVE, lambda o: _isvc(o)["transformer"].pop("automountServiceAccountToken")),
    (
        "hardening",
        "Triton root writable",
        OVERLAY["gpu"],
        lambda o: _container(o, "triton")["securityContext"].update(readOnlyRootFilesystem=False),
    ),
    (
        "hardening",
        "no /tmp for Triton",
        OVERLAY["s3"],
        lambda o: _container(o, "triton").update(
            volumeMounts=[m for m in _container(o, "triton")["volumeMounts"] if m["mountPath"] != "/tmp"]
        ),
    ),
    (
        "hardening",
        "image without registry",
        OVERLAY["gpu"],
        lambda o: _container(o, "gateway").update(image="segmentation-gateway:1.0.0"),
    ),
    (
        "hardening",
        "kserve image without registry",
        KSERVE,
        lambda o: _isvc(o)["transformer"]["containers"][0].update(image="segmentation-gateway:1.0.0"),
    ),
    ("hardening", "no preStop", OVERLAY["cpu"], lambda o: _container(o, "triton").pop("lifecycle")),
    (
        "hardening",
        "grace = Triton's exit timeout",
        OVERLAY["production"],
        lambda o: _pod(o, "triton").update(terminationGracePeriodSeconds=30),
    ),
    (
        "hardening",
        "/metrics open",
        OVERLAY["cpu"],
        lambda o: _set_env(_container(o, "gateway"), "GATEWAY_PROTECT_METRICS", value="false"),
    ),
    (
        "hardening",
        "gateway scraped without a key",
        OVERLAY["production"],
        lambda o: _kind(o, "ServiceMonitor", "gateway")["spec"]["endpoints"][0].pop("authorization"),
    ),
    (
        "triton_network",
        "HTTP 8000 to the gateway",
        OVERLAY["gpu"],
        lambda o: _triton_ingress(o)[0]["ports"].append({"port": "http"}),
    ),
    ("triton_network", "metrics from everywhere", OVERLAY["cpu"], lambda o: _triton_ingress(o)[1].pop("from")),
    (
        "triton_network",
        "metrics from every namespace",
        OVERLAY["production"],
        lambda o: _triton_ingress(o)[1].update({"from": [{"namespaceSelector": {}}]}),
    ),
    (
        "triton_network",
        "gRPC from any pod",
        OVERLAY["s3"],
        lambda o: _triton_ingress(o)[0].update({"from": [{"podSelector": {}}]}),
    ),
    ("triton_network", "no predictor policy", KSERVE, lambda o: _drop(o, "NetworkPolicy", "deeplabv3-predictor")),
    # 7. storage
    (
        "storage",
        "ReadOnlyMany claim",
        OVERLAY["gpu"],
        lambda o: _kind(o, "PersistentVolumeClaim")["spec"].update(accessModes=["ReadOnlyMany"]),
    ),
    (
        "storage",
        "no storage class",
        OVERLAY["cpu"],
        lambda o: _kind(o, "PersistentVolumeClaim")["spec"].pop("storageClassName"),
    ),
    (
        "storage",
        "required S3 Secret",
        OVERLAY["s3"],
        lambda o: next(e for e in _container(o, "triton")["env"] if e["name"] == "AWS_ACCESS_KEY_ID")["valueFrom"][
            "secretKeyRef"
        ].pop("optional"),
    ),
    (
        "storage",
        "no workload identity",
        OVERLAY["production"],
        lambda o: _kind(o, "ServiceAccount", "triton")["metadata"].pop("annotations"),
    ),
    (
        "storage",
        "no ephemeral-storage",
        OVERLAY["s3"],
        lambda o: _container(o, "triton")["resources"]["requests"].pop("ephemeral-storage"),
    ),
    # 8. readiness
    (
        "readiness",
        "gateway ready only with Triton",
        OVERLAY["production"],
        lambda o: _container(o, "gateway")["readinessProbe"]["httpGet"].update(path="/ready"),
    ),
    (
        "readiness",
        "transformer ready only with Triton",
        KSERVE,
        lambda o: _isvc(o)["transformer"]["containers"][0]["readinessProbe"]["httpGet"].update(path="/ready"),
    ),
    # 9. KServe
    ("kserve", "no GPU toleration", KSERVE, lambda o: _isvc(o)["predictor"].pop("tolerations")),
    (
        "kserve",
        "default CPU scaling",
        KSERVE,
        lambda o: [
            _isvc(o)["predictor"].pop("autoScaling"),
            _kind(o, "InferenceService")["metadata"]["annotations"].pop("serving.kserve.io/autoscalerClass"),
        ],
    ),
    (
        "namespaces",
        "two Namespaces",
        KSERVE,
        lambda o: o.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "segmentation"}}),
    ),
    (
        "namespaces",
        "an object outside the namespace",
        OVERLAY["cpu"],
        lambda o: _deployment(o, "gateway")["metadata"].update(namespace="default"),
    ),
]


@pytest.mark.parametrize(
    ("name", "path", "mutate"), [pytest.param(n, path, m, id=f"{n}: {what}") for n, what, path, m in BROKEN]
)
def test_policy_fails_on_a_broken_manifest(name: str, path: Path, mutate: Mutation) -> None:
    objects = manifests.load(path)
    assert p.CHECKS[name](objects) == []  # the unbroken render passes ...
    mutate(objects)
    assert p.CHECKS[name](objects), f"{name} did not notice"  # ... and the broken one does not


def test_every_policy_is_shown_to_fail() -> None:
    assert {name for name, *_ in BROKEN} == set(p.CHECKS)


# --- what the policies leave to the render --------------------------------------------------------------


def test_the_two_stacks_own_different_namespaces() -> None:
    owned = [
        {o["metadata"]["name"] for o in manifests.load(path) if o["kind"] == "Namespace"}
        for path in manifests.KUSTOMIZATIONS
    ]
    k8s = set().union(*owned[:-1])
    assert k8s == {"segmentation"} and owned[-1] == {"segmentation-kserve"}


def test_every_triton_and_every_gateway_is_autoscaled_where_an_autoscaler_exists() -> None:
    for name in ("cpu", "production"):
        objects = manifests.load(OVERLAY[name])
        assert p._autoscaled(objects) == {"triton", "gateway"}, name
    cpu_hpa = _kind(manifests.load(OVERLAY["cpu"]), "HorizontalPodAutoscaler", "triton")["spec"]
    assert [m["resource"]["name"] for m in cpu_hpa["metrics"]] == ["cpu"]


def test_the_gateway_pdb_is_max_unavailable_one_under_its_hpa() -> None:
    objects = manifests.load(OVERLAY["production"])
    assert _kind(objects, "PodDisruptionBudget", "gateway")["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}},
    }
