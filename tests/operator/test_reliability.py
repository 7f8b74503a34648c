"""Reliability: the operator killed at random points, the API server and etcd restarted, a build pod deleted.
Every product converges, no generation ever gets two Jobs, nothing hangs. Opt out with --skip-reliability."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cluster
from tests.operator.conftest import Operator, apply_and_wait_domain, condition, domain_manifest, unique, wait_for
from tests.operator.test_builds import BUILD_TIMEOUT

pytestmark = pytest.mark.reliability


@pytest.fixture
def noop_operator(crds: Cluster, operator: Operator | None, tmp_path: Path) -> Iterator[Operator]:
    """The session's operator swapped for one whose builds are no-ops: many builds, seconds each."""
    if operator is None:
        pytest.skip("the operator runs in the cluster")
    operator.stop()
    swapped = Operator(crds, tmp_path, env={"DATAMESH_NOOP_BUILDS": "1"})
    swapped.start()
    try:
        yield swapped
    finally:
        swapped.stop()
        operator.start()


def _mesh(crds: Cluster, operator: Operator, tmp_path: Path, count: int) -> tuple[str, list[str]]:
    name = unique("rel")
    # No-op builds read nothing, but a Delta input must exist to be mounted (hostPath type Directory).
    (tmp_path / "raw").mkdir(exist_ok=True)
    domain = domain_manifest(name, tmp_path, sources=[{"name": "raw.events", "location": str(tmp_path / "raw")}])
    apply_and_wait_domain(crds, domain, operator)
    products = [f"p{i:02d}" for i in range(count)]
    for product in products:
        crds.apply(yaml.safe_dump({
            "apiVersion": "datamesh.dev/v1alpha1", "kind": "DataProduct",
            "metadata": {"name": product, "namespace": name},
            "spec": {"domain": name, "owner": "o@example.com", "description": "reliability",
                     "sla": {"freshness": "1 hour"}, "schema": [{"name": "id", "type": "string"}],
                     "inputs": [{"source": "raw.events", "alias": "raw"}], "transform": {"sql": "SELECT id FROM raw"},
                     "outputs": [{"name": "t", "format": "delta"}]},
        }))  # fmt: skip
    return name, products


def _all_ready(crds: Cluster, namespace: str, products: list[str]) -> list[str]:
    items = json.loads(crds.kubectl("get", "dataproducts", "-n", namespace, "-o", "json").stdout)["items"]
    ready = {i["metadata"]["name"] for i in items if condition(i, "Ready").get("status") == "True"}
    return [p for p in products if p not in ready]


