"""The dev node agent runs pods bound to it as host processes on the real local control plane (no mocks)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster

pytestmark = pytest.mark.timeout(120)


def wait_for(probe: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")


def pod(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11", "command": command, **spec.pop("container", {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 5, "containers": [container], **spec},
    }


def get_json(cluster: Cluster, *args: str) -> Any:
    result = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def phase(cluster: Cluster, name: str, namespace: str) -> str:
    obj = get_json(cluster, "pod", name, "-n", namespace)
    return str(obj["status"].get("phase", "")) if obj else ""


def terminated_pod(cluster: Cluster, name: str, namespace: str, timeout: float = 20.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        obj = get_json(cluster, "pod", name, "-n", namespace)
        return obj if obj and obj["status"].get("phase") in ("Succeeded", "Failed") else None

    result: dict[str, Any] = wait_for(done, timeout, f"pod {name} to finish")
    return result


def terminated_state(obj: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = obj["status"]["containerStatuses"][0]["state"]["terminated"]
    return state


def test_node_is_ready_and_untainted(cluster: Cluster) -> None:
    node = cluster.get("node", "dev-node")
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert node["metadata"]["labels"]["datamesh.dev/dev-node"] == "true"
    assert not node["spec"].get("taints")
    lease = cluster.get("lease", "dev-node", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == "dev-node"


def test_job_runs_to_completion(cluster: Cluster, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "hello", "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "python:3.11",
                            "command": ["python", "-c", "print(1)"],
                            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
                        }
                    ],
                }
            },
        },
    }
    cluster.apply(job)
    cluster.kubectl("wait", "--for=condition=Complete", "--timeout=20s", "job/hello", "-n", namespace)
    pods = get_json(cluster, "pods", "-n", namespace, "-l", "job-name=hello")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]
    assert terminated_state(pods[0])["exitCode"] == 0
    assert terminated_state(pods[0])["reason"] == "Completed"


def test_exit_code_and_termination_message(cluster: Cluster, namespace: str) -> None:
    script = "import os, sys; open(os.environ['DATAMESH_TERMINATION_LOG'], 'w').write('bad input'); sys.exit(3)"
    cluster.apply(pod("fails", ["python", "-c", script]), "-n", namespace)
    obj = terminated_pod(cluster, "fails", namespace)
    assert obj["status"]["phase"] == "Failed"
    state = terminated_state(obj)
    assert state["exitCode"] == 3
    assert state["reason"] == "Error"
    assert state["message"] == "bad input"


def test_fallback_to_logs_on_error(cluster: Cluster, namespace: str) -> None:
    script = "import sys; print('line one'); print('the last words'); sys.exit(1)"
    manifest = pod("logs", ["python", "-c", script], container={"terminationMessagePolicy": "FallbackToLogsOnError"})
    cluster.apply(manifest, "-n", namespace)
    state = terminated_state(terminated_pod(cluster, "logs", namespace))
    assert state["exitCode"] == 1
    assert state["message"].rstrip().endswith("the last words")


def test_env_value_and_field_ref(cluster: Cluster, namespace: str) -> None:
    script = (
        "import json, os; keys = ['GREETING', 'POD', 'NS', 'NODE', 'IP', 'GREETING_AGAIN'];"
        " open(os.environ['DATAMESH_TERMINATION_LOG'], 'w').write(json.dumps({k: os.environ.get(k) for k in keys}))"
    )
    env = [
        {"name": "GREETING", "value": "hello"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "GREETING_AGAIN", "value": "$(GREETING) again"},
    ]
    cluster.apply(pod("env", ["python", "-c", script], container={"env": env}), "-n", namespace)
    obj = terminated_pod(cluster, "env", namespace)
    assert obj["status"]["phase"] == "Succeeded"
    seen = json.loads(terminated_state(obj)["message"])
    assert seen == {
        "GREETING": "hello",
        "POD": "env",
        "NS": namespace,
        "NODE": "dev-node",
        "IP": "127.0.0.1",
        "GREETING_AGAIN": "hello again",
    }


def test_secret_and_config_map_env_and_working_dir(cluster: Cluster, namespace: str, tmp_path: Any) -> None:
    cluster.kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cret", "-n", namespace)
    cluster.kubectl("create", "configmap", "settings", "--from-literal=mode=fast", "-n", namespace)
    workdir = tmp_path / "work" / "dir"
    script = (
        "import os; open(os.environ['DATAMESH_TERMINATION_LOG'], 'w')"
        ".write(' '.join([os.environ['PASSWORD'], os.environ['CFG_mode'], os.getcwd()]))"
    )
    container = {
        "workingDir": str(workdir),
        "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
        "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "settings"}}],
    }
    cluster.apply(pod("refs", ["python", "-c", script], container=container), "-n", namespace)
    state = terminated_state(terminated_pod(cluster, "refs", namespace))
    assert state["message"] == f"s3cret fast {workdir}"


def test_init_container_runs_first(cluster: Cluster, namespace: str, tmp_path: Any) -> None:
    marker = tmp_path / "init-ran"
    manifest = pod(
        "init",
        ["python", "-c", f"import pathlib, sys; sys.exit(0 if pathlib.Path({str(marker)!r}).exists() else 7)"],
        initContainers=[{"name": "prepare", "image": "busybox", "command": ["touch", str(marker)]}],
    )
    cluster.apply(manifest, "-n", namespace)
    obj = terminated_pod(cluster, "init", namespace)
    assert obj["status"]["phase"] == "Succeeded"
    assert obj["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_on_failure_restarts_in_place(cluster: Cluster, namespace: str, tmp_path: Any) -> None:
    counter = tmp_path / "attempts"
    script = (
        f"import pathlib, sys; p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) + 1 if p.exists() else 1;"
        " p.write_text(str(n)); sys.exit(0 if n >= 2 else 1)"
    )
    cluster.apply(pod("retry", ["python", "-c", script], restartPolicy="OnFailure"), "-n", namespace)
    obj = terminated_pod(cluster, "retry", namespace)
    assert obj["status"]["phase"] == "Succeeded"
    status = obj["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 1


def test_active_deadline_exceeded(cluster: Cluster, namespace: str) -> None:
    cluster.apply(pod("slow", ["sleep", "60"], activeDeadlineSeconds=2), "-n", namespace)
    obj = terminated_pod(cluster, "slow", namespace)
    assert obj["status"]["phase"] == "Failed"
    assert obj["status"]["reason"] == "DeadlineExceeded"


def test_pod_without_command_fails_clearly(cluster: Cluster, namespace: str) -> None:
    manifest = pod("nocmd", [])
    del manifest["spec"]["containers"][0]["command"]
    cluster.apply(manifest, "-n", namespace)
    obj = terminated_pod(cluster, "nocmd", namespace)
    assert obj["status"]["phase"] == "Failed"
    assert "neither command nor args" in obj["status"]["message"]


def test_deleting_a_running_pod_stops_the_process(cluster: Cluster, namespace: str, tmp_path: Any) -> None:
    pid_file, term_file = tmp_path / "pid", tmp_path / "term"
    # The process notes the SIGTERM and exits: a deletion that ends it gracefully, not by the SIGKILL after the grace
    # period (and not by the node waiting for the grace period to pass), is what the marker shows.
    script = (
        "import os, pathlib, signal, sys, time\n"
        f"def stop(*_): pathlib.Path({str(term_file)!r}).write_text('SIGTERM'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
        "time.sleep(300)\n"
    )
    cluster.apply(pod("sleeper", ["python", "-c", script], terminationGracePeriodSeconds=300), "-n", namespace)
    wait_for(lambda: phase(cluster, "sleeper", namespace) == "Running" and pid_file.exists(), what="pod running")
    pid = int(pid_file.read_text())
    assert process_alive(pid)
    cluster.kubectl("delete", "pod", "sleeper", "-n", namespace, "--wait=false")
    # The node acts on the exit: one that sat out the grace period (300 s, capped at 30 s by the dev node) would
    # not get here before wait_for gives up. How the process ended is the marker's to say, not a stopwatch's.
    wait_for(lambda: get_json(cluster, "pod", "sleeper", "-n", namespace) is None, what="pod object to disappear")
    assert not process_alive(pid)
    assert term_file.read_text() == "SIGTERM"


def test_deleting_a_namespace_with_pods_completes(cluster: Cluster) -> None:
    name = f"t-del-{time.time_ns() % 10**8}"
    cluster.kubectl("create", "namespace", name)
    try:
        wait_for(lambda: get_json(cluster, "serviceaccount", "default", "-n", name), what="default serviceaccount")
        cluster.apply(pod("a", ["sleep", "300"]), "-n", name)
        cluster.apply(pod("b", ["python", "-c", "print('done')"]), "-n", name)
        wait_for(lambda: phase(cluster, "a", name) == "Running", what="pod a running")
        cluster.kubectl("delete", "namespace", name, "--wait=false")
        wait_for(lambda: get_json(cluster, "namespace", name) is None, timeout=30, what="namespace deletion")
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_service_account_token_reaches_the_api_server(cluster: Cluster, namespace: str) -> None:
    script = """
