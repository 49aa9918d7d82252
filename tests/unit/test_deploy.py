"""Kubernetes manifests validated offline against the Kubernetes schemas, and consistent with the image."""
from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml

from launcher import settings
from tests.conftest import ROOT

K8S = ROOT / "deploy" / "k8s"
CORE = ["deployment-cpu.yaml", "deployment-gpu.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"]


def load(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())


@pytest.mark.parametrize("name", CORE)
def test_manifest_is_valid_kubernetes(name):
    kubernetes_validate.validate(load(name), "1.30", strict=True)


@pytest.mark.parametrize("name", ["deployment-cpu.yaml", "deployment-gpu.yaml"])
def test_deployment_matches_image_service_hpa_and_pdb(name):
    dep = load(name)
    pod = dep["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    dockerfile = (ROOT / "Dockerfile").read_text()
    # the workers' threads follow the pod's CPU request (fashion/threads.py), not the node's core count
    (cpus,) = [e for e in container["env"] if e["name"] == "FASHION_CPUS"]
    assert cpus["valueFrom"]["resourceFieldRef"]["resource"] == "requests.cpu"
    assert "cpu" in container["resources"]["requests"]
    assert re.search(r"^EXPOSE 8080 8001$", dockerfile, re.M) and container["ports"][0]["containerPort"] == 8080
    assert 'CMD ["python", "-m", "launcher", "serve"' in dockerfile
    # read-only root filesystem: every write of the server goes to /tmp, which the pod mounts
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == "/tmp" and re.search(r"^ +TMPDIR=/tmp", dockerfile, re.M)
    assert any(v["name"] == mount["name"] and "emptyDir" in v for v in pod["spec"]["volumes"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == env["AIP_HEALTH_ROUTE"]
    labels = pod["metadata"]["labels"]
    for other in ("service.yaml", "pdb.yaml"):
        doc = load(other)
        selector = doc["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert all(labels.get(k) == v for k, v in selector.items()), other
    assert load("hpa.yaml")["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001 and "USER 10001" in dockerfile
    assert "memory" in container["resources"]["limits"]
    if "gpu" in name:
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_kserve_inference_service_is_well_formed():
    doc = load("kserve.yaml")
    assert doc["apiVersion"] == "serving.kserve.io/v1beta1" and doc["kind"] == "InferenceService"
    (container,) = doc["spec"]["predictor"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["readinessProbe"]["httpGet"]["path"] == env["AIP_HEALTH_ROUTE"]
    assert container["ports"][0]["containerPort"] == int(env["AIP_HTTP_PORT"])
    # the container itself is a valid Kubernetes container
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                                  "spec": {"containers": [container]}}, "1.30", strict=True)


def _as_pod(container: dict) -> None:
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                                  "spec": {"containers": [container]}}, "1.30", strict=True)


def test_kserve_v2_runtime_and_services_agree_with_the_front_door():
    """The ServingRuntime's container is a valid container; each InferenceService picks it with the protocol it
    serves; REST on AIP_HTTP_PORT with v2 readiness, gRPC on FASHION_GRPC_PORT as the image exposes it."""
    runtime, rest, grpc = yaml.safe_load_all((K8S / "kserve-v2.yaml").read_text())
    assert (runtime["kind"], rest["kind"], grpc["kind"]) == ("ServingRuntime", "InferenceService", "InferenceService")
    assert set(runtime["spec"]["protocolVersions"]) == {"v2", "grpc-v2"}
    (container,) = runtime["spec"]["containers"]
    _as_pod(container)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["AIP_HEALTH_ROUTE"] == "/v2/health/ready" == container["readinessProbe"]["httpGet"]["path"]
    assert container["ports"][0]["containerPort"] == int(env["AIP_HTTP_PORT"])
    assert settings.grpc_port(env["FASHION_GRPC_PORT"]) == settings.DEFAULT_GRPC_PORT
    assert re.search(rf"^EXPOSE .*\b{settings.DEFAULT_GRPC_PORT}\b", (ROOT / "Dockerfile").read_text(), re.M)
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    for doc, protocol in ((rest, "v2"), (grpc, "grpc-v2")):
        model = doc["spec"]["predictor"]["model"]
        assert model["runtime"] == runtime["metadata"]["name"] and model["modelFormat"]["name"] in formats
        assert model["protocolVersion"] == protocol
    merged = {**container, **{k: v for k, v in grpc["spec"]["predictor"]["model"].items()
                              if k not in ("runtime", "modelFormat", "protocolVersion")}}
    _as_pod(merged)
    (port,) = merged["ports"]
    assert port["name"] == "h2c" and port["containerPort"] == settings.DEFAULT_GRPC_PORT
    assert "/v2/health/ready" in " ".join(merged["readinessProbe"]["exec"]["command"])


def test_rayjob_runs_the_ray_engine_on_this_image():
    """KubeRay's RayJob is a custom resource (no schema offline): its pod templates are validated as Pods, and
    the job, the image, the Ray version and the models' path agree with the project."""
    doc = load("rayjob.yaml")
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayJob"
    spec = doc["spec"]
    args = spec["entrypoint"].split()
    assert args[:4] == ["python", "-m", "catalogue", "enrich"] and args[args.index("--engine") + 1] == "ray"
    models = args[args.index("--models") + 1]
    assert models == "/app/model_store/fashion.mar" and re.search(r"^COPY .* \./model_store$",
                                                                 (ROOT / "Dockerfile").read_text(), re.M)
    assert re.search(r"^WORKDIR /app$", (ROOT / "Dockerfile").read_text(), re.M)
    pinned = re.search(r"^ray\[data\]==([\d.]+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == pinned
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    deployment_image = load("deployment-cpu.yaml")["spec"]["template"]["spec"]["containers"][0]["image"]
    for group in groups:
        pod = group["template"]
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                                      "spec": pod["spec"]}, "1.30", strict=True)
        (container,) = pod["spec"]["containers"]
        assert container["image"].split(":")[0] == deployment_image.split(":")[0]
        assert {"name": "PYTHONPATH", "value": "/app"} in container["env"]
        assert "memory" in container["resources"]["limits"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # actors run on the workers
