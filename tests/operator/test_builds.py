"""Real builds end to end: the operator launches Jobs, the real node runs them in containers of the project's
image with real Spark and Delta, the results come back through the pod status. These are the suite's
Spark-heavy cases: keep them few."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.controller.runtime import DATA_FINALIZER, SHARES_FINALIZER
from tests.conftest import REPO, Cluster, open_to_builds
from tests.operator import delta
from tests.operator.conftest import SHARING_ENDPOINT, Operator, condition, wait_for
from tests.operator.test_metrics import sample, scrape

pytestmark = [pytest.mark.spark, pytest.mark.local_lake]
BUILD_TIMEOUT = 600
SCHEMA = [
    {"name": "customer_id", "type": "string", "primaryKey": True},
    {"name": "email", "type": "string", "nullable": True, "pii": True, "classification": "PERSONAL.EMAIL"},
]


@pytest.fixture(scope="module")
def lake(crds: Cluster, operator: Operator | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example domains, with their storage moved into a temporary lake holding small demo data."""
    root = tmp_path_factory.mktemp("lake")
    subprocess.run([sys.executable, "-m", "datamesh.cli.main", "demo-data", "--out", str(root), "--scale", "0.001"],
                   check=True, capture_output=True)  # fmt: skip
    domains = [path.read_text().replace("/var/lib/datamesh/lake", str(root))
               for path in sorted((REPO / "examples" / "domains").glob("*.yaml"))]  # fmt: skip
    for text in domains:
        Path(yaml.safe_load(text)["spec"]["storage"]["location"]).mkdir(parents=True, exist_ok=True)
    open_to_builds(root)
    for text in domains:
        crds.apply(text)
    for name in ("sales", "marketing", "customer-success"):
        wait_for(f"domain {name}", lambda n=name: condition(crds.get("domain", n), "Ready").get("status") == "True",
                 operator=operator)  # fmt: skip
    yield root


def product(name: str, namespace: str, sql: str, inputs: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "DataProduct",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "domain": namespace,
            "owner": "team@example.com",
            "description": f"end-to-end product {name}",
            "sla": {"freshness": "1 hour", "qualityScore": 0.9},
            "schema": SCHEMA,
            "inputs": inputs,
            "transform": {"sql": sql},
            "outputs": [{"name": "table", "format": "delta"}],
            "governance": {"qualityChecks": [{"type": "uniqueness", "column": "customer_id"}]},
        },
    }
    body["spec"].update(spec)
    return body