def _jobs(crds: Cluster, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(crds.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)["items"]
    return items


def _assert_one_job_per_generation(crds: Cluster, namespace: str) -> None:
    seen: dict[tuple[str, str, str], list[str]] = {}
    for job in _jobs(crds, namespace):
        labels = job["metadata"]["labels"]
        key = (labels["datamesh.dev/product"], labels["datamesh.dev/generation"], labels["datamesh.dev/trigger"])
        seen.setdefault(key, []).append(job["metadata"]["name"])
    duplicates = {k: v for k, v in seen.items() if len(v) > 1}
    assert not duplicates, duplicates


def test_killing_the_operator_at_random_points_loses_nothing(
    crds: Cluster, noop_operator: Operator, tmp_path: Path
) -> None:
    namespace, products = _mesh(crds, noop_operator, tmp_path, 20)
    chaos = random.Random(7)
    for _ in range(4):
        time.sleep(chaos.uniform(0.5, 4.0))
        noop_operator.stop(signal.SIGKILL)
        noop_operator.start()
    wait_for("every product Ready", lambda: not _all_ready(crds, namespace, products), timeout=240,
             operator=noop_operator)  # fmt: skip
    _assert_one_job_per_generation(crds, namespace)
    for product in products:
        status = crds.get("dataproduct", product, namespace)["status"]
        assert status["lastBuild"]["outcome"] == "Published"
        assert status["observedGeneration"] == 1


def test_restarting_the_api_server_and_etcd_mid_run_converges(
    crds: Cluster, noop_operator: Operator, tmp_path: Path
) -> None:
    if crds.plane is None:
        pytest.skip("the control plane is not ours to restart")
    namespace, products = _mesh(crds, noop_operator, tmp_path, 10)
    time.sleep(2)
    crds.plane.restart("etcd", "kube-apiserver")
    wait_for("every product Ready after the restart", lambda: not _all_ready(crds, namespace, products),
             timeout=300, operator=noop_operator)  # fmt: skip
    assert noop_operator.process is not None and noop_operator.process.poll() is None
    _assert_one_job_per_generation(crds, namespace)
    # The watch streams are alive again: a new product is picked up without a restart of the operator.
    crds.kubectl("annotate", "dp", products[0], "-n", namespace, "datamesh.dev/rebuild=after-restart")
    wait_for(
        "a rebuild after the restart",
        lambda: any(j["metadata"]["labels"]["datamesh.dev/trigger"] == "manual" for j in _jobs(crds, namespace)),
        timeout=120,
        operator=noop_operator,
    )


@pytest.mark.local_lake
def test_deleting_a_running_build_pod_retries_or_fails_never_hangs(
    crds: Cluster, operator: Operator | None, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    subprocess.run([sys.executable, "-m", "datamesh.cli.main", "demo-data", "--out", str(lake), "--scale", "0.001"],
                   check=True, capture_output=True)  # fmt: skip
    name = unique("podkill")
    source = {"name": "bronze.crm.customers", "location": str(lake / "sales/bronze/crm/customers"), "format": "parquet"}
    apply_and_wait_domain(crds, domain_manifest(name, tmp_path, sources=[source]), operator)
    crds.apply(yaml.safe_dump({
        "apiVersion": "datamesh.dev/v1alpha1", "kind": "DataProduct", "metadata": {"name": "victim", "namespace": name},
        "spec": {"domain": name, "owner": "o@example.com", "description": "pod deletion",
                 "sla": {"freshness": "1 hour"}, "schema": [{"name": "customer_id", "type": "string"}],
                 "inputs": [{"source": "bronze.crm.customers", "alias": "c"}],
                 "transform": {"sql": "SELECT customer_id FROM c"}, "outputs": [{"name": "t", "format": "delta"}]},
    }))  # fmt: skip

    def running_pod() -> str | None:
        pods = json.loads(crds.kubectl("get", "pods", "-n", name, "-o", "json").stdout)["items"]
        running = [p["metadata"]["name"] for p in pods if (p.get("status") or {}).get("phase") == "Running"]
        return running[0] if running else None

    pod = wait_for("a running build pod", running_pod, timeout=120, operator=operator)
    time.sleep(3)
    crds.kubectl("delete", "pod", pod, "-n", name, "--wait=false")
    seen_reasons: set[str] = set()

    def settled() -> dict[str, Any] | None:
        body = crds.get("dataproduct", "victim", name)
        built = condition(body, "Built")
        if built.get("status") == "False":
            seen_reasons.add(built.get("reason", ""))
            if built.get("reason") not in ("PodDeleted", "PodFailed", "Pending"):
                raise AssertionError(f"the deleted pod gave a non-infrastructure failure: {built}")
        return body if condition(body, "Ready").get("status") == "True" else None

    body = wait_for("Ready after a retry", settled, timeout=BUILD_TIMEOUT, operator=operator)
    # Either the Job replaced the pod, or the operator saw a failed build (an infrastructure reason, never an
    # application one) and retried it.
    assert not seen_reasons & {"SqlError", "SchemaViolation", "QualityFailed"}, seen_reasons
    assert body["status"]["lastBuild"]["outcome"] == "Published"
    retried = body["status"]["lastBuild"]["attempt"] > 1
    assert retried or not seen_reasons, (seen_reasons, body["status"]["lastBuild"])
    if retried:
        events = crds.kubectl("get", "events", "-n", name, "--field-selector", "involvedObject.name=victim",
                              "-o", "jsonpath={.items[*].message}").stdout  # fmt: skip
        assert "PodDeleted" in events, events
