"""A domain's warm engine on the real node: Spark Connect per domain (`compute.engine: connect`).

The engine pod runs from the project's image, the builds are small client pods, the table is published as a pod
build would publish it, nothing of the lake outside the product's folder changes, the engine goes to zero replicas
when idle and the next build brings it back."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import Cluster, open_to_builds
from tests.operator import delta
from tests.operator.conftest import Operator, condition, wait_for

pytestmark = [pytest.mark.spark, pytest.mark.local_lake]
TIMEOUT = 600
NS = "warm"


def customers_folder(root: Path) -> Path:
    return root / "sales" / "bronze" / "crm" / "customers"


def _domain(root: Path) -> dict[str, Any]:
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "Domain",
        "metadata": {"name": NS},
        "spec": {
            "owner": "warm-team@example.com",
            "description": "a domain with a warm engine",
            "storage": {"location": str(root / NS / "gold")},
            "compute": {
                "engine": "connect",
                "connect": {"resources": {"cpu": "500m", "memory": "2Gi"}, "idleAfter": "1 minute"},
                "driver": {"cpu": "250m", "memory": "1Gi"},
            },
            "sources": [{"name": "bronze.crm.customers", "location": str(customers_folder(root)), "format": "parquet",
                         "columns": [{"name": "email", "pii": True, "classification": "PERSONAL.EMAIL"}]}],
        },
    }  # fmt: skip


def _product(name: str, sql: str) -> dict[str, Any]:
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "DataProduct",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "domain": NS,
            "owner": "warm-team@example.com",
            "description": f"built on the warm engine: {name}",
            "sla": {"freshness": "1 hour", "qualityScore": 0.9},
            "schema": [
                {"name": "customer_id", "type": "string", "primaryKey": True},
                {"name": "email", "type": "string", "nullable": True, "pii": True, "classification": "PERSONAL.EMAIL"},
            ],
            "inputs": [{"source": "bronze.crm.customers", "alias": "customers"}],
            "transform": {"sql": sql},
            "outputs": [{"name": "table", "format": "delta"}],
            "governance": {
                "qualityChecks": [
                    {"type": "uniqueness", "column": "customer_id"},
                    {"type": "format", "column": "email", "pattern": "^[^@]+@[^@]+$", "threshold": 0.9},
                    {"type": "sql", "name": "ids", "expression": "length(customer_id) > 0"},
                ]
            },
        },
    }


@pytest.fixture(scope="module")
def lake(crds: Cluster, operator: Operator | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("warm-lake")
    subprocess.run([sys.executable, "-m", "datamesh.cli.main", "demo-data", "--out", str(root), "--scale", "0.001"],
                   check=True, capture_output=True)  # fmt: skip
    (root / NS / "gold").mkdir(parents=True)
    open_to_builds(root)
    crds.apply(yaml.safe_dump(_domain(root)))
    wait_for("domain warm Ready", lambda: condition(crds.get("domain", NS), "Ready").get("status") == "True",
             operator=operator)  # fmt: skip
    yield root
    crds.kubectl("delete", "domain", NS, "--wait=false")


def _hashes(root: Path, skip: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and skip not in p.parents
    }


def _deployment(cluster: Cluster) -> dict[str, Any]:
    out = cluster.kubectl("get", "deployment", "datamesh-engine", "-n", NS, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def _ready(cluster: Cluster, name: str, operator: Operator | None, version: int = 0) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body = cluster.get("dataproduct", name, NS)
        built = condition(body, "Built")
        if built.get("status") == "False" and built.get("reason") not in (None, "Pending"):
            raise AssertionError(f"{name} failed to build: {built}\n{operator.tail() if operator else ''}")
        status = body.get("status") or {}
        ready = condition(body, "Ready").get("status") == "True"
        return body if ready and (status.get("tableVersion") or 0) >= version else None

    found: dict[str, Any] = wait_for(f"{NS}/{name} Ready", probe, timeout=TIMEOUT, operator=operator)
    return found


def test_builds_run_on_the_domains_warm_engine_and_it_sleeps_when_idle(
    crds: Cluster, operator: Operator | None, lake: Path
) -> None:
    table = lake / NS / "gold" / "on-engine"
    before = _hashes(lake, table)
    crds.apply(yaml.safe_dump(_product("on-engine", "SELECT customer_id, lower(email) AS email FROM customers")))
    body = _ready(crds, "on-engine", operator)
    status = body["status"]
    assert status["rowCount"] == 1000 and status["qualityScore"] == 1.0
    assert all(c["passed"] for c in status["checks"])
    # A client pod, not a JVM of its own: the Job says so, and so does the event a user reads.
    jobs = json.loads(crds.kubectl("get", "jobs", "-n", NS, "-l", "datamesh.dev/product=on-engine",
                                   "-o", "json").stdout)["items"]  # fmt: skip
    assert [j["metadata"]["labels"].get("datamesh.dev/engine") for j in jobs] == ["client"]
    events = crds.kubectl("get", "events", "-n", NS, "--field-selector", "involvedObject.name=on-engine",
                          "-o", "jsonpath={.items[*].message}").stdout  # fmt: skip
    assert "on the domain's warm engine" in events
    engine = _deployment(crds)
    assert engine["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    # Same data as the source, as any pod build would have published it.
    source = pq.read_table(customers_folder(lake)).to_pylist()
    expected = sorted((r["customer_id"], r["email"].lower() if r["email"] is not None else None) for r in source)
    assert sorted((r["customer_id"], r["email"]) for r in delta.rows(table)) == expected
    assert delta.versions(table) == [0]
    # Nothing outside the product's own folder changed (the engine mounts the whole domain and the inputs).
    assert _hashes(lake, table) == before

    # Idle for its minute: zero replicas; the next build starts it again and waits for it.
    wait_for("the engine scaled to zero", lambda: _deployment(crds).get("spec", {}).get("replicas") == 0,
             timeout=240, operator=operator)  # fmt: skip
    crds.kubectl("annotate", "dp", "on-engine", "-n", NS, "datamesh.dev/rebuild=again", "--overwrite")
    _ready(crds, "on-engine", operator, version=1)
    assert _deployment(crds)["spec"]["replicas"] == 1
    assert delta.versions(table) == [0, 1]
    assert _hashes(lake, table) == before
    crds.kubectl("delete", "dp", "on-engine", "-n", NS, "--wait=false")