def wait_ready(
    cluster: Cluster, name: str, namespace: str, operator: Operator | None, *, version: int = 0
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body = cluster.get("dataproduct", name, namespace)
        ready = condition(body, "Ready")
        built = condition(body, "Built")
        if built.get("status") == "False" and built.get("reason") not in (None, "Pending"):
            raise AssertionError(f"{name} failed to build: {built}\n{operator.tail() if operator else ''}")
        status = body.get("status") or {}
        return body if ready.get("status") == "True" and (status.get("tableVersion") or 0) >= version else None

    result: dict[str, Any] = wait_for(f"{namespace}/{name} Ready", probe, timeout=BUILD_TIMEOUT, operator=operator)
    return result


def jobs_of(cluster: Cluster, name: str, namespace: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-l", f"datamesh.dev/product={name}", "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


@pytest.fixture(scope="module")
def customers(crds: Cluster, operator: Operator | None, lake: Path) -> dict[str, Any]:
    """A published base product in the sales domain that other tests read."""
    crds.apply(yaml.safe_dump(product("customers-clean", "sales", "SELECT customer_id, email FROM customers",
                                      [{"source": "bronze.crm.customers", "alias": "customers"}])))  # fmt: skip
    return wait_ready(crds, "customers-clean", "sales", operator)


def test_example_customer_360_is_built_checked_and_published(
    crds: Cluster, operator: Operator | None, lake: Path
) -> None:
    text = (REPO / "examples" / "products" / "customer-360.yaml").read_text()
    crds.apply(text.replace("/var/lib/datamesh/lake", str(lake)))
    body = wait_ready(crds, "customer-360", "sales", operator)
    status = body["status"]
    assert status["qualityScore"] >= 0.95
    assert status["dataUpdatedAt"] and status["rowCount"] == 1000
    assert {c["name"] for c in status["checks"]} >= {"completeness", "uniqueness", "no-negative-activity"}
    assert all(c["passed"] for c in status["checks"] if c.get("severity", "error") == "error")
    table = Path(status["location"])
    assert table == lake / "sales" / "gold" / "customer-360"
    assert delta.versions(table) == [0]
    assert len(delta.rows(table)) == 1000
    row = crds.kubectl("get", "dp", "customer-360", "-n", "sales", "--no-headers").stdout.split()
    assert row[3] == "True" and float(row[4]) >= 0.95
    events = crds.kubectl("get", "events", "-n", "sales", "--field-selector",
                          "involvedObject.name=customer-360", "-o", "jsonpath={.items[*].reason}").stdout  # fmt: skip
    assert "BuildStarted" in events and "BuildSucceeded" in events
    if operator is not None:
        # The build pod reported OpenLineage START and COMPLETE events through the transport the operator passed on.
        lineage = [json.loads(line) for line in operator.lineage.read_text().splitlines() if line.strip()]
        kinds = [e["eventType"] for e in lineage if e["job"]["name"] == "sales.customer-360"]
        assert kinds[-2:] == ["START", "COMPLETE"], kinds
        # The counters carry the build's own trigger, outcome and duration (not the status before it).
        metrics = scrape(operator)
        assert sample(metrics, "datamesh_builds_started_total", domain="sales", trigger="spec") >= 1
        assert sample(metrics, "datamesh_builds_finished_total", domain="sales", outcome="Published") >= 1
        assert sample(metrics, "datamesh_builds_finished_total", domain="sales", outcome="Running") == 0
        assert sample(metrics, "datamesh_build_duration_seconds_count", domain="sales") >= 1


def test_marketing_reads_customer_360_through_its_share_with_pii_masked(
    crds: Cluster, operator: Operator | None, lake: Path, tmp_path: Path
) -> None:
    """customer-360 grants marketing `pii: mask`: its build writes the mask copy in the same run, the operator
    hands marketing a profile in its `datamesh-shares` Secret (and lists it in status.shares), and the official
    Delta Sharing client reads through that profile with the PII masked by the mesh key; a domain without a grant
    gets no key and 403."""
    import delta_sharing  # type: ignore[import-untyped]
    from deltalake import DeltaTable
    from requests.exceptions import HTTPError

    from datamesh.catalog.sharing.profiles import ProfileRefused
    from datamesh.masking import mask_value
    from tests.catalog.sharing_api import serve_api

    if operator is None:
        pytest.skip("the catalog database is the local operator's")
    text = (REPO / "examples" / "products" / "customer-360.yaml").read_text()
    crds.apply(text.replace("/var/lib/datamesh/lake", str(lake)))
    table = Path(wait_ready(crds, "customer-360", "sales", operator)["status"]["location"])
    copy = DeltaTable(str(table / "_shares" / "mask"))
    assert copy.history(1)[0]["datamesh.sourceVersion"] == str(DeltaTable(str(table)).version())
    assert not (table / "_shares" / "exclude").exists(), "no grant says exclude"
    shares = wait_for(
        "status.shares of customer-360",
        lambda: crds.get("dataproduct", "customer-360", "sales")["status"].get("shares") or None,
        operator=operator,
    )
    (share,) = [s for s in shares if s["recipient"] == "marketing"]
    assert share["pii"] == "mask" and share["table"] == "customer-360.sales.customer-360"
    assert "customer-success" not in {s["recipient"] for s in shares}
    namespace, rest = share["secret"].split("/", 1)
    name, entry = rest.split(":", 1)
    assert (name, entry) == ("datamesh-shares", "sales.customer-360.share")
    handed = json.loads(base64.b64decode(crds.get("secret", name, namespace)["data"][entry]))
    assert handed["endpoint"] == SHARING_ENDPOINT and handed["shareCredentialsVersion"] == 1
    assert share["tokenHash"] == hashlib.sha256(handed["bearerToken"].encode()).hexdigest()
    customer_success = crds.kubectl(
        "get", "secret", name, "-n", "customer-success", "-o", "jsonpath={.data}", check=False
    ).stdout
    assert entry not in customer_success, "customer-success has no grant and must get no profile"
    catalog_url = operator.extra_env["DATAMESH_CATALOG_URL"]
    with serve_api(catalog_url) as api:
        # The test's in-process API stands in for the endpoint the profile names; the token is the operator's.
        profile = tmp_path / "marketing.share"
        profile.write_text(json.dumps({**handed, "endpoint": api.endpoint}))
        # Its hash reaches the catalog through the operator's write queue: the first reads may be 401.
        wait_for("marketing's token in the catalog", lambda: _lists_shares(delta_sharing, profile))
        frame = delta_sharing.load_as_pandas(f"{profile}#customer-360.sales.customer-360")
        secret = crds.kubectl("get", "secret", "datamesh-build", "-n", "sales", "-o", "jsonpath={.data.masking-key}")
        key = bytes.fromhex(base64.b64decode(secret.stdout).decode())
        clear = {r["customer_id"]: r for r in delta.rows(table)}
        assert len(frame) == len(clear) == 1000
        for row in frame.to_dict(orient="records"):
            masked = row["email"] if isinstance(row["email"], str) else None  # pandas reads a null as NaN
            assert masked == mask_value(clear[row["customer_id"]]["email"], key)
            assert row["session_count"] == clear[row["customer_id"]]["session_count"]
        with pytest.raises(ProfileRefused):
            api.try_profile("customer-success", "sales/customer-360", tmp_path, refuse=True)
        stranger = api.token_profile("customer-success", tmp_path)
        with pytest.raises(HTTPError) as refused:
            delta_sharing.SharingClient(str(stranger)).list_shares()
        assert refused.value.response.status_code == 403


def _lists_shares(delta_sharing: Any, profile: Path) -> bool:
    from requests.exceptions import HTTPError

    try:
        return bool(delta_sharing.SharingClient(str(profile)).list_shares())
    except HTTPError:
        return False


def test_failing_quality_keeps_the_published_version(
    crds: Cluster, operator: Operator | None, customers: dict[str, Any]
) -> None:
    body = product("strict-customers", "sales", "SELECT customer_id, email FROM customers",
                   [{"source": "bronze.crm.customers", "alias": "customers"}])  # fmt: skip
    crds.apply(yaml.safe_dump(body))
    published = wait_ready(crds, "strict-customers", "sales", operator)
    table = Path(published["status"]["location"])
    before = delta.rows(table)
    body["spec"]["governance"]["qualityChecks"].append(
        {"type": "sql", "name": "impossible", "expression": "customer_id IS NULL"}
    )
    crds.apply(yaml.safe_dump(body))

    def failed() -> dict[str, Any] | None:
        current = crds.get("dataproduct", "strict-customers", "sales")
        return current if condition(current, "QualityPassed").get("status") == "False" else None

    current = wait_for("QualityPassed=False", failed, timeout=BUILD_TIMEOUT, operator=operator)
    ready = condition(current, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "QualityFailed"
    assert "impossible" in ready["message"]
    assert current["status"]["tableVersion"] == 0
    assert delta.versions(table) == [0], "a failed build must not commit to the table"
    assert delta.rows(table) == before
    failing = [c for c in current["status"]["checks"] if not c["passed"]]
    assert [c["name"] for c in failing] == ["impossible"]
    # Deterministic failures are not retried: one Job per generation.
    assert len([j for j in jobs_of(crds, "strict-customers", "sales")
                if j["metadata"]["labels"]["datamesh.dev/generation"] == "2"]) == 1  # fmt: skip


def test_an_upstream_publication_rebuilds_its_consumer_once(
    crds: Cluster, operator: Operator | None, customers: dict[str, Any]
) -> None:
    crds.apply(yaml.safe_dump(product("emails", "sales", "SELECT customer_id, email FROM upstream",
                                      [{"product": "customers-clean", "alias": "upstream"}])))  # fmt: skip
    wait_ready(crds, "emails", "sales", operator)
    upstream_version = crds.get("dataproduct", "customers-clean", "sales")["status"]["tableVersion"]
    crds.kubectl("annotate", "dp", "customers-clean", "-n", "sales", "--overwrite", "datamesh.dev/rebuild=cascade")
    wait_ready(crds, "customers-clean", "sales", operator, version=upstream_version + 1)

    def rebuilt() -> dict[str, Any] | None:
        current = crds.get("dataproduct", "emails", "sales")
        used = (current.get("status") or {}).get("upstreamVersions", {}).get("sales/customers-clean")
        return current if used == upstream_version + 1 and condition(current, "Ready").get("status") == "True" else None

    wait_for("downstream rebuilt from the new version", rebuilt, timeout=BUILD_TIMEOUT, operator=operator)
    triggers = [j["metadata"]["labels"]["datamesh.dev/trigger"] for j in jobs_of(crds, "emails", "sales")]
    assert triggers.count("upstream") == 1, triggers


def test_executors_as_pods_build_the_same_table(
    crds: Cluster, operator: Operator | None, customers: dict[str, Any]
) -> None:
    """compute.executors: 2 runs Spark on Kubernetes in client mode: the build pod is the driver and Spark's own
    scheduler backend starts two executor pods from the operator's template; the table equals the local build's."""
    compute = {"executors": 2, "driver": {"cpu": "500m", "memory": "1Gi"},
               "executor": {"cpu": "250m", "memory": "512Mi"}}  # fmt: skip
    crds.apply(yaml.safe_dump(product("spread", "sales", "SELECT customer_id, email FROM customers",
                                      [{"source": "bronze.crm.customers", "alias": "customers"}],
                                      compute=compute)))  # fmt: skip
    seen: set[str] = set()

    def executors() -> bool:
        built = condition(crds.get("dataproduct", "spread", "sales"), "Built")
        if built.get("status") == "False" and built.get("reason") not in (None, "Pending"):
            raise AssertionError(f"spread failed to build: {built}")
        out = crds.kubectl("get", "pods", "-n", "sales", "-l", "spark-role=executor,datamesh.dev/product=spread",
                           "-o", "json").stdout  # fmt: skip
        for item in json.loads(out)["items"]:
            seen.add(item["metadata"]["name"])
            owners = [o["kind"] for o in item["metadata"].get("ownerReferences") or []]
            assert owners == ["Pod"], "executors are owned by the build pod, so they go with it"
            assert item["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"]
        return len(seen) >= 2

    wait_for("two executor pods of spread's build", executors, timeout=BUILD_TIMEOUT, operator=operator)
    body = wait_ready(crds, "spread", "sales", operator)
    local = delta.rows(Path(customers["status"]["location"]))
    spread = delta.rows(Path(body["status"]["location"]))
    assert sorted(spread, key=lambda r: str(r["customer_id"])) == sorted(local, key=lambda r: str(r["customer_id"]))
    crds.kubectl("delete", "dp", "spread", "-n", "sales", "--wait=false")


def test_cross_domain_reads_need_a_grant_and_see_pii_masked(
    crds: Cluster, operator: Operator | None, customers: dict[str, Any]
) -> None:
    consumer = product("reach", "marketing", "SELECT customer_id, email FROM c",
                       [{"product": "customers-clean", "domain": "sales", "alias": "c"}])  # fmt: skip
    crds.apply(yaml.safe_dump(consumer))

    def denied() -> dict[str, Any] | None:
        body = crds.get("dataproduct", "reach", "marketing")
        return body if condition(body, "InputsReady").get("reason") == "AccessDenied" else None

    body = wait_for("AccessDenied", denied, operator=operator)
    assert "customers-clean" in condition(body, "InputsReady")["message"]
    assert jobs_of(crds, "reach", "marketing") == [], "no build may run without access"
    events = crds.kubectl("get", "events", "-n", "marketing", "-o", "jsonpath={.items[*].reason}").stdout
    assert "BuildStarted" not in events
    # The producer grants marketing access, with PII masked.
    grant = {"spec": {"governance": {"grants": [{"domains": ["marketing"], "pii": "mask"}]}}}
    crds.kubectl("patch", "dp", "customers-clean", "-n", "sales", "--type=merge", "-p", json.dumps(grant))
    built = wait_ready(crds, "reach", "marketing", operator)
    rows = delta.rows(Path(built["status"]["location"]))
    emails = [r["email"] for r in rows if r["email"] is not None]
    assert emails and all(re.fullmatch(r"[0-9a-f]{64}", e) for e in emails), emails[:3]


def test_freshness_flips_and_recovers_and_sla_drives_rebuilds(
    crds: Cluster, operator: Operator | None, customers: dict[str, Any]
) -> None:
    body = product("short-sla", "sales", "SELECT customer_id, email FROM upstream",
                   [{"product": "customers-clean", "alias": "upstream"}], suspend=True)  # fmt: skip
    body["spec"]["sla"]["freshness"] = "30s"
    crds.apply(yaml.safe_dump(body))
    wait_ready(crds, "short-sla", "sales", operator)

    def stale() -> dict[str, Any] | None:
        current = crds.get("dataproduct", "short-sla", "sales")
        return current if condition(current, "Fresh").get("status") == "False" else None

    current = wait_for("Fresh=False", stale, timeout=90, operator=operator)
    assert condition(current, "Fresh")["reason"] == "Stale"
    assert condition(current, "Ready")["status"] == "False"
    events = crds.kubectl("get", "events", "-n", "sales", "--field-selector", "involvedObject.name=short-sla",
                          "-o", "jsonpath={.items[*].reason}").stdout  # fmt: skip
    assert "Stale" in events
    crds.kubectl("patch", "dp", "short-sla", "-n", "sales", "--type=merge", "-p", '{"spec": {"suspend": false}}')
    wait_ready(crds, "short-sla", "sales", operator, version=1)
    # Not suspended, the SLA-derived schedule rebuilds before the data goes stale again.
    wait_for(
        "a scheduled rebuild",
        lambda: (
            "schedule" in [j["metadata"]["labels"]["datamesh.dev/trigger"] for j in jobs_of(crds, "short-sla", "sales")]
        ),  # fmt: skip
        timeout=BUILD_TIMEOUT,
        operator=operator,
    )
    crds.kubectl("delete", "dp", "short-sla", "-n", "sales", "--wait=true", "--timeout=120s")


def test_killing_the_operator_mid_build_never_duplicates_jobs(
    crds: Cluster, operator: Operator | None, customers: dict[str, Any]
) -> None:
    if operator is None:
        pytest.skip("the operator runs in the cluster")
    crds.apply(yaml.safe_dump(product("restart-me", "sales", "SELECT customer_id, email FROM customers",
                                      [{"source": "bronze.crm.customers", "alias": "customers"}])))  # fmt: skip
    wait_for("a build job", lambda: jobs_of(crds, "restart-me", "sales"), operator=operator)
    operator.stop(signal.SIGKILL)
    operator.start()
    body = wait_ready(crds, "restart-me", "sales", operator)
    jobs = jobs_of(crds, "restart-me", "sales")
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    assert body["status"]["lastBuild"]["job"] == jobs[0]["metadata"]["name"]
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]


def test_deleting_a_product_runs_its_finalizer(
    crds: Cluster, operator: Operator | None, customers: dict[str, Any]
) -> None:
    crds.apply(yaml.safe_dump(product("doomed", "sales", "SELECT customer_id, email FROM customers",
                                      [{"source": "bronze.crm.customers", "alias": "customers"}],
                                      deletionPolicy="Delete")))  # fmt: skip
    body = wait_ready(crds, "doomed", "sales", operator)
    assert body["metadata"]["finalizers"] == [DATA_FINALIZER]
    table = Path(body["status"]["location"])
    assert table.is_dir()
    crds.kubectl("delete", "dp", "doomed", "-n", "sales", "--wait=true", "--timeout=120s")
    # The deletion pod mounts exactly the table's folder: what it holds goes, the (empty) folder itself stays.
    assert table.is_dir() and not any(table.iterdir()), "deletionPolicy Delete removes the published table"


def test_deleting_a_shared_product_takes_its_profiles_back(
    crds: Cluster, operator: Operator | None, customers: dict[str, Any]
) -> None:
    """A product whose recipients hold profiles carries the shares finalizer; deleting it removes its key from
    each recipient's Secret (and revokes the token), leaving other products' keys there alone."""
    if operator is None:
        pytest.skip("the sharing endpoint is the local operator's setting")
    governance = {"qualityChecks": [{"type": "uniqueness", "column": "customer_id"}],
                  "grants": [{"domains": ["marketing"], "pii": "clear"}]}  # fmt: skip
    crds.apply(yaml.safe_dump(product("shared-doomed", "sales", "SELECT customer_id, email FROM customers",
                                      [{"source": "bronze.crm.customers", "alias": "customers"}],
                                      governance=governance)))  # fmt: skip
    wait_ready(crds, "shared-doomed", "sales", operator)
    shares = wait_for(
        "status.shares of shared-doomed",
        lambda: crds.get("dataproduct", "shared-doomed", "sales")["status"].get("shares") or None,
        operator=operator,
    )
    assert [s["recipient"] for s in shares] == ["marketing"]
    namespace, rest = shares[0]["secret"].split("/", 1)
    name, entry = rest.split(":", 1)
    assert entry == "sales.shared-doomed.share"
    assert entry in (crds.get("secret", name, namespace).get("data") or {})
    def finalizers() -> list[str]:
        return crds.get("dataproduct", "shared-doomed", "sales")["metadata"].get("finalizers") or []

    wait_for("the shares finalizer", lambda: SHARES_FINALIZER in finalizers(), operator=operator)
    others = set(crds.get("secret", name, namespace).get("data") or {}) - {entry}
    crds.kubectl("delete", "dp", "shared-doomed", "-n", "sales", "--wait=true", "--timeout=120s")
    left = set(crds.get("secret", name, namespace).get("data") or {})
    assert entry not in left, "a deleted product's profile must not stay with its recipients"
    assert others <= left, "only the deleted product's own key goes"
