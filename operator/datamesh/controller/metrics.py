"""Prometheus metrics for whoever runs the platform, and for each product's alert rules (monitoring/rules.py).

Counters are bumped as builds start and finish. Per-product figures (quality, data age, readiness, the SLA
they are held to) are read from the operator's cache at scrape time, so they are always current and need no
timers; their labels are the product's identity only, bounded by the number of products. The per-product
count of failed builds is kept here (a status field would cost a write per failure) and is emitted as 0 from
the product's first scrape on, so `increase()` sees the first failure too; it restarts with the operator,
which Prometheus reads as a counter reset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import Counter, Enum, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from datamesh.api import reasons
from datamesh.api.dataproduct import BuildInfo
from datamesh.api.durations import parse_duration
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


#: Failed builds per product (namespace, name) since this process started: datamesh_product_builds_failed_total.
_FAILED_BUILDS: dict[tuple[str, str], int] = {}


def count_build_event(
    domain: str, last_build: BuildInfo | None, reason: str, product: tuple[str, str] | None = None
) -> None:
    """Bump the build counters for an Event the reconcile just emitted, read from the NEW status: the build it
    started (its trigger) or the build it finished (its outcome and duration). `product` (namespace, name)
    also counts the product's own failed builds."""
    if last_build is None:
        return
    if reason == "BuildStarted":
        BUILDS_STARTED.labels(domain, last_build.trigger or "unknown").inc()
    elif reason in ("BuildSucceeded", "QualityFailed", "BuildFailed"):
        outcome = last_build.outcome or "Failed"
        BUILDS_FINISHED.labels(domain, outcome).inc()
        if last_build.duration_seconds is not None:
            BUILD_DURATION.labels(domain).observe(last_build.duration_seconds)
        if product is not None and outcome == "Failed":
            _FAILED_BUILDS[product] = _FAILED_BUILDS.get(product, 0) + 1


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


class ProductCollector(Collector):
    """Per-product gauges computed from the cache when Prometheus scrapes: nine series per product."""

    def __init__(self, world: World) -> None:
        self.world = world

    def describe(self) -> Iterator[Metric]:
        # Declared, so a scrape restricted to other names (`/metrics?name[]=...`) never renders every product.
        yield from self._families()

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily | CounterMetricFamily, ...]:
        labels = ["domain", "namespace", "product"]
        return (
            GaugeMetricFamily("datamesh_product_quality_score", "Quality score of the last build.", labels=labels),
            GaugeMetricFamily("datamesh_product_data_age_seconds", "Age of the published data.", labels=labels),
            GaugeMetricFamily("datamesh_product_ready", "1 when the product is Ready.", labels=labels),
            GaugeMetricFamily("datamesh_product_fresh", "1 when the data is within its SLA.", labels=labels),
            GaugeMetricFamily("datamesh_product_freshness_sla_seconds",
                              "Maximum data age the product promises (sla.freshness).", labels=labels),
            GaugeMetricFamily("datamesh_product_quality_min_score",
                              "Minimum quality score the product promises (sla.qualityScore).", labels=labels),
            GaugeMetricFamily("datamesh_product_build_failing", "1 when the last build failed.", labels=labels),
            CounterMetricFamily("datamesh_product_builds_failed_total", "Failed builds since the operator started.",
                                labels=labels),
            GaugeMetricFamily("datamesh_product_catalog_synced",
                              "1 when the catalog entry is current (absent without a catalog).", labels=labels),
        )  # fmt: skip

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        families = self._families()
        quality, age, ready, fresh, sla, minimum, failing, failed, synced = families
        products = list(self.world.products.items())
        for gone in set(_FAILED_BUILDS) - {key for key, _ in products}:
            _FAILED_BUILDS.pop(gone, None)
        for (namespace, name), product in products:
            key = [product.spec.domain, namespace, name]
            sla.add_metric(key, parse_duration(product.spec.sla.freshness).total_seconds())
            minimum.add_metric(key, product.spec.sla.quality_score)
            failed.add_metric(key, _FAILED_BUILDS.get((namespace, name), 0))
            status = product.status
            if status is None:
                continue
            last = status.last_build
            failing.add_metric(key, 1.0 if last is not None and last.outcome == "Failed" else 0.0)
            catalog = cond.find(status.conditions, reasons.CATALOG_SYNCED)
            if catalog is not None:
                synced.add_metric(key, 1.0 if catalog.status == "True" else 0.0)
            if status.quality_score is not None:
                quality.add_metric(key, status.quality_score)
            if status.data_updated_at is not None:
                age.add_metric(key, (now - status.data_updated_at).total_seconds())
            ready.add_metric(key, 1.0 if cond.is_true(status.conditions, reasons.READY) else 0.0)
            fresh.add_metric(key, 1.0 if cond.is_true(status.conditions, reasons.FRESH) else 0.0)
        yield from families


class BacklogCollector(Collector):
    """What is left to do (queued reconciles, Events not yet posted) and products per domain: a handful of series,
    cheap to scrape often (bench/scale.py polls them every second at 10,000 products)."""

    def __init__(self, world: World, queue_depth: Callable[[], int], events_pending: Callable[[], int]) -> None:
        self.world = world
        self.queue_depth = queue_depth
        self.events_pending = events_pending

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("datamesh_domain_products", "DataProducts per domain.", labels=["domain"]),
            GaugeMetricFamily("datamesh_reconcile_queue_depth", "Objects waiting for a reconcile."),
            GaugeMetricFamily("datamesh_events_pending", "Kubernetes Events waiting to be posted."),
        )

    def collect(self) -> Iterator[Metric]:
        domains, depth, events = self._families()
        per_domain: dict[str, int] = {}
        for product in list(self.world.products.values()):
            per_domain[product.spec.domain] = per_domain.get(product.spec.domain, 0) + 1
        for domain, count in sorted(per_domain.items()):
            domains.add_metric([domain], count)
        depth.add_metric([], self.queue_depth())
        events.add_metric([], self.events_pending())
        yield from (domains, depth, events)


class MeshCollector(Collector):
    """Both of the above, as one collector (what the tests and the dashboards' checks read)."""

    def __init__(self, world: World, queue_depth: Callable[[], int], events_pending: Callable[[], int]) -> None:
        self.parts = (ProductCollector(world), BacklogCollector(world, queue_depth, events_pending))

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield from part.collect()


def serve(
    port: int, addr: str, world: World, queue_depth: Callable[[], int], events_pending: Callable[[], int]
) -> None:
    for part in MeshCollector(world, queue_depth, events_pending).parts:
        REGISTRY.register(part)
    start_http_server(port, addr=addr, registry=REGISTRY)
