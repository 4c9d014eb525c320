"""What an SRE checks before shipping the manifests (issue 22), as functions from rendered objects to problems.

Each ``check_*`` takes the objects of one render (an overlay, deploy/kserve or a hand-applied manifest) and
returns the problems it finds, as sentences; an empty list is a pass. tests/deploy/test_sre_policies.py runs
every check over every render, and feeds each check a deliberately broken copy to see it fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Objects = list[dict[str, Any]]
Check = Callable[[Objects], list[str]]

# What kube-prometheus-stack's Prometheus selects ServiceMonitors, PodMonitors and PrometheusRules by, by default.
PROMETHEUS_SELECTOR = {"release": "kube-prometheus-stack"}
MONITORING_NAMESPACE = {"kubernetes.io/metadata.name": "monitoring"}
TRITON_EXIT_TIMEOUT_S = 30  # tritonserver --exit-timeout-secs default
GRACE_HEADROOM_S = 10
TRITON_GRPC, TRITON_HTTP, TRITON_METRICS = 8001, 8000, 8002
GATEWAY_OWN_PROBES = {"/healthcheck", "/v2/health/live"}
HOSTNAME = "kubernetes.io/hostname"


@dataclass
class Workload:
    """A pod template the manifests run: a Deployment's, a bare Pod's or a KServe component's."""

    name: str
    labels: dict[str, str]
    pod: dict[str, Any]  # the pod spec (for KServe: the component spec, a PodSpec plus KServe's fields)
    containers: list[dict[str, Any]] = field(default_factory=list)
    deployment: dict[str, Any] | None = None

    @property
    def is_triton(self) -> bool:
        return any(is_triton_container(c) for c in self.containers)

    @property
    def is_gateway(self) -> bool:
        return any(is_gateway_container(c) for c in self.containers)


def is_triton_container(container: dict) -> bool:
    image = container.get("image", "")
    return "tritonserver" in image or "segmentation-triton" in image  # NGC's, or ours built on it (+ Pillow)


def is_gateway_container(container: dict) -> bool:
    return "segmentation-gateway" in container.get("image", "")


