"""A new major version published side by side with the previous one, end to end (docs/lifecycle.md): v1 is
published and read by two consumers, one pinning v1; the producer bumps to 2.0.0 with a breaking change; v2
publishes into its own table while v1's stays; the pinned consumer keeps reading v1, the other moves to v2; the
catalog lists both majors; when the pin goes, v1 is retired and its table kept; deleting the product under
deletionPolicy Delete deletes both tables. Real builds (Spark + Delta on the real node): five of them."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Cluster
from tests.operator import delta
from tests.operator.conftest import (
    Operator,
    apply_and_wait_domain,
    condition,
    domain_manifest,
    product_manifest,
    unique,
    wait_for,
)

pytestmark = [pytest.mark.spark, pytest.mark.local_lake]
BUILD_TIMEOUT = 600
V1_SCHEMA: list[dict[str, Any]] = [
    {"name": "customer_id", "type": "string", "primaryKey": True},
    {"name": "email", "type": "string", "nullable": True},
]
V2_SCHEMA: list[dict[str, Any]] = [
    {"name": "customer_id", "type": "string", "primaryKey": True},
    {"name": "segment", "type": "string"},
]


def reader(domain: str, name: str, sql: str, schema: list[dict[str, Any]], pin: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"product": "accounts", "alias": "a", **({"version": pin} if pin else {})}
    return product_manifest(name, domain, [item], sql=sql, schema=schema)


def published(crds: Cluster, name: str, namespace: str, operator: Operator | None, probe: Any) -> dict[str, Any]:
    """The product once Ready and `probe(status)` holds; fails fast on a failed build."""

    def check() -> dict[str, Any] | None:
        body = crds.get("dataproduct", name, namespace)
        built = condition(body, "Built")
        if built.get("status") == "False" and built.get("reason") not in (None, "Pending", "Building"):
            raise AssertionError(f"{name} failed to build: {built}\n{operator.tail() if operator else ''}")
        status = body.get("status") or {}
        return body if condition(body, "Ready").get("status") == "True" and probe(status) else None

    found: dict[str, Any] = wait_for(f"{namespace}/{name}", check, timeout=BUILD_TIMEOUT, operator=operator)
    return found


def test_a_new_major_is_published_side_by_side_with_the_previous_one(
    crds: Cluster, operator: Operator | None, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    subprocess.run([sys.executable, "-m", "datamesh.cli.main", "demo-data", "--out", str(lake), "--scale", "0.001"],
                   check=True, capture_output=True)  # fmt: skip
    ns = unique("major")
    source = {"name": "bronze.crm.customers", "location": str(lake / "sales/bronze/crm/customers"), "format": "parquet"}
    apply_and_wait_domain(crds, domain_manifest(ns, tmp_path, sources=[source]), operator)
    v1 = product_manifest("accounts", ns, [{"source": "bronze.crm.customers", "alias": "c"}],
                          sql="SELECT customer_id, email FROM c", schema=V1_SCHEMA, version="1.0.0")  # fmt: skip
    v1["spec"]["governance"]["accessPolicy"] = "organization"
    v1["spec"]["deletionPolicy"] = "Delete"
    crds.apply(v1)
    first = published(crds, "accounts", ns, operator, lambda s: s.get("tableVersion") == 0)
    v1_table = Path(first["status"]["location"])
    assert v1_table == tmp_path / ns / "gold" / "accounts"
    crds.apply(reader(ns, "pinned", "SELECT customer_id, email FROM a", V1_SCHEMA, "1"))
    crds.apply(reader(ns, "follower", "SELECT customer_id FROM a", V1_SCHEMA[:1], None))
    published(crds, "pinned", ns, operator, lambda s: s.get("tableVersion") == 0)
    published(crds, "follower", ns, operator, lambda s: s.get("tableVersion") == 0)

    # The breaking change (email goes, the pinned reader reads it): refused without a new major, accepted with one.
    v2 = copy.deepcopy(v1)
    v2["spec"]["schema"] = V2_SCHEMA
    v2["spec"]["transform"]["sql"] = "SELECT customer_id, 'new' AS segment FROM c"
    refused = crds.apply(v2, check=False)
    assert refused.returncode != 0 and f"consumer {ns}/pinned reads column 'email'" in refused.stderr
    v2["spec"]["version"] = "2.0.0"
    crds.apply(v2)
    v2_table = Path(f"{v1_table}@v2")
    body = published(crds, "accounts", ns, operator, lambda s: s.get("location") == str(v2_table))
    status = body["status"]
    assert status["homeMajor"] == 1 and status["publishedVersion"] == "2.0.0"
    assert [(p["major"], p["version"], p["location"], p["tableVersion"], p["consumers"])
            for p in status["previousVersions"]] == [(1, "1.0.0", str(v1_table), 0, [f"{ns}/pinned"])]  # fmt: skip
    # Two tables side by side: v1's untouched, v2's new.
    assert delta.versions(v1_table) == [0] and delta.versions(v2_table) == [0]
    assert {r["segment"] for r in delta.rows(v2_table)} == {"new"}
    assert "email" in delta.rows(v1_table)[0]

    # The follower moves to v2 (a new upstream table, though its version is 0 again); the pinned one stays on v1.
    published(crds, "follower", ns, operator,
              lambda s: s.get("upstreamVersions") == {f"{ns}/accounts@v2": 0})  # fmt: skip
    crds.kubectl("annotate", "dp", "pinned", "-n", ns, "--overwrite", "datamesh.dev/rebuild=still-v1")
    pinned = published(crds, "pinned", ns, operator, lambda s: s.get("tableVersion") == 1)
    assert pinned["status"]["upstreamVersions"] == {f"{ns}/accounts": 0}
    assert all("email" in row for row in delta.rows(Path(pinned["status"]["location"])))

    if operator is not None:
        # The catalog lists both majors.
        with create_engine(f"sqlite:///{operator.workdir / 'catalog.db'}").connect() as connection:
            rows = connection.execute(text(
                "SELECT v.major, v.current, v.location FROM product_versions v JOIN products p ON p.id = v.product_id"
                " WHERE p.namespace = :ns AND p.name = 'accounts' ORDER BY v.major"), {"ns": ns}).all()  # fmt: skip
        assert [(m, bool(c), loc) for m, c, loc in rows] == [(1, False, str(v1_table)), (2, True, str(v2_table))]

    # The pin goes: v1 is retired, its table kept (and remembered).
    crds.apply(reader(ns, "pinned", "SELECT customer_id FROM a", V1_SCHEMA[:1], None))

    def retired() -> dict[str, Any] | None:
        found = crds.get("dataproduct", "accounts", ns)
        return found if not (found.get("status") or {}).get("previousVersions") else None

    gone = wait_for("v1 retired", retired, timeout=120, operator=operator)
    assert gone["status"]["retiredLocations"] == [str(v1_table)]
    assert delta.versions(v1_table) == [0]
    events = crds.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=accounts",
                          "-o", "jsonpath={.items[*].reason}").stdout.split()  # fmt: skip
    assert "MajorVersionKept" in events and "MajorVersionRetired" in events

    # deletionPolicy Delete: deleting the product (its readers first, or the deletion is held) deletes every table
    # it published, the retired major's too; each deletion pod mounts only its own table's folder.
    for name in ("pinned", "follower"):
        crds.kubectl("delete", "dp", name, "-n", ns, "--wait=true", "--timeout=120s")
    crds.kubectl("delete", "dp", "accounts", "-n", ns, "--wait=true", "--timeout=300s")
    for table in (v2_table, v1_table):
        assert table.is_dir() and not any(table.iterdir()), f"{table} must be deleted with the product"
