"""Each DataProduct's PrometheusRule on the real API server: nothing (and no error) while the Prometheus
Operator's CRD is absent; created once the CRD is installed, from the product's admission on (a product that
cannot build still gets its rules); updated when the SLA changes; garbage-collected with the product.

The CRD is the Prometheus Operator's own (tests/fixtures/thirdparty, see its README), so the rule is checked
against the schema a real cluster enforces. No build pod runs: this test needs no node."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, Cluster
from tests.operator.conftest import (
    Operator,
    apply_and_wait_domain,
    condition,
    domain_manifest,
    product_manifest,
    unique,
    wait_for,
)
from tests.operator.test_metrics import sample, scrape

CRD_FILE = REPO / "tests" / "fixtures" / "thirdparty" / "monitoring.coreos.com_prometheusrules.yaml"
CRD_NAME = "prometheusrules.monitoring.coreos.com"


@pytest.fixture
def no_rule_crd(crds: Cluster) -> Iterator[Cluster]:
    """The PrometheusRule CRD absent at the start of the test, and removed again at its end."""
    crds.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=true")
    yield crds
    crds.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=false", check=False)


def install_rule_crd(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD_NAME}")


def rule(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    found = cluster.kubectl("get", "prometheusrule", f"{name}-alerts", "-n", namespace, "-o", "json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else None


def expressions(body: dict[str, Any]) -> dict[str, str]:
    return {r["alert"]: r["expr"] for g in body["spec"]["groups"] for r in g["rules"]}


def test_a_products_alert_rules_follow_it_from_admission_to_deletion(
    no_rule_crd: Cluster, operator: Operator | None, tmp_path: Path
) -> None:
    cluster = no_rule_crd
    domain = unique("alerts")
    apply_and_wait_domain(cluster, domain_manifest(domain, tmp_path), operator)
    errors_before = sample(scrape(operator), "datamesh_reconcile_errors_total", kind="dp") if operator else 0.0
    # An input that does not exist: the product is admitted and validated, and can never build.
    product = product_manifest("orders", domain, [{"product": "absent"}], sql="SELECT 1 AS x",
                               schema=[{"name": "x", "type": "int"}])  # fmt: skip
    cluster.apply(yaml.safe_dump(product))
    wait_for(
        "the product validated",
        lambda: condition(cluster.get("dataproduct", "orders", domain), "Validated").get("status") == "True",
        operator=operator,
    )
    # Without the CRD: no rule, and the reconcile did not fail over it.
    assert cluster.kubectl("get", "crd", CRD_NAME, check=False).returncode != 0
    if operator is not None:
        assert sample(scrape(operator), "datamesh_reconcile_errors_total", kind="dp") == errors_before

    install_rule_crd(cluster)
    created = wait_for("the PrometheusRule", lambda: rule(cluster, domain, "orders"), timeout=90, operator=operator)
    uid = cluster.get("dataproduct", "orders", domain)["metadata"]["uid"]
    owner = created["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["uid"], o.get("controller")) for o in owner] == [
        ("DataProduct", "orders", uid, True)
    ]
    assert "> 3600 " in expressions(created)["DataProductStale"]
    assert expressions(created)["DataProductQualityBelowSla"].endswith("< 0.9")
    labels = created["spec"]["groups"][0]["rules"][0]["labels"]
    assert {k: labels[k] for k in ("domain", "owner", "product", "namespace")} == {
        "domain": domain, "owner": f"{domain}@example.com", "product": "orders", "namespace": domain,
    }  # fmt: skip

    product["spec"]["sla"] = {"freshness": "2 hours", "qualityScore": 0.8}
    cluster.apply(yaml.safe_dump(product))
    updated = wait_for(
        "the rule to follow the SLA",
        lambda: (r := rule(cluster, domain, "orders")) and "> 7200 " in expressions(r)["DataProductStale"] and r,
        operator=operator,
    )
    assert expressions(updated)["DataProductQualityBelowSla"].endswith("< 0.8")

    cluster.kubectl("delete", "dataproduct", "orders", "-n", domain, "--wait=true")
    # kube-controller-manager's garbage collector removes what the product owned.
    wait_for("the rule to be garbage-collected", lambda: rule(cluster, domain, "orders") is None, timeout=90,
             operator=operator)  # fmt: skip
