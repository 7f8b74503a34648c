"""The chart installed for real: `helm install` of charts/datamesh-operator into the local cluster with the image
built here. The operator runs as a Pod from the image, the API server reaches its admission webhook through the
Service with the chart's TLS certificates, the catalog API runs as its own Deployment on the operator's
catalog, and a product is built to Ready by a build pod the in-cluster operator creates.

The session's own operator (a host process) is stopped meanwhile: two operators must not reconcile the same
objects. The same checks run against kind in scripts/e2e-kind.sh."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import CLUSTER_ROLES, REPO, Cluster, open_to_builds
from tests.operator.conftest import Operator, condition, domain_manifest, unique, wait_for

pytestmark = pytest.mark.local_lake
CHART = REPO / "charts" / "datamesh-operator"
RELEASE = "datamesh"
NAMESPACE = "datamesh-chart"
TIMEOUT = 300


@dataclass
class Installed:
    cluster: Cluster
    helm: Path
    lake: Path

    def run_helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(self.helm), *args], capture_output=True, text=True, env=self.cluster.env,
                                timeout=600)  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)}: {result.stderr}\n{self.diagnostics()}")
        return result

    def diagnostics(self) -> str:
        k = self.cluster.kubectl
        return "\n".join([
            k("get", "pods", "-n", NAMESPACE, "-o", "wide", check=False).stdout,
            k("get", "events", "-n", NAMESPACE, check=False).stdout[-3000:],
            k("logs", "-n", NAMESPACE, f"deployment/{RELEASE}-datamesh-operator", "--tail=80", check=False).stdout,
        ])  # fmt: skip


def adopt_for_helm(cluster: Cluster, kind: str, name: str) -> None:
    """Objects the test session applied before the chart (the workspace ClusterRoles): Helm adopts an existing
    object only when it carries the release's ownership metadata."""
    cluster.kubectl("annotate", "--overwrite", kind, name, f"meta.helm.sh/release-name={RELEASE}",
                    f"meta.helm.sh/release-namespace={NAMESPACE}")  # fmt: skip
    cluster.kubectl("label", "--overwrite", kind, name, "app.kubernetes.io/managed-by=Helm")


def catalog_claim(cluster: Cluster, host: Path) -> str:
    """The SQLite catalog's claim, bound to an administrator's volume (the cluster has no dynamic provisioner)."""
    host.mkdir(parents=True, exist_ok=True)
    open_to_builds(host)  # the operator and API pods run as the image's user
    name = f"{NAMESPACE}-catalog"
    cluster.apply({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                 "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": str(host), "type": "Directory"},
                 "claimRef": {"namespace": NAMESPACE, "name": "catalog"}},
    })  # fmt: skip
    cluster.apply({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "catalog", "namespace": NAMESPACE},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": name,
                 "resources": {"requests": {"storage": "1Gi"}}},
    })  # fmt: skip
    return "catalog"


@pytest.fixture(scope="module")
def installed(crds: Cluster, operator: Operator | None, helm: Path) -> Iterator[Installed]:
    if not crds.image or crds.lake_root is None:
        pytest.fail("needs the local cluster's node and image (against kind: scripts/e2e-kind.sh)")
    root = crds.lake_root
    lake = open_to_builds(root / "chart-lake")
    if operator is not None:
        operator.stop()
    crds.kubectl("create", "namespace", NAMESPACE)
    claim = catalog_claim(crds, root / "chart-catalog")
    roles = [d for d in yaml.safe_load_all(CLUSTER_ROLES.read_text()) if d]
    for role in roles:
        adopt_for_helm(crds, role["kind"], role["metadata"]["name"])
    repository, tag = crds.image.rsplit(":", 1)
    found = Installed(crds, helm, lake)
    try:
        found.run_helm(
            "upgrade", "--install", RELEASE, str(CHART), "--namespace", NAMESPACE,
            "--set", f"image.repository={repository}", "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
            "--set", "builds.image.pullPolicy=Never",
            "--set", "crds.create=false",  # the session's CRDs, which other tests' objects use
            "--set", f"storage.lakeHostPath={root}", "--set", "storage.mountInOperator=true",
            "--set", "rbac.domainPodSecurityLevel=privileged",
            "--set", f"catalog.database.sqlite.persistence.existingClaim={claim}",
            "--set", "operator.retryBackoffSeconds=2", "--set", "operator.coalesceSeconds=2",
            "--wait", "--timeout", "5m",
        )  # fmt: skip
        yield found
    finally:
        found.run_helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "2m", check=False)
        crds.kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=120s", check=False)
        crds.kubectl("delete", "pv", f"{NAMESPACE}-catalog", "--wait=false", check=False)
        # Uninstalling removed the adopted ClusterRoles: the session's operator binds them in workspaces.
        crds.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CLUSTER_ROLES))
        if operator is not None:
            operator.start()


