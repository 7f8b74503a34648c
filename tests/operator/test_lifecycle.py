"""A product's life where it can go wrong, end to end: a forged build pod, a build Job deleted while the operator
was down, and deletion of the published table by a Job in the domain namespace (deletionPolicy Delete) against
a Retain product that keeps it. Real builds (Spark + Delta on the real node): three of them, plus one aborted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.controller.deletion import LABEL_DELETES
from datamesh.mesh.contract import BuildResult
from tests.conftest import Cluster
from tests.operator import delta
from tests.operator.conftest import Operator, apply_and_wait_domain, condition, domain_manifest, unique, wait_for

pytestmark = [pytest.mark.spark, pytest.mark.local_lake]
BUILD_TIMEOUT = 600
FORGED = BuildResult(outcome="Published", run_id="forged", quality_score=1.0, row_count=424242, table_version=41,
                     location="/tmp/forged-location", data_updated_at="2030-01-01T00:00:00Z")  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture(scope="module")
def own_operator(
    crds: Cluster, operator: Operator | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """An operator of this module's own, so that it can be stopped and started (the session's one waits meanwhile)."""
    if operator is None:
        pytest.skip("the operator runs in the cluster: it cannot be stopped from here")
    operator.stop()
    mine = Operator(crds, tmp_path_factory.mktemp("lifecycle-operator"))
    mine.start()
    try:
        yield mine
    finally:
        mine.stop()
        operator.start()


@dataclass
class Mesh:
    domain: str
    lake: Path


@pytest.fixture(scope="module")
def mesh(crds: Cluster, own_operator: Operator, tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    root = tmp_path_factory.mktemp("lifecycle")
    lake = root / "lake"
    subprocess.run([sys.executable, "-m", "datamesh.cli.main", "demo-data", "--out", str(lake), "--scale", "0.001"],
                   check=True, capture_output=True)  # fmt: skip
    name = unique("life")
    source = {"name": "bronze.crm.customers", "location": str(lake / "sales/bronze/crm/customers"), "format": "parquet"}
    apply_and_wait_domain(crds, domain_manifest(name, root, sources=[source]), own_operator)
    return Mesh(name, root)


def product(name: str, domain: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "datamesh.dev/v1alpha1", "kind": "DataProduct",
        "metadata": {"name": name, "namespace": domain},
        "spec": {"domain": domain, "owner": "o@example.com", "description": f"lifecycle {name}",
                 "sla": {"freshness": "1 hour"}, "schema": [{"name": "customer_id", "type": "string"}],
                 "inputs": [{"source": "bronze.crm.customers", "alias": "c"}],
                 "transform": {"sql": "SELECT customer_id FROM c"}, "outputs": [{"name": "t", "format": "delta"}],
                 **spec},
    }  # fmt: skip


def jobs(crds: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = crds.kubectl("get", "jobs", "-n", namespace, "-l", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def running_build(crds: Cluster, namespace: str, name: str, operator: Operator) -> dict[str, Any]:
    """The product's build Job once its pod runs and the status names it as the running build."""

    def probe() -> dict[str, Any] | None:
        found = jobs(crds, namespace, f"datamesh.dev/product={name}")
        last = (crds.get("dataproduct", name, namespace).get("status") or {}).get("lastBuild") or {}
        if not found or last.get("outcome") != "Running" or last.get("job") != found[0]["metadata"]["name"]:
            return None
        return found[0] if (found[0].get("status") or {}).get("active") else None

    job: dict[str, Any] = wait_for(f"{name}'s build running", probe, timeout=180, operator=operator)
    return job


def wait_published(crds: Cluster, namespace: str, name: str, operator: Operator) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body = crds.get("dataproduct", name, namespace)
        return body if condition(body, "Ready").get("status") == "True" else None

    body: dict[str, Any] = wait_for(f"{namespace}/{name} Ready", probe, timeout=BUILD_TIMEOUT, operator=operator)
    return body


def forge_pod(crds: Cluster, namespace: str, job: str) -> str:
    """A pod anyone with pod rights in the namespace could create: labelled like the Job's, claiming a publish."""
    name = f"forged-{job}"[:63]
    write = 'printf %s "$MSG" > "/dev/termination-log"'
    container = {
        "name": "build",
        "image": crds.image or "busybox",
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", write],
        "env": [{"name": "MSG", "value": FORGED.to_json()}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    restricted = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
    crds.apply({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"job-name": job}},
        "spec": {"restartPolicy": "Never", "securityContext": restricted, "containers": [container]},
    })  # fmt: skip

    def terminated() -> str | None:
        pod = crds.get("pod", name, namespace)
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            message = ((status.get("state") or {}).get("terminated") or {}).get("message")
            if message:
                return str(message)
        return None

    message = wait_for("the forged pod's termination message", terminated, timeout=120)
    assert json.loads(message)["tableVersion"] == 41
    return name


@dataclass
class Built:
    deleted: dict[str, Any]
    kept: dict[str, Any]
    forged_pod: str
    job: dict[str, Any]


