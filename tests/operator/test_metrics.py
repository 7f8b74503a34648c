"""The operator's Prometheus endpoint reports the mesh as it is now."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cluster
from tests.operator.conftest import Operator, apply_and_wait_domain, domain_manifest, product_manifest, unique, wait_for


def scrape(operator: Operator) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
        return text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a scrape (0 when absent), parsed with Prometheus' own text parser."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


def test_metrics_cover_products_domains_and_the_queue(crds: Cluster, operator: Operator | None, tmp_path: Path) -> None:
    if operator is None:
        pytest.skip("the operator runs in the cluster; its metrics endpoint is not reachable from here")
    name = unique("met")
    apply_and_wait_domain(crds, domain_manifest(name, tmp_path), operator)
    product = product_manifest(
        "m", name, [{"product": "absent"}], sql="SELECT 1 AS x", schema=[{"name": "x", "type": "int"}]
    )
    crds.apply(yaml.safe_dump(product))
    ready = f'datamesh_product_ready{{domain="{name}",namespace="{name}",product="m"}} 0.0'
    domain = f'datamesh_domain_products{{domain="{name}"}} 1.0'
    text = wait_for("product gauges", lambda: (t := scrape(operator)) and ready in t and domain in t and t)
    assert "datamesh_reconcile_queue_depth" in text
    assert "datamesh_builds_started_total" in text
