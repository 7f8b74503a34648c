"""The local cluster's node is a real one: pods run in containers of the project's image under a kubelet,
with their security context, resources and network enforced, and `kubectl logs`/`exec` work.

Against an external cluster (KUBECONFIG) the image comes from DATAMESH_TEST_IMAGE."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
import yaml

from tests.conftest import Cluster

TIMEOUT = 120


@pytest.fixture(scope="module")
def image(cluster: Cluster) -> str:
    found = cluster.image or os.environ.get("DATAMESH_TEST_IMAGE", "")
    assert found, "no image for pods: the local cluster imports the project's; elsewhere set DATAMESH_TEST_IMAGE"
    return found


def pod(name: str, image: str, command: list[str], **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }  # fmt: skip
    container.update(extra.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2, "containers": [container], **extra},
    }


def wait_phase(cluster: Cluster, name: str, namespace: str, phases: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = cluster.get("pod", name, namespace)
        if body.get("status", {}).get("phase") in phases:
            return body
        time.sleep(0.5)
    events = cluster.kubectl("get", "events", "-n", namespace, check=False).stdout
    raise AssertionError(f"pod {name} never reached {phases}: {body.get('status')}\n{events}")


def terminated(body: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = body["status"]["containerStatuses"][0]["state"]["terminated"]
    return state


def test_node_runs_containerd_under_a_kubelet(cluster: Cluster) -> None:
    nodes = yaml.safe_load(cluster.kubectl("get", "nodes", "-o", "yaml").stdout)["items"]
    assert nodes, "no node registered"
    info = nodes[0]["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("containerd://"), info
    assert info["kubeletVersion"].startswith("v1."), info
    ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert ready["Ready"] == "True"


def test_exit_code_termination_message_and_logs(cluster: Cluster, namespace: str, image: str) -> None:
    script = "import sys; print('to the log'); open('/dev/termination-log', 'w').write('the message'); sys.exit(3)"
    cluster.apply(pod("ends", image, ["python", "-c", script]), "-n", namespace)
    body = wait_phase(cluster, "ends", namespace, {"Failed"})
    state = terminated(body)
    assert (state["exitCode"], state["message"]) == (3, "the message")
    assert cluster.kubectl("logs", "ends", "-n", namespace).stdout.strip() == "to the log"


def test_security_context_is_enforced(cluster: Cluster, namespace: str, image: str) -> None:
    """uid and group from the securityContext, a read-only root, no capabilities: seen from inside, by exec."""
    cluster.apply(pod("confined", image, ["sleep", "300"]), "-n", namespace)
    wait_phase(cluster, "confined", namespace, {"Running"})
    ids = cluster.kubectl("exec", "confined", "-n", namespace, "--", "id", "-u").stdout.strip()
    assert ids == "1000"
    write = cluster.kubectl("exec", "confined", "-n", namespace, "--", "touch", "/opt/x", check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr
    status = cluster.kubectl("exec", "confined", "-n", namespace, "--", "cat", "/proc/1/status").stdout
    caps = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith("Cap")}
    assert caps["CapEff"] == "0000000000000000" and caps["CapBnd"] == "0000000000000000", caps
    no_new_privs = [line for line in status.splitlines() if line.startswith("NoNewPrivs")]
    assert no_new_privs == ["NoNewPrivs:\t1"]


def test_memory_limit_is_enforced(cluster: Cluster, namespace: str, image: str) -> None:
    hog = "x = bytearray(400 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); print('survived')"
    limits = {"resources": {"requests": {"memory": "64Mi"}, "limits": {"memory": "96Mi"}}}
    cluster.apply(pod("hog", image, ["python", "-c", hog], container=limits), "-n", namespace)
    state = terminated(wait_phase(cluster, "hog", namespace, {"Failed"}))
    assert state["reason"] == "OOMKilled", state


def test_pods_reach_the_api_server_through_the_kubernetes_service(
    cluster: Cluster, namespace: str, image: str
) -> None:
    """kube-proxy takes the Service's cluster IP to the API server; the pod's projected token authenticates."""
    script = """
import json, os, ssl, urllib.request
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
context = ssl.create_default_context(cafile=f"{sa}/ca.crt")
request = urllib.request.Request(
    f"https://{host}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews", method="POST",
    data=json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode(),
    headers={"Authorization": "Bearer " + open(f"{sa}/token").read(), "Content-Type": "application/json"})