@pytest.fixture(scope="module")
def built(crds: Cluster, own_operator: Operator, mesh: Mesh) -> Built:
    """Two published products, one Delete and one Retain; while the first built, a forged pod claimed its result."""
    ns = mesh.domain
    crds.apply(yaml.safe_dump(product("doomed", ns, deletionPolicy="Delete")))
    crds.apply(yaml.safe_dump(product("kept", ns)))
    job = running_build(crds, ns, "doomed", own_operator)
    forged = forge_pod(crds, ns, job["metadata"]["name"])
    return Built(wait_published(crds, ns, "doomed", own_operator), wait_published(crds, ns, "kept", own_operator),
                 forged, job)  # fmt: skip


def test_a_forged_pod_result_is_ignored(crds: Cluster, mesh: Mesh, built: Built) -> None:
    status = built.deleted["status"]
    table = mesh.lake / mesh.domain / "gold" / "doomed"
    assert status["location"] == str(table)
    assert (status["tableVersion"], status["rowCount"]) == (0, len(delta.rows(table))) == (0, 1000)
    assert not status["dataUpdatedAt"].startswith("2030"), status["dataUpdatedAt"]
    assert status["lastBuild"]["job"] == built.job["metadata"]["name"]
    assert (condition(built.deleted, "Built")["status"], condition(built.deleted, "Built")["reason"]) == (
        "True", "Published")  # fmt: skip
    # The forged pod is still there, terminated with its claim: it was ignored, not merely missed.
    # (Its container's state: a kubelet reports the terminal phase only once the pod's sandbox is torn down.)
    forged = crds.get("pod", built.forged_pod, mesh.domain)["status"]
    assert forged["containerStatuses"][0]["state"].get("terminated"), forged


def test_delete_policy_removes_the_table_in_a_domain_job_and_retain_keeps_it(
    crds: Cluster, own_operator: Operator, mesh: Mesh, built: Built
) -> None:
    ns = mesh.domain
    doomed, kept = Path(built.deleted["status"]["location"]), Path(built.kept["status"]["location"])
    assert (doomed / "_delta_log").is_dir() and (kept / "_delta_log").is_dir()
    uid = built.deleted["metadata"]["uid"]
    crds.kubectl("delete", "dp", "doomed", "kept", "-n", ns, "--wait=false")

    def gone() -> bool:
        listed = crds.kubectl("get", "dp", "-n", ns, "-o", "name").stdout.split()
        return not listed

    wait_for("both products gone", gone, timeout=180, operator=own_operator)
    # The deletion pod mounts exactly the table's folder: what it holds goes, the (empty) folder itself stays.
    assert doomed.is_dir() and not any(doomed.iterdir()), "deletionPolicy Delete removes the published table"
    assert (kept / "_delta_log").is_dir() and delta.versions(kept) == [0], "Retain keeps it"
    deleting = jobs(crds, ns, f"{LABEL_DELETES}={uid}")
    assert len(deleting) == 1, [j["metadata"]["name"] for j in deleting]
    assert deleting[0]["metadata"]["namespace"] == ns and deleting[0]["status"].get("succeeded") == 1
    assert jobs(crds, ns, f"{LABEL_DELETES}={built.kept['metadata']['uid']}") == [], "Retain needs no Job"
    events = crds.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=doomed",
                          "-o", "jsonpath={.items[*].reason}").stdout  # fmt: skip
    assert "DeletionStarted" in events


def test_a_build_job_deleted_while_the_operator_is_down_is_rebuilt(
    crds: Cluster, own_operator: Operator, mesh: Mesh
) -> None:
    ns = mesh.domain
    crds.apply(yaml.safe_dump(product("phoenix", ns)))
    first = running_build(crds, ns, "phoenix", own_operator)["metadata"]["name"]
    own_operator.stop()
    crds.kubectl("delete", "job", first, "-n", ns, "--wait=true", "--timeout=60s")
    time.sleep(1)
    own_operator.start()
    seen: set[str] = set()

    def rebuilt() -> dict[str, Any] | None:
        body = crds.get("dataproduct", "phoenix", ns)
        built = condition(body, "Built")
        if built.get("status") == "False":
            seen.add(str(built.get("reason")))
        return body if condition(body, "Ready").get("status") == "True" else None

    body = wait_for("phoenix rebuilt and Ready", rebuilt, timeout=BUILD_TIMEOUT, operator=own_operator)
    last = body["status"]["lastBuild"]
    assert (last["job"], last["attempt"], last["outcome"]) == (f"{first}-2", 2, "Published"), last
    assert [j["metadata"]["name"] for j in jobs(crds, ns, "datamesh.dev/product=phoenix")] == [f"{first}-2"]
    assert seen <= {"JobDeleted"}, seen
    events = crds.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=phoenix",
                          "-o", "jsonpath={.items[*].message}").stdout  # fmt: skip
    assert "JobDeleted" in events, events
