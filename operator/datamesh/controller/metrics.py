"""Prometheus metrics for whoever runs the platform.

Counters are bumped as builds start and finish. Per-product figures (quality, data age, readiness) are
read from the operator's cache at scrape time, so they are always current and need no timers; their
labels are the product's identity only, bounded by the number of products.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import Counter, Enum, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from datamesh.api import reasons
from datamesh.api.dataproduct import BuildInfo
from datamesh.controller import conditions as cond
from datamesh.controller.metrics_registry import REGISTRY
from datamesh.mesh.world import World

BUILDS_STARTED = Counter(
    "datamesh_builds_started_total", "Build Jobs launched.", ["domain", "trigger"], registry=REGISTRY
)
BUILDS_FINISHED = Counter(
    "datamesh_builds_finished_total",
    "Builds finished, by outcome (Published, QualityFailed, Failed).",
    ["domain", "outcome"],
    registry=REGISTRY,
)
BUILD_DURATION = Histogram(
    "datamesh_build_duration_seconds",
    "Wall time of finished builds.",
    ["domain"],
    buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600),
    registry=REGISTRY,
)


def count_build_event(domain: str, last_build: BuildInfo | None, reason: str) -> None:
    """Bump the build counters for an Event the reconcile just emitted, read from the NEW status: the build it
    started (its trigger) or the build it finished (its outcome and duration)."""
    if last_build is None:
        return
    if reason == "BuildStarted":
        BUILDS_STARTED.labels(domain, last_build.trigger or "unknown").inc()
    elif reason in ("BuildSucceeded", "QualityFailed", "BuildFailed"):
        BUILDS_FINISHED.labels(domain, last_build.outcome or "Failed").inc()
        if last_build.duration_seconds is not None:
            BUILD_DURATION.labels(domain).observe(last_build.duration_seconds)


RECONCILE_ERRORS = Counter(
    "datamesh_reconcile_errors_total", "Reconciles that raised and were retried.", ["kind"], registry=REGISTRY
)

CATALOG_CIRCUIT = Enum(
    "datamesh_catalog_circuit",
    "Circuit breaker in front of catalog writes: closed (writing), open (database down, writes wait), half_open"
    " (one probe on its way).",
    states=["closed", "half_open", "open"],
    registry=REGISTRY,
)
CATALOG_PENDING = Gauge(
    "datamesh_catalog_pending_writes", "Catalog writes queued behind the background writer.", registry=REGISTRY
)


class MeshCollector(Collector):
    """Per-product and per-domain gauges computed from the cache when Prometheus scrapes."""

    def __init__(self, world: World, queue_depth: Callable[[], int], events_pending: Callable[[], int]) -> None:
        self.world = world
        self.queue_depth = queue_depth
        self.events_pending = events_pending

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        labels = ["domain", "namespace", "product"]
        quality = GaugeMetricFamily("datamesh_product_quality_score", "Quality score of the last build.", labels=labels)
        age = GaugeMetricFamily("datamesh_product_data_age_seconds", "Age of the published data.", labels=labels)
        ready = GaugeMetricFamily("datamesh_product_ready", "1 when the product is Ready.", labels=labels)
        fresh = GaugeMetricFamily("datamesh_product_fresh", "1 when the data is within its SLA.", labels=labels)
        per_domain: dict[str, int] = {}
        for (namespace, name), product in list(self.world.products.items()):
            key = [product.spec.domain, namespace, name]
            per_domain[product.spec.domain] = per_domain.get(product.spec.domain, 0) + 1
            status = product.status
            if status is None:
                continue
            if status.quality_score is not None:
                quality.add_metric(key, status.quality_score)
            if status.data_updated_at is not None:
                age.add_metric(key, (now - status.data_updated_at).total_seconds())
            ready.add_metric(key, 1.0 if cond.is_true(status.conditions, reasons.READY) else 0.0)
            fresh.add_metric(key, 1.0 if cond.is_true(status.conditions, reasons.FRESH) else 0.0)
        products = GaugeMetricFamily("datamesh_domain_products", "DataProducts per domain.", labels=["domain"])
        for domain, count in sorted(per_domain.items()):
            products.add_metric([domain], count)
        depth = GaugeMetricFamily("datamesh_reconcile_queue_depth", "Objects waiting for a reconcile.")
        depth.add_metric([], self.queue_depth())
        events = GaugeMetricFamily("datamesh_events_pending", "Kubernetes Events waiting to be posted.")
        events.add_metric([], self.events_pending())
        yield from (quality, age, ready, fresh, products, depth, events)


def serve(
    port: int, addr: str, world: World, queue_depth: Callable[[], int], events_pending: Callable[[], int]
) -> None:
    REGISTRY.register(MeshCollector(world, queue_depth, events_pending))
    start_http_server(port, addr=addr, registry=REGISTRY)
