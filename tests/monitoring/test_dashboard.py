"""The chart's monitoring objects. The Grafana dashboard: a ConfigMap the Grafana sidecar loads (its label, a
values toggle), whose queries read only metrics the operator registers, so no panel is silently empty after a
rename. The ServiceMonitor: it keeps the products' own `namespace` label, which the alert rules select on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from datamesh.controller.metrics import MeshCollector
from datamesh.controller.metrics_registry import REGISTRY
from datamesh.mesh.world import World
from tests.packaging.tools import HelmUnavailable, build_helm, by_kind, documents, template

METRIC = re.compile(r"\b(datamesh_[a-z_]+)\b")


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return build_helm()
    except HelmUnavailable as error:
        pytest.fail(str(error), pytrace=False)


def registered() -> set[str]:
    """Every series name the operator can expose, with the suffixes prometheus_client adds per type."""
    import datamesh.controller.kube  # noqa: F401  (registers datamesh_api_requests_total)

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
    names: set[str] = set()
    families = [*REGISTRY.collect(), *MeshCollector(World(), lambda: 0, lambda: 0).collect()]
    for family in families:
        names.add(family.name)
        names.update(family.name + s for s in suffixes.get(family.type, ()))
    return names


def expressions(dashboard: dict[str, Any]) -> list[str]:
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append(query["query"])
    return found


def rendered_dashboards(helm: Path, *args: str) -> list[dict[str, Any]]:
    return [
        cm
        for cm in by_kind(documents(template(helm, *args)), "ConfigMap")
        if cm["metadata"]["name"].endswith("-dashboard")
    ]


def test_the_chart_ships_the_dashboard_for_the_grafana_sidecar(helm: Path) -> None:
    (config_map,) = rendered_dashboards(helm)
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["datamesh-operator.json"])
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Products by state", "Freshness headroom", "Quality score against the SLA", "Build duration",
            "Work queues"} <= titles  # fmt: skip
    assert rendered_dashboards(helm, "--set", "metrics.grafanaDashboard.enabled=false") == []


def test_every_metric_the_dashboard_queries_is_registered(helm: Path) -> None:
    (config_map,) = rendered_dashboards(helm)
    dashboard = json.loads(config_map["data"]["datamesh-operator.json"])
    used = {name for expr in expressions(dashboard) for name in METRIC.findall(expr)}
    assert len(used) >= 10, used
    assert used <= registered(), sorted(used - registered())


def test_the_service_monitor_keeps_the_products_namespace_label(helm: Path) -> None:
    """The rules select `namespace="<product's namespace>"`: the scrape must not overwrite it with the operator's."""
    rendered = documents(template(helm, "--set", "metrics.serviceMonitor.enabled=true"))
    (monitor,) = by_kind(rendered, "ServiceMonitor")
    assert [e.get("honorLabels") for e in monitor["spec"]["endpoints"]] == [True]
