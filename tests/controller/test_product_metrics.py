"""The per-product series the alert rules read (monitoring/rules.py): the SLA a product is held to, whether its
last build failed, how many builds failed, whether its catalog entry is current. Read at scrape time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from datamesh.api import DataProduct
from datamesh.api.common import Condition
from datamesh.api.dataproduct import BuildInfo, DataProductStatus
from datamesh.controller.metrics import MeshCollector, count_build_event
from datamesh.mesh.world import World
from tests.conftest import REPO

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def product(name: str, status: DataProductStatus | None) -> DataProduct:
    body = yaml.safe_load(Path(REPO / "examples" / "products" / "customer-360.yaml").read_text())
    body["metadata"]["name"] = name
    found = DataProduct.model_validate(body)
    return found.model_copy(update={"status": status})


def scrape(world: World) -> dict[tuple[str, str], float]:
    """(sample name, product) -> value."""
    out: dict[tuple[str, str], float] = {}
    for family in MeshCollector(world, lambda: 0, lambda: 0).collect():
        for s in family.samples:
            if "product" in s.labels:
                out[(s.name, s.labels["product"])] = s.value
    return out


def test_sla_failures_and_catalog_state_per_product() -> None:
    failed = BuildInfo(job="j", trigger="spec", outcome="Failed", duration_seconds=3.0, finished_at=NOW)
    synced_false = Condition(
        type="CatalogSynced", status="False", reason="CatalogUnavailable", last_transition_time=NOW
    )
    published = failed.model_copy(update={"outcome": "Published"})
    world = World(products={
        ("sales", "broken"): product("broken", DataProductStatus(last_build=failed, conditions=[synced_false])),
        ("sales", "fresh"): product("fresh", DataProductStatus(last_build=published)),
        ("sales", "new"): product("new", None),
    })  # fmt: skip
    for _ in range(2):
        count_build_event("sales", failed, "BuildFailed", ("sales", "broken"))
    count_build_event(
        "sales", failed.model_copy(update={"outcome": "QualityFailed"}), "QualityFailed", ("sales", "fresh")
    )
    seen = scrape(world)
    for name in ("broken", "fresh", "new"):
        assert seen[("datamesh_product_freshness_sla_seconds", name)] == 3600
        assert seen[("datamesh_product_quality_min_score", name)] == 0.95
    # Emitted as 0 from the start, so that Prometheus' increase() counts a product's first failure.
    assert seen[("datamesh_product_builds_failed_total", "new")] == 0
    assert seen[("datamesh_product_builds_failed_total", "fresh")] == 0
    assert seen[("datamesh_product_builds_failed_total", "broken")] == 2
    assert seen[("datamesh_product_build_failing", "broken")] == 1
    assert seen[("datamesh_product_build_failing", "fresh")] == 0
    assert seen[("datamesh_product_catalog_synced", "broken")] == 0
    # No CatalogSynced condition (no catalog): no series, so the alert cannot fire.
    assert ("datamesh_product_catalog_synced", "fresh") not in seen


def test_a_deleted_products_failures_are_forgotten() -> None:
    failed = BuildInfo(job="j", trigger="spec", outcome="Failed", finished_at=NOW)
    count_build_event("sales", failed, "BuildFailed", ("sales", "gone"))
    world = World(products={("sales", "gone"): product("gone", None)})
    assert scrape(world)[("datamesh_product_builds_failed_total", "gone")] == 1
    scrape(World())
    assert scrape(world)[("datamesh_product_builds_failed_total", "gone")] == 0


def test_a_scrape_restricted_to_the_backlog_never_renders_the_products(monkeypatch: pytest.MonkeyPatch) -> None:
    """`/metrics?name[]=datamesh_reconcile_queue_depth` (bench/scale.py polls it every second) is answered without
    the nine series of every product: at 10,000 products those cost the operator ~1 CPU-s per scrape."""
    from prometheus_client import CollectorRegistry, generate_latest

    from datamesh.controller.metrics import ProductCollector

    world = World(products={("sales", name): product(name, None) for name in ("a", "b")})
    registry = CollectorRegistry()
    for part in MeshCollector(world, lambda: 7, lambda: 2).parts:
        registry.register(part)

    def refuse(self: ProductCollector) -> None:
        raise AssertionError("the per-product series were computed")

    monkeypatch.setattr(ProductCollector, "collect", refuse)
    names = ["datamesh_reconcile_queue_depth", "datamesh_events_pending", "datamesh_domain_products"]
    text = generate_latest(registry.restricted_registry(names)).decode()
    assert "datamesh_reconcile_queue_depth 7.0" in text and "datamesh_events_pending 2.0" in text
    assert 'datamesh_domain_products{domain="sales"} 2.0' in text
    assert "datamesh_product_" not in text
    monkeypatch.undo()
    assert 'datamesh_product_ready{domain="sales",namespace="sales",product="a"}' not in text
    assert "datamesh_product_freshness_sla_seconds" in generate_latest(registry).decode()