review = json.load(urllib.request.urlopen(request, context=context, timeout=10))
print(host, review["status"]["userInfo"]["username"])
"""
    cluster.apply(pod("incluster", image, ["python", "-c", script]), "-n", namespace)
    body = wait_phase(cluster, "incluster", namespace, {"Succeeded", "Failed"})
    log = cluster.kubectl("logs", "incluster", "-n", namespace).stdout
    assert body["status"]["phase"] == "Succeeded", log
    service_ip = cluster.get("service", "kubernetes", "default")["spec"]["clusterIP"]
    assert log.split() == [service_ip, f"system:serviceaccount:{namespace}:default"]


def test_pods_reach_nothing_beyond_the_node(cluster: Cluster, namespace: str, image: str) -> None:
    script = """
import json, socket
results = {}
for target in [("192.0.2.1", 80), ("1.1.1.1", 443)]:
    try:
        socket.create_connection(target, timeout=3).close()
        results[target[0]] = "connected"
    except OSError as error:
        results[target[0]] = type(error).__name__ + ":" + str(error.errno)
print(json.dumps(results))
"""
    cluster.apply(pod("outbound", image, ["python", "-c", script]), "-n", namespace)
    wait_phase(cluster, "outbound", namespace, {"Succeeded"})
    results = json.loads(cluster.kubectl("logs", "outbound", "-n", namespace).stdout)
    assert "connected" not in results.values(), results


def test_deleting_a_namespace_with_running_pods_completes(cluster: Cluster, image: str) -> None:
    name = f"t-gone-{os.getpid()}"
    cluster.kubectl("create", "namespace", name)
    cluster.apply(pod("sleeper", image, ["sleep", "600"]), "-n", name)
    wait_phase(cluster, "sleeper", name, {"Running"})
    cluster.kubectl("delete", "namespace", name, "--timeout=90s")
    assert cluster.kubectl("get", "namespace", name, check=False).returncode != 0


def test_deleting_a_running_pod_ends_it_gracefully(cluster: Cluster, namespace: str, image: str) -> None:
    """SIGTERM reaches the container's process, which exits: the pod is gone long before its 300 s grace period
    (which the node would otherwise sit out before the SIGKILL)."""
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "print('waiting', flush=True)\n"
        "time.sleep(600)\n"
    )
    body = pod("graceful", image, ["python", "-c", script])
    body["spec"]["terminationGracePeriodSeconds"] = 300
    cluster.apply(body, "-n", namespace)
    wait_phase(cluster, "graceful", namespace, {"Running"})
    deadline = time.monotonic() + TIMEOUT
    while "waiting" not in cluster.kubectl("logs", "graceful", "-n", namespace, check=False).stdout:
        assert time.monotonic() < deadline, "the pod never started its signal handler"
        time.sleep(0.5)
    # Within 120 s (kubectl's own wait), far below the grace period: only a graceful exit gets there.
    cluster.kubectl("delete", "pod", "graceful", "-n", namespace, "--timeout=120s")
    assert cluster.kubectl("get", "pod", "graceful", "-n", namespace, check=False).returncode != 0


def test_cluster_dns_answers_cluster_names_and_nothing_else(cluster: Cluster, namespace: str, image: str) -> None:
    script = """
import json, socket
found = {}
for name in ["kubernetes.default.svc.cluster.local", "kubernetes.default", "deb.debian.org"]:
    try:
        found[name] = socket.gethostbyname(name)
    except OSError as error:
        found[name] = "error:" + type(error).__name__
print(json.dumps(found))
"""
    cluster.apply(pod("dns", image, ["python", "-c", script]), "-n", namespace)
    wait_phase(cluster, "dns", namespace, {"Succeeded"})
    found = json.loads(cluster.kubectl("logs", "dns", "-n", namespace).stdout)
    service_ip = cluster.get("service", "kubernetes", "default")["spec"]["clusterIP"]
    assert found["kubernetes.default.svc.cluster.local"] == service_ip
    assert found["kubernetes.default"] == service_ip, "the pod's search domains come from the kubelet's clusterDNS"
    assert found["deb.debian.org"].startswith("error:"), "names beyond the cluster resolve nowhere"


def test_a_second_cluster_is_refused_without_touching_the_running_one(
    cluster: Cluster, namespace: str, image: str, tmp_path: Any
) -> None:
    if cluster.plane is None:
        pytest.skip("the cluster is not one this machine started (KUBECONFIG)")
    from devcluster.cluster import ControlPlane

    with pytest.raises(RuntimeError, match="another real node runs"):
        ControlPlane(tmp_path / "second").up(timeout=30)
    # The refused start cleaned up only its own folder: the running node still runs pods on its network.
    cluster.apply(pod("after-refusal", image, ["python3", "-c", "print('still here')"]), "-n", namespace)
    done = wait_phase(cluster, "after-refusal", namespace, {"Succeeded", "Failed"})
    assert done["status"]["phase"] == "Succeeded"