def pods(cluster: Cluster, selector: str, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def test_operator_and_catalog_api_run_as_pods_of_the_image(installed: Installed) -> None:
    cluster = installed.cluster
    for component in ("operator", "catalog-api"):
        running = [p for p in pods(cluster, f"app.kubernetes.io/component={component}")
                   if p["status"].get("phase") == "Running"]  # fmt: skip
        assert running, f"no {component} pod running:\n{installed.diagnostics()}"
        container = running[0]["spec"]["containers"][0]
        assert container["image"] == cluster.image
        status = running[0]["status"]["containerStatuses"][0]
        assert status["ready"] and status["imageID"], status
    # The catalog API answers through its Service (kube-proxy takes the cluster IP to the pod).
    service = cluster.get("service", f"{RELEASE}-datamesh-operator-api", NAMESPACE)
    address = f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"
    with urllib.request.urlopen(f"{address}/readyz", timeout=10) as response:  # the catalog answers
        assert response.status == 200


def test_webhook_is_reached_through_its_service_with_tls(installed: Installed) -> None:
    cluster = installed.cluster
    config = cluster.get("validatingwebhookconfiguration", "datamesh.dev")
    client = config["webhooks"][0]["clientConfig"]
    assert client.get("service", {}).get("namespace") == NAMESPACE and "url" not in client, client
    assert client.get("caBundle"), "the API server verifies the webhook's certificate"
    # A transform only the webhook can judge (the CRD schema cannot parse SQL) is refused by the in-cluster
    # webhook, naming the field: proof that the API server reached it through the Service over TLS.
    bad = {"apiVersion": "datamesh.dev/v1alpha1", "kind": "DataProduct",
           "metadata": {"name": unique("refused"), "namespace": NAMESPACE},
           "spec": {"domain": NAMESPACE, "owner": "o@example.com", "description": "d",
                    "sla": {"freshness": "1 hour", "qualityScore": 0.9},
                    "schema": [{"name": "x", "type": "string"}], "inputs": [{"source": "raw.events"}],
                    "transform": {"sql": "SELECT reflect('java.lang.System', 'exit', 0) AS x FROM `raw.events`"},
                    "outputs": [{"name": "table", "format": "delta"}]}}  # fmt: skip

    def refused() -> str | None:
        result = cluster.apply(bad, check=False)
        if result.returncode == 0:
            cluster.kubectl("delete", "dataproduct", bad["metadata"]["name"], "-n", NAMESPACE, "--wait=false")
            return None
        return result.stderr

    message = wait_for("the in-cluster webhook refusing a hostile transform", refused, timeout=60)
    assert "admission webhook" in message and "reflect" in message, message


def test_a_product_is_built_to_ready_by_the_in_cluster_operator(installed: Installed) -> None:
    cluster, lake = installed.cluster, installed.lake
    name = unique("chart")
    source = lake / name / "bronze" / "events"
    source.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a", "b", "c"], "amount": [1, 2, 3]}), source / "part-0.parquet")
    domain = domain_manifest(name, lake, sources=[{"name": "raw.events", "location": str(source), "format": "parquet"}])
    cluster.apply(domain)
    wait_for(f"domain {name} Ready", lambda: condition(cluster.get("domain", name), "Ready").get("status") == "True",
             timeout=TIMEOUT)  # fmt: skip
    product = {
        "apiVersion": "datamesh.dev/v1alpha1", "kind": "DataProduct", "metadata": {"name": "totals", "namespace": name},
        "spec": {"domain": name, "owner": "team@example.com", "description": "totals built in-cluster",
                 "sla": {"freshness": "1 hour", "qualityScore": 0.9},
                 "schema": [{"name": "id", "type": "string", "primaryKey": True}, {"name": "amount", "type": "long"}],
                 "inputs": [{"source": "raw.events"}],
                 "transform": {"sql": "SELECT id, amount * 10 AS amount FROM `raw.events`"},
                 "outputs": [{"name": "table", "format": "delta"}],
                 "governance": {"qualityChecks": [{"type": "uniqueness", "column": "id"}]}},
    }  # fmt: skip
    cluster.apply(product)
    started = time.monotonic()

    def ready() -> dict[str, Any] | None:
        body = cluster.get("dataproduct", "totals", name)
        built = condition(body, "Built")
        if built.get("status") == "False" and built.get("reason") not in (None, "Pending"):
            raise AssertionError(f"build failed: {built}\n{installed.diagnostics()}")
        return body if condition(body, "Ready").get("status") == "True" else None

    body = wait_for("totals Ready", ready, timeout=TIMEOUT)
    table = Path(body["status"]["location"])
    assert (table / "_delta_log").is_dir()
    builds = pods(cluster, "app.kubernetes.io/component=build", name)
    assert builds and builds[0]["spec"]["containers"][0]["image"] == cluster.image
    print(f"chart-installed operator: apply -> Ready in {time.monotonic() - started:.1f}s")
    cluster.kubectl("delete", "domain", name, "--wait=false", check=False)