import json, os, ssl, urllib.request
folder = os.environ["DATAMESH_SERVICEACCOUNT_DIR"]
token = open(os.path.join(folder, "token")).read()
ctx = ssl.create_default_context(cafile=os.path.join(folder, "ca.crt"))
base = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
request = urllib.request.Request(base + "/apis/authentication.k8s.io/v1/selfsubjectreviews", data=body,
    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
review = json.load(urllib.request.urlopen(request, context=ctx))
api = urllib.request.Request(base + "/api", headers={"Authorization": "Bearer " + token})
urllib.request.urlopen(api, context=ctx).read()
namespace = open(os.path.join(folder, "namespace")).read()
with open(os.environ["DATAMESH_TERMINATION_LOG"], "w") as out:
    out.write(review["status"]["userInfo"]["username"] + " " + namespace)
"""
    cluster.apply(pod("incluster", ["python", "-c", script]), "-n", namespace)
    obj = terminated_pod(cluster, "incluster", namespace)
    state = terminated_state(obj)
    assert obj["status"]["phase"] == "Succeeded", state
    assert state["message"] == f"system:serviceaccount:{namespace}:default {namespace}"


def test_agent_restart_readopts_running_processes(cluster: Cluster, namespace: str) -> None:
    if os.environ.get("KUBECONFIG"):
        pytest.skip("needs the project's local control plane")
    from devcluster.cluster import ControlPlane
    from tests.conftest import REPO

    plane = ControlPlane(Path(os.environ.get("DATAMESH_TEST_CLUSTER_DIR", REPO / ".devcluster-test")))
    state = plane.state
    assert state is not None and "dev-node" in state.pids
    script = (
        "import os, sys, time; time.sleep(3);"
        " open(os.environ['DATAMESH_TERMINATION_LOG'], 'w').write('outlived the agent'); sys.exit(4)"
    )
    cluster.apply(pod("adopted", ["python", "-c", script]), "-n", namespace)
    wait_for(lambda: phase(cluster, "adopted", namespace) == "Running", what="pod running")
    os.kill(state.pids["dev-node"], signal.SIGKILL)  # a crash: the pod's process lives on
    plane._start_node(state)  # records the new agent's pid, so `down` stops it
    obj = terminated_pod(cluster, "adopted", namespace)
    state_reported = terminated_state(obj)
    assert (state_reported["exitCode"], state_reported["message"]) == (4, "outlived the agent")
    node = cluster.get("node", "dev-node")
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
