"""Security enforced by the node, not only declared: the operator's own build Job, for a domain whose storage is
a PersistentVolumeClaim, admitted under Pod Security `restricted`, running in a container as uid 1000 on a
read-only root (seen from inside, by exec), writing its table; and another domain's pods cannot get at that
storage at all."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamesh.api import DataProduct
from datamesh.api.domain import Domain
from datamesh.controller.config import OperatorConfig
from datamesh.controller.jobs import build_job
from datamesh.mesh.contract import BuildRequest
from datamesh.mesh.resolve import output_location, resolve_inputs
from datamesh.mesh.world import World
from tests.conftest import BUILD_UID, Cluster

pytestmark = pytest.mark.local_lake
MOUNT = "/data"
TIMEOUT = 300


@dataclass
class Vault:
    namespace: str
    host: Path
    """The host folder behind the domain's PersistentVolume."""


def restricted_namespace(cluster: Cluster, name: str) -> None:
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")


@pytest.fixture
def vault(cluster: Cluster) -> Iterator[Vault]:
    """A domain namespace under `restricted` with its storage on a claim bound to an administrator's volume."""
    if not cluster.image or cluster.lake_root is None:
        pytest.fail("needs the local cluster's node and image (the same checks on kind: scripts/e2e-kind.sh)")
    name = f"vault-{uuid.uuid4().hex[:6]}"
    restricted_namespace(cluster, name)
    host = cluster.lake_root / name
    (host / "bronze" / "events").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a", "b", "c"], "amount": [1, 2, 3]}), host / "bronze/events/part-0.parquet")
    # World-writable like a volume whose fsGroup the kubelet applies: the subPath folders it creates for a
    # build's output inherit the mode (hostPath volumes get no fsGroup).
    os.chmod(host, 0o777)
    cluster.apply({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                 "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": str(host), "type": "Directory"},
                 "claimRef": {"namespace": name, "name": f"{name}-storage"}},
    })  # fmt: skip
    cluster.apply({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": f"{name}-storage", "namespace": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": name,
                 "resources": {"requests": {"storage": "1Gi"}}},
    })  # fmt: skip
    account = {"name": "datamesh-builder", "namespace": name}
    cluster.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": account})
    yield Vault(name, host)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
    cluster.kubectl("delete", "pv", name, "--wait=false", check=False)


def build_manifest(cluster: Cluster, vault: Vault) -> dict[str, Any]:
    """The Job the operator creates for a product of this domain (the same functions, not a copy)."""
    domain = Domain.model_validate({
        "apiVersion": "datamesh.dev/v1alpha1", "kind": "Domain", "metadata": {"name": vault.namespace},
        "spec": {"owner": "vault@example.com", "description": "restricted domain",
                 "storage": {"location": f"{MOUNT}/gold", "volume": {"mountPath": MOUNT, "size": "1Gi"}},
                 "sources": [{"name": "raw.events", "location": f"{MOUNT}/bronze/events", "format": "parquet"}]},
    })  # fmt: skip
    product = DataProduct.model_validate({
        "apiVersion": "datamesh.dev/v1alpha1", "kind": "DataProduct",
        "metadata": {"name": "totals", "namespace": vault.namespace, "uid": str(uuid.uuid4())},
        "spec": {"domain": vault.namespace, "owner": "vault@example.com", "description": "totals",
                 "sla": {"freshness": "1 hour", "qualityScore": 0.5},
                 "schema": [{"name": "id", "type": "string", "primaryKey": True}, {"name": "amount", "type": "long"}],
                 "inputs": [{"source": "raw.events"}],
                 "transform": {"sql": "SELECT id, amount * 10 AS amount FROM `raw.events`"},
                 "outputs": [{"name": "table", "format": "delta"}]},
    })  # fmt: skip
    world = World({domain.name: domain}, {(vault.namespace, "totals"): product}, {})
    resolution = resolve_inputs(product, world)
    assert resolution.problem_reason is None, resolution.problem_message
    location = output_location(product, world)
    assert location is not None
    request = BuildRequest(namespace=vault.namespace, name="totals", domain=vault.namespace, generation=1,
                           run_id="r1", spec=product.spec, inputs=resolution.inputs,
                           output_location=location)  # fmt: skip
    config = OperatorConfig(image=cluster.image, image_pull_policy="Never", lake_host_path="")
    job = build_job(product, domain, request, name="totals-1", trigger="spec", token="spec:g1", attempt=1,
                    upstream_versions={}, config=config)  # fmt: skip
    job["metadata"].pop("ownerReferences")  # no DataProduct object stands behind this Job
    return job