def name_of(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def of_kind(objects: Objects, *kinds: str) -> Objects:
    return [o for o in objects if o.get("kind") in kinds]


def selects(selector: dict | None, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def _kserve_components(objects: Objects) -> Iterator[Workload]:
    runtimes = {o["metadata"]["name"]: o for o in of_kind(objects, "ServingRuntime")}
    for isvc in of_kind(objects, "InferenceService"):
        name = isvc["metadata"]["name"]
        for part in ("predictor", "transformer"):
            spec = isvc["spec"].get(part)
            if spec is None:
                continue
            labels = {"serving.kserve.io/inferenceservice": name, "component": part}
            containers = copy.deepcopy(spec.get("containers", []))
            model = spec.get("model")
            if model and model.get("runtime") in runtimes:
                # KServe runs the runtime's containers; the model's resources replace the runtime's
                runtime_containers = copy.deepcopy(runtimes[model["runtime"]]["spec"]["containers"])
                if model.get("resources"):
                    runtime_containers[0]["resources"] = model["resources"]
                containers = runtime_containers + containers
            yield Workload(f"{name_of(isvc)}.{part}", labels, spec, containers)


def workloads(objects: Objects) -> list[Workload]:
    found = []
    for deployment in of_kind(objects, "Deployment"):
        template = deployment["spec"]["template"]
        spec = template["spec"]
        found.append(
            Workload(
                name_of(deployment),
                template["metadata"].get("labels", {}),
                spec,
                spec.get("initContainers", []) + spec["containers"],
                deployment,
            )
        )
    for pod in of_kind(objects, "Pod"):
        spec = pod["spec"]
        found.append(
            Workload(
                name_of(pod),
                pod["metadata"].get("labels", {}),
                spec,
                spec.get("initContainers", []) + spec["containers"],
            )
        )
    found.extend(_kserve_components(objects))
    return found


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def _autoscaled(objects: Objects) -> set[str]:
    """Names of the Deployments an HPA or a KEDA ScaledObject owns."""
    return {
        s["spec"]["scaleTargetRef"]["name"]
        for s in of_kind(objects, "HorizontalPodAutoscaler", "ScaledObject")
        if s["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    }


def _cpu(quantity: Any) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


# --- 1. availability -------------------------------------------------------------------------------------


def check_pdbs(objects: Objects) -> list[str]:
    """Every long-running workload has one PDB, maxUnavailable 1 (not a minAvailable that lets drains take nine
    of ten)."""
    problems = []
    pdbs = of_kind(objects, "PodDisruptionBudget")
    for workload in workloads(objects):
        if workload.name.startswith("Pod/"):
            continue  # a one-off pod (the fill pod) is not protected
        mine = [p for p in pdbs if selects(p["spec"]["selector"].get("matchLabels"), workload.labels)]
        if len(mine) != 1:
            problems.append(f"{workload.name}: {len(mine)} PodDisruptionBudgets select it, not 1")
            continue
        spec = mine[0]["spec"]
        if "minAvailable" in spec or spec.get("maxUnavailable") != 1:
            problems.append(f"{workload.name}: {name_of(mine[0])} is not maxUnavailable: 1")
    return problems


def check_spread(objects: Objects) -> list[str]:
    """Every long-running workload spreads over nodes: a hostname topology spread constraint, or pod anti-affinity
    on hostname, that selects its own pods."""
    problems = []
    for workload in workloads(objects):
        if workload.name.startswith("Pod/"):
            continue
        spread = [
            c
            for c in workload.pod.get("topologySpreadConstraints", [])
            if c.get("topologyKey") == HOSTNAME
            and selects(c.get("labelSelector", {}).get("matchLabels"), workload.labels)
        ]
        anti = workload.pod.get("affinity", {}).get("podAntiAffinity", {})
        terms = [t.get("podAffinityTerm", t) for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
        terms += anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        anti_ok = [
            t
            for t in terms
            if t.get("topologyKey") == HOSTNAME
            and selects(t.get("labelSelector", {}).get("matchLabels"), workload.labels)
        ]
        if not spread and not anti_ok:
            problems.append(f"{workload.name}: no spread over nodes (topologySpreadConstraints / podAntiAffinity)")
        for c in spread:
            if c.get("maxSkew", 0) != 1:
                problems.append(f"{workload.name}: hostname spread maxSkew {c.get('maxSkew')}, not 1")
    return problems


# --- 2. autoscalers own their replicas -------------------------------------------------------------------


def check_replicas(objects: Objects) -> list[str]:
    """No `replicas` in a Deployment an autoscaler owns (every apply would reset it); at least 2 elsewhere."""
    problems = []
    owned = _autoscaled(objects)
    for deployment in of_kind(objects, "Deployment"):
        name = deployment["metadata"]["name"]
        replicas = deployment["spec"].get("replicas")
        if name in owned and replicas is not None:
            problems.append(f"{name_of(deployment)}: replicas {replicas} in a Deployment an autoscaler owns")
        if name not in owned and (replicas is None or replicas < 2):
            problems.append(f"{name_of(deployment)}: no autoscaler and replicas {replicas} (at least 2)")
    for scaler in of_kind(objects, "HorizontalPodAutoscaler"):
        if scaler["spec"].get("minReplicas", 1) < 2:
            problems.append(f"{name_of(scaler)}: minReplicas below 2")
    for scaler in of_kind(objects, "ScaledObject"):
        if scaler["spec"].get("minReplicaCount", 0) < 2:
            problems.append(f"{name_of(scaler)}: minReplicaCount below 2")
    return problems


# --- 3. KEDA fails safe, Prometheus selects the monitors -------------------------------------------------


def check_keda(objects: Objects) -> list[str]:
    problems = []
    for scaled in of_kind(objects, "ScaledObject"):
        spec = scaled["spec"]
        fallback = spec.get("fallback")
        if not fallback or fallback.get("behavior") != "currentReplicasIfHigher":
            problems.append(f"{name_of(scaled)}: fallback without behavior currentReplicasIfHigher")
        if "cooldownPeriod" in spec and spec.get("minReplicaCount", 0) > 0:
            problems.append(f"{name_of(scaled)}: cooldownPeriod only applies to scaling to zero")
        for trigger in spec["triggers"]:
            if fallback and trigger.get("metricType", "AverageValue") != "AverageValue":
                problems.append(
                    f"{name_of(scaled)}: trigger {trigger.get('name')} is not AverageValue: no fallback for it"
                )
            if trigger["type"] == "prometheus" and trigger["metadata"].get("ignoreNullValues") != "false":
                problems.append(f"{name_of(scaled)}: trigger {trigger.get('name')} reads an empty answer as 0")
    return problems


def check_monitors_selected(objects: Objects) -> list[str]:
    return [
        f"{name_of(m)}: no label {PROMETHEUS_SELECTOR} (kube-prometheus-stack's default selector)"
        for m in of_kind(objects, "ServiceMonitor", "PodMonitor", "PrometheusRule")
        if not selects(PROMETHEUS_SELECTOR, m["metadata"].get("labels", {}))
    ]


# --- 4. rolling updates on GPU pools ---------------------------------------------------------------------


def _wants_gpu(workload: Workload) -> bool:
    return any(
        "nvidia.com/gpu" in c.get("resources", {}).get(kind, {})
        for c in workload.containers
        for kind in ("requests", "limits")
    )


def check_rollout(objects: Objects) -> list[str]:
    problems = []
    for workload in workloads(objects):
        if workload.deployment is None:
            continue
        rolling = workload.deployment["spec"].get("strategy", {}).get("rollingUpdate", {})
        surge, unavailable = rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%")
        if _wants_gpu(workload) and (surge != 0 or unavailable != 1):
            problems.append(
                f"{workload.name}: a GPU Deployment rolls with maxSurge {surge}, maxUnavailable {unavailable}"
            )
        if not _wants_gpu(workload) and unavailable != 0:
            problems.append(f"{workload.name}: a CPU Deployment rolls with maxUnavailable {unavailable}, not 0")
    return problems


# --- 5. threads and QoS ----------------------------------------------------------------------------------


def check_threads_and_qos(objects: Objects) -> list[str]:
    """Triton's OMP/MKL threads equal its CPU limit; Triton (GPU pods above all) has requests = limits."""
    problems = []
    for workload in workloads(objects):
        for container in workload.containers:
            if not is_triton_container(container):
                continue
            resources = container.get("resources", {})
            limits, requests = resources.get("limits", {}), resources.get("requests", {})
            for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                entry = _env(container).get(variable, {})
                ref = entry.get("valueFrom", {}).get("resourceFieldRef", {})
                from_limit = ref.get("resource") == "limits.cpu" and str(ref.get("divisor", "1")) == "1"
                literal = "value" in entry and "cpu" in limits
                if not (from_limit or (literal and float(entry["value"]) == _cpu(limits["cpu"]))):
                    problems.append(f"{workload.name}: {variable} is not the CPU limit")
            for kind in ("cpu", "memory"):
                if kind not in limits or str(requests.get(kind)) != str(limits[kind]):
                    problems.append(f"{workload.name}: {kind} request {requests.get(kind)} != limit {limits.get(kind)}")
    return problems


# --- 6. hardening ----------------------------------------------------------------------------------------


def _registry_qualified(image: str) -> bool:
    first, _, rest = image.partition("/")
    return bool(rest) and ("." in first or ":" in first or first == "localhost")


def check_hardening(objects: Objects) -> list[str]:
    problems = []
    for workload in workloads(objects):
        if workload.pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{workload.name}: automountServiceAccountToken is not false")
        volumes = {v["name"]: v for v in workload.pod.get("volumes", [])}
        if (
            workload.name.startswith("InferenceService/")
            and workload.containers
            and is_triton_container(workload.containers[0])
        ):
            runtime = next(r for r in of_kind(objects, "ServingRuntime"))
            volumes.update({v["name"]: v for v in runtime["spec"].get("volumes", [])})
        for container in workload.containers:
            label = f"{workload.name}/{container['name']}"
            if container.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
                problems.append(f"{label}: root filesystem writable")
            if not _registry_qualified(container["image"]):
                problems.append(f"{label}: image {container['image']} names no registry")
            if is_triton_container(container):
                tmp = next((m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"), None)
                if tmp is None or "sizeLimit" not in volumes.get(tmp["name"], {}).get("emptyDir", {}):
                    problems.append(f"{label}: no /tmp emptyDir with a sizeLimit")
                sleep = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
                if len(sleep) != 2 or sleep[0] != "sleep":
                    problems.append(f"{label}: no preStop sleep")
                else:
                    needed = int(sleep[1]) + TRITON_EXIT_TIMEOUT_S + GRACE_HEADROOM_S
                    grace = workload.pod.get("terminationGracePeriodSeconds", 30)
                    if grace < needed:
                        problems.append(f"{label}: terminationGracePeriodSeconds {grace} < preStop + 30 s + headroom")
            protected = _env(container).get("GATEWAY_PROTECT_METRICS", {}).get("value") == "true"
            if is_gateway_container(container) and not protected:
                problems.append(f"{label}: /metrics open on the client-facing port (GATEWAY_PROTECT_METRICS)")
    for monitor in of_kind(objects, "ServiceMonitor"):
        gateway_pods = [w for w in workloads(objects) if w.is_gateway]
        services = [
            s
            for s in of_kind(objects, "Service")
            if selects(monitor["spec"]["selector"].get("matchLabels"), s["metadata"].get("labels", {}))
            and any(selects(s["spec"].get("selector"), w.labels) for w in gateway_pods)
        ]
        if services and not all(
            e.get("authorization", {}).get("credentials", {}).get("name") for e in monitor["spec"]["endpoints"]
        ):
            problems.append(f"{name_of(monitor)}: scrapes the gateway's protected /metrics without a key")
    return problems


def _port_numbers(rule_ports: list[dict], containers: list[dict]) -> set[int]:
    named = {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", []) if "name" in p}
    return {p["port"] if isinstance(p["port"], int) else named.get(p["port"], -1) for p in rule_ports}


def check_triton_network(objects: Objects) -> list[str]:
    """Triton's pods: gRPC only from gateway pods, metrics only from the monitoring namespace, HTTP from nobody."""
    problems = []
    all_workloads = workloads(objects)
    gateways = [w for w in all_workloads if w.is_gateway]
    for triton in (w for w in all_workloads if w.is_triton):
        policies = [
            p
            for p in of_kind(objects, "NetworkPolicy")
            if selects(p["spec"]["podSelector"].get("matchLabels"), triton.labels)
            and "Ingress" in p["spec"]["policyTypes"]
        ]
        if not policies:
            problems.append(f"{triton.name}: no ingress NetworkPolicy")
        for policy in policies:
            for rule in policy["spec"].get("ingress", []):
                ports = _port_numbers(rule.get("ports", []), triton.containers) if rule.get("ports") else {0}
                sources = rule.get("from", [])
                if not sources:
                    problems.append(f"{name_of(policy)}: a rule open to every source ({sorted(ports)})")
                    continue
                if ports & {TRITON_HTTP, 0}:
                    problems.append(f"{name_of(policy)}: admits Triton's HTTP port")
                if TRITON_GRPC in ports and not all(
                    set(s) == {"podSelector"}
                    and any(selects(s["podSelector"].get("matchLabels"), g.labels) for g in gateways)
                    for s in sources
                ):
                    problems.append(f"{name_of(policy)}: gRPC from something else than the gateway")
                if TRITON_METRICS in ports and not all(
                    set(s) <= {"namespaceSelector", "podSelector"}
                    and s.get("namespaceSelector", {}).get("matchLabels") == MONITORING_NAMESPACE
                    for s in sources
                ):
                    problems.append(f"{name_of(policy)}: metrics from outside the monitoring namespace")
                if ports - {TRITON_GRPC, TRITON_METRICS}:
                    problems.append(f"{name_of(policy)}: admits ports {sorted(ports - {TRITON_GRPC, TRITON_METRICS})}")
    return problems


# --- 7. storage ------------------------------------------------------------------------------------------


def check_storage(objects: Objects) -> list[str]:
    problems = []
    for claim in of_kind(objects, "PersistentVolumeClaim"):
        modes = claim["spec"].get("accessModes", [])
        if not modes or "ReadOnlyMany" in modes:
            problems.append(
                f"{name_of(claim)}: access modes {modes} (ReadOnlyMany: most classes lack it, and it cannot be filled)"
            )
        if not claim["spec"].get("storageClassName"):
            problems.append(f"{name_of(claim)}: no storageClassName")
    accounts = {a["metadata"]["name"]: a for a in of_kind(objects, "ServiceAccount")}
    for workload in workloads(objects):
        for container in workload.containers:
            if not is_triton_container(container):
                continue
            resources = container.get("resources", {})
            if not all(
                "ephemeral-storage" in resources.get(k, {}) for k in ("requests", "limits")
            ) and not workload.name.startswith("InferenceService/"):
                problems.append(f"{workload.name}: no ephemeral-storage request and limit")
            keys = {
                n: e
                for n, e in _env(container).items()
                if n.startswith("AWS_") and "secretKeyRef" in e.get("valueFrom", {})
            }
            for name, entry in keys.items():
                if entry["valueFrom"]["secretKeyRef"].get("optional") is not True:
                    problems.append(f"{workload.name}: {name} from a required Secret")
            if keys:
                account = accounts.get(workload.pod.get("serviceAccountName", ""))
                annotations = (account or {}).get("metadata", {}).get("annotations", {})
                if not {"eks.amazonaws.com/role-arn", "iam.gke.io/gcp-service-account"} & set(annotations):
                    problems.append(f"{workload.name}: no ServiceAccount with a workload-identity annotation")
    return problems


# --- 8. readiness ----------------------------------------------------------------------------------------


def check_readiness(objects: Objects) -> list[str]:
    """The gateway's readiness is its own (a Triton outage leaves it in the Service, answering 503); Triton's
    readiness is Triton's models."""
    problems = []
    for workload in workloads(objects):
        for container in workload.containers:
            path = container.get("readinessProbe", {}).get("httpGet", {}).get("path")
            if is_gateway_container(container) and path not in GATEWAY_OWN_PROBES:
                problems.append(f"{workload.name}: gateway readiness {path} depends on Triton")
            if is_triton_container(container) and path != "/v2/health/ready":
                problems.append(f"{workload.name}: Triton readiness {path}")
    return problems


# --- 9. KServe -------------------------------------------------------------------------------------------


def check_kserve(objects: Objects) -> list[str]:
    problems = []
    for isvc in of_kind(objects, "InferenceService"):
        predictor = isvc["spec"]["predictor"]
        wants_gpu = "nvidia.com/gpu" in predictor.get("model", {}).get("resources", {}).get("limits", {})
        tolerated = any(t.get("key") == "nvidia.com/gpu" for t in predictor.get("tolerations", []))
        if wants_gpu and not tolerated:
            problems.append(f"{name_of(isvc)}: GPU predictor without the nvidia.com/gpu toleration")
        annotations = isvc["metadata"].get("annotations", {})
        metrics = predictor.get("autoScaling", {}).get("metrics", [])
        queue_based = annotations.get("serving.kserve.io/autoscalerClass") == "keda" and any(
            m.get("type") == "External" and "nv_inference" in m["external"]["metric"].get("query", "") for m in metrics
        )
        if not queue_based and predictor.get("scaleMetric", "cpu") == "cpu":
            problems.append(f"{name_of(isvc)}: the predictor scales on CPU (KServe's default)")
    for workload in (w for w in workloads(objects) if w.name.startswith("InferenceService/")):
        if (
            not any(
                selects(p["spec"]["podSelector"].get("matchLabels"), workload.labels)
                for p in of_kind(objects, "NetworkPolicy")
            )
            and workload.is_triton
        ):
            problems.append(f"{workload.name}: no NetworkPolicy")
    return problems


def check_namespaces(objects: Objects) -> list[str]:
    """One Namespace per render, holding every namespaced object of it."""
    namespaces = [n["metadata"]["name"] for n in of_kind(objects, "Namespace")]
    if len(namespaces) != 1:
        return [f"{len(namespaces)} Namespaces: {namespaces}"]
    return [
        f"{name_of(o)} in {o['metadata'].get('namespace')}, not {namespaces[0]}"
        for o in objects
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != namespaces[0]
    ]


CHECKS: dict[str, Check] = {
    "pdbs": check_pdbs,
    "spread": check_spread,
    "replicas": check_replicas,
    "keda": check_keda,
    "monitors_selected": check_monitors_selected,
    "rollout": check_rollout,
    "threads_and_qos": check_threads_and_qos,
    "hardening": check_hardening,
    "triton_network": check_triton_network,
    "storage": check_storage,
    "readiness": check_readiness,
    "kserve": check_kserve,
    "namespaces": check_namespaces,
}