def test_build_pod_runs_confined_under_restricted(cluster: Cluster, vault: Vault) -> None:
    cluster.apply(build_manifest(cluster, vault))
    pod = wait_for_pod(cluster, vault.namespace, "job-name=totals-1", {"Running", "Succeeded", "Failed"})
    name = pod["metadata"]["name"]
    # From inside the running build (its JVM alone takes seconds to start): its uid and group, and a root
    # filesystem it cannot write.
    assert pod["status"]["phase"] == "Running", pod["status"]
    probe = cluster.kubectl("exec", name, "-n", vault.namespace, "-c", "build", "--", "sh", "-c",
                            "id -u; id -g; touch /opt/datamesh/x 2>&1 || true")  # fmt: skip
    uid, gid, *touch = probe.stdout.splitlines()
    assert (uid, gid) == (str(BUILD_UID), str(BUILD_UID))
    assert "Read-only file system" in " ".join(touch)
    done = wait_for_pod(cluster, vault.namespace, "job-name=totals-1", {"Succeeded", "Failed"})
    log = cluster.kubectl("logs", name, "-n", vault.namespace, "-c", "build", check=False).stdout
    assert done["status"]["phase"] == "Succeeded", log[-3000:]
    # What it wrote is the build user's, in the product's folder of the claim and nowhere else on it.
    table = vault.host / "gold" / "totals"
    assert (table / "_delta_log").is_dir(), sorted(str(p) for p in vault.host.rglob("*"))
    owners = {path.stat().st_uid for path in table.rglob("*")}
    assert owners == {BUILD_UID}
    assert sorted(p.name for p in vault.host.iterdir()) == ["bronze", "gold"]


def test_another_domain_cannot_reach_this_domains_storage(cluster: Cluster, vault: Vault) -> None:
    intruder = f"intruder-{uuid.uuid4().hex[:6]}"
    restricted_namespace(cluster, intruder)
    try:
        spec = {"restartPolicy": "Never", "securityContext": {"runAsNonRoot": True, "runAsUser": BUILD_UID,
                                                              "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "c", "image": cluster.image, "imagePullPolicy": "Never",
                                "command": ["ls", "/steal"], "volumeMounts": [{"name": "v", "mountPath": "/steal"}],
                                "securityContext": {"allowPrivilegeEscalation": False,
                                                    "capabilities": {"drop": ["ALL"]}}}]}  # fmt: skip
        # The host folder itself: refused at admission by Pod Security.
        host = {**spec, "volumes": [{"name": "v", "hostPath": {"path": str(vault.host)}}]}
        meta = {"name": "by-host", "namespace": intruder}
        refused = cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": host}, check=False)
        assert refused.returncode != 0 and "hostPath" in refused.stderr, refused.stderr
        # The domain's claim by name: claims are namespaced, so the pod never starts.
        theirs = {"claimName": f"{vault.namespace}-storage"}
        claim = {**spec, "volumes": [{"name": "v", "persistentVolumeClaim": theirs}]}
        meta = {"name": "by-claim", "namespace": intruder}
        cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": claim})
        time.sleep(5)
        pod = cluster.get("pod", "by-claim", intruder)
        assert pod["status"]["phase"] == "Pending"
        events = cluster.kubectl("get", "events", "-n", intruder, "-o", "jsonpath={.items[*].message}").stdout
        assert "not found" in events, events
        # The volume itself stays bound to this domain's claim only.
        pv = cluster.get("pv", vault.namespace)
        assert pv["spec"]["claimRef"]["namespace"] == vault.namespace
    finally:
        cluster.kubectl("delete", "namespace", intruder, "--wait=false", check=False)


def wait_for_pod(cluster: Cluster, namespace: str, selector: str, phases: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        listed = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
        pods = json.loads(listed)["items"]
        if pods and pods[0].get("status", {}).get("phase") in phases:
            found: dict[str, Any] = pods[0]
            return found
        time.sleep(0.5)
    events = cluster.kubectl("get", "events", "-n", namespace, check=False).stdout
    raise AssertionError(f"no pod {selector} in {phases} after {TIMEOUT}s\n{events}")
