"""The discovery queries: the seed's "Data Product Discovery" SQL (products of the domains the caller may access,
by quality score descending) with filters, the product detail and the mesh graph.

Tombstones (products and domains deleted from the cluster, kept for their history) are never discovered: every
query here reads live rows only (`LIVE_PRODUCT`, `LIVE_DOMAIN`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session

from datamesh.catalog.access import AccessView, product_model
from datamesh.catalog.models import (
    ColumnRow,
    DomainRow,
    FreshnessRow,
    LineageEdgeRow,
    ProductRow,
    QualityRunRow,
    SlaRow,
    TagRow,
    VersionRow,
)
from datamesh.catalog.records import as_utc, now

QUALITY_HISTORY_LIMIT = 50
LIVE_PRODUCT = ProductRow.deleted_at.is_(None)
LIVE_DOMAIN = DomainRow.deleted_at.is_(None)


@dataclass
class ProductFilters:
    """Search criteria; all given ones must hold."""

    domain: str | None = None
    owner: str | None = None
    """Case-insensitive substring of the owner."""
    classification: str | None = None
    """The product's classification, or a column classification label (globs such as PERSONAL.* allowed)."""
    text: str | None = None
    """Case-insensitive substring of the name, description, owner, a tag or a column name."""
    tags: list[str] = field(default_factory=list)
    """Tags the product must all carry."""


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _glob_to_like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


_Listing = Select[ProductRow, SlaRow, FreshnessRow]  # the outer joins can yield None for the last two


def _filtered(statement: _Listing, filters: ProductFilters) -> _Listing:
    if filters.domain:
        statement = statement.where(ProductRow.domain == filters.domain)
    if filters.owner:
        statement = statement.where(ProductRow.owner.ilike(_like(filters.owner), escape="\\"))
    if filters.classification:
        label = ColumnRow.classification.like(_glob_to_like(filters.classification), escape="\\")
        statement = statement.where(
            or_(
                ProductRow.classification == filters.classification,
                exists().where(ColumnRow.product_id == ProductRow.id, label),
            )
        )
    if filters.text:
        pattern = _like(filters.text)
        statement = statement.where(
            or_(
                ProductRow.name.ilike(pattern, escape="\\"),
                ProductRow.description.ilike(pattern, escape="\\"),
                ProductRow.owner.ilike(pattern, escape="\\"),
                exists().where(TagRow.product_id == ProductRow.id, TagRow.tag.ilike(pattern, escape="\\")),
                exists().where(ColumnRow.product_id == ProductRow.id, ColumnRow.name.ilike(pattern, escape="\\")),
            )
        )
    for tag in filters.tags:
        statement = statement.where(exists().where(TagRow.product_id == ProductRow.id, TagRow.tag == tag))
    return statement


def _iso(value: datetime | None) -> str | None:
    stamped = as_utc(value)
    return stamped.isoformat() if stamped else None


def _fresh(row: ProductRow, freshness: FreshnessRow | None) -> bool | None:
    """The Fresh condition when the operator reported one, else judged from the SLA deadline."""
    if freshness is None:
        return None
    if freshness.fresh is not None:
        return freshness.fresh
    stale_after = as_utc(freshness.stale_after)
    return None if stale_after is None else now() <= stale_after


def health(ready: bool | None, fresh: bool | None, quality: float | None, minimum: float | None) -> str:
    """One word for the page's colours: failing (not Ready), degraded (stale or below the SLA's quality),
    healthy, or unknown (never reported)."""
    if ready is False:
        return "failing"
    if fresh is False or (quality is not None and minimum is not None and quality < minimum):
        return "degraded"
    if ready is None:
        return "unknown"
    return "healthy"


def _summary(row: ProductRow, sla: SlaRow | None, freshness: FreshnessRow | None, view: AccessView) -> dict[str, Any]:
    access = view.read_access(product_model(row))
    fresh = _fresh(row, freshness)
    minimum = sla.min_quality_score if sla else None
    return {
        "name": row.name,
        "namespace": row.namespace,
        "domain": row.domain,
        "owner": row.owner,
        "description": row.description,
        "classification": row.classification,
        "version": row.version,
        "tags": sorted(row.spec.get("tags", [])),
        "slaFreshness": sla.freshness if sla else None,
        "qualityScore": row.quality_score,
        "minQualityScore": minimum,
        "lastUpdated": _iso(row.data_updated_at),
        "ready": row.ready,
        "fresh": fresh,
        "health": health(row.ready, fresh, row.quality_score, minimum),
        "rowCount": row.row_count,
        "readable": access.allowed,
        "piiMode": access.pii,
        "href": f"/api/v1/products/{row.namespace}/{row.name}",
    }


def search_products(session: Session, view: AccessView, filters: ProductFilters) -> list[dict[str, Any]]:
    """The seed's discovery query: products of the caller's accessible domains (plus those shared with it by their
    contract), best quality first; products a Deny access rule matches are left out."""
    statement = (
        select(ProductRow, SlaRow, FreshnessRow)
        .outerjoin(SlaRow, SlaRow.product_id == ProductRow.id)
        .outerjoin(FreshnessRow, FreshnessRow.product_id == ProductRow.id)
        .where(LIVE_PRODUCT, or_(ProductRow.domain.in_(sorted(view.visible_domains)), ProductRow.shared.is_(True)))
        .order_by(ProductRow.quality_score.desc().nulls_last(), ProductRow.domain, ProductRow.name)
    )
    statement = _filtered(statement, filters)
    found = []
    for row, sla, freshness in session.execute(statement):
        if not view.hides(product_model(row)):
            found.append(_summary(row, sla, freshness, view))
    return found


def find_product(session: Session, view: AccessView, namespace: str, name: str) -> ProductRow | None:
    """The product, or None when it does not exist or the caller may not discover it (indistinguishable)."""
    row = session.execute(
        select(ProductRow).where(ProductRow.namespace == namespace, ProductRow.name == name, LIVE_PRODUCT)
    ).scalar_one_or_none()
    if row is None or view.hides(product_model(row)):
        return None
    return row


def products_named(session: Session, view: AccessView, name: str) -> list[ProductRow]:
    rows = session.execute(
        select(ProductRow).where(ProductRow.name == name, LIVE_PRODUCT).order_by(ProductRow.namespace)
    )
    return [row for row in rows.scalars() if not view.hides(product_model(row))]


def _quality_history(session: Session, product_id: int) -> list[dict[str, Any]]:
    runs = session.execute(
        select(QualityRunRow)
        .where(QualityRunRow.product_id == product_id)
        .order_by(QualityRunRow.recorded_at.desc(), QualityRunRow.id.desc())
        .limit(QUALITY_HISTORY_LIMIT)
    ).scalars()
    return [
        {
            "runId": run.run_id,
            "outcome": run.outcome,
            "reason": run.reason,
            "trigger": run.trigger,
            "qualityScore": run.quality_score,
            "checks": run.checks,
            "rowCount": run.row_count,
            "tableVersion": run.table_version,
            "startedAt": _iso(run.started_at),
            "finishedAt": _iso(run.finished_at),
        }
        for run in runs
    ]


def _lineage(session: Session, view: AccessView, row: ProductRow) -> dict[str, Any]:
    edges = session.execute(
        select(LineageEdgeRow).where(LineageEdgeRow.product_id == row.id).order_by(LineageEdgeRow.id)
    ).scalars()
    inputs, outputs = [], []
    for edge in edges:
        if edge.direction == "output":
            outputs.append(
                {"name": edge.ref, "format": edge.kind, "location": edge.location, "endpoint": edge.endpoint}
            )
            continue
        item: dict[str, Any] = {"kind": edge.kind, "ref": edge.ref, "domain": edge.domain, "alias": edge.alias}
        if edge.kind == "product" and edge.domain:
            namespace = view.namespace_of(edge.domain)
            item["href"] = f"/api/v1/products/{namespace}/{edge.ref}"
        inputs.append(item)
    readers = session.execute(
        select(ProductRow)
        .join(LineageEdgeRow, LineageEdgeRow.product_id == ProductRow.id)
        .where(
            and_(
                LIVE_PRODUCT,
                LineageEdgeRow.direction == "input",
                LineageEdgeRow.kind == "product",
                LineageEdgeRow.ref == row.name,
                LineageEdgeRow.domain == row.domain,
            )
        )
        .order_by(ProductRow.namespace, ProductRow.name)
    ).scalars()
    downstream = [
        {
            "namespace": r.namespace,
            "name": r.name,
            "domain": r.domain,
            "href": f"/api/v1/products/{r.namespace}/{r.name}",
        }
        for r in readers
        if not view.hides(product_model(r))
    ]
    return {"inputs": inputs, "outputs": outputs, "downstream": downstream}


def product_detail(session: Session, view: AccessView, row: ProductRow) -> dict[str, Any]:
    sla = session.get(SlaRow, row.id)
    freshness = session.get(FreshnessRow, row.id)
    columns = session.execute(
        select(ColumnRow).where(ColumnRow.product_id == row.id).order_by(ColumnRow.position)
    ).scalars()
    detail = _summary(row, sla, freshness, view)
    detail.update(
        {
            "accessPolicy": row.access_policy,
            "labels": row.labels,
            "schema": [
                {
                    "name": c.name,
                    "type": c.type,
                    "description": c.description,
                    "nullable": c.nullable,
                    "pii": c.pii,
                    "classification": c.classification,
                    "primaryKey": c.primary_key,
                }
                for c in columns
            ],
            "sla": {
                "freshness": sla.freshness if sla else None,
                "freshnessSeconds": sla.freshness_seconds if sla else None,
                "availability": sla.availability if sla else None,
                "qualityScore": sla.min_quality_score if sla else None,
            },
            "freshness": {
                "fresh": detail["fresh"],
                "dataUpdatedAt": _iso(freshness.data_updated_at) if freshness else None,
                "staleAfter": _iso(freshness.stale_after) if freshness else None,
                "nextBuildAt": _iso(freshness.next_build_at) if freshness else None,
                "reason": freshness.reason if freshness else None,
            },
            "status": {
                "conditions": row.conditions,
                "tableVersion": row.table_version,
                "location": row.location,
                "lastRunId": row.last_run_id,
                "lastOutcome": row.last_outcome,
            },
            "qualityHistory": _quality_history(session, row.id),
            "lineage": _lineage(session, view, row),
            "versions": _versions(session, row.id),
        }
    )
    return detail


def _versions(session: Session, product_id: int) -> list[dict[str, Any]]:
    """The majors the product serves, newest first: the current one and those kept side by side."""
    rows = session.execute(
        select(VersionRow).where(VersionRow.product_id == product_id).order_by(VersionRow.major.desc())
    ).scalars()
    return [
        {"major": v.major, "version": v.version, "current": v.current, "location": v.location,
         "tableVersion": v.table_version, "consumers": list(v.consumers or []), "until": v.until}
        for v in rows
    ]  # fmt: skip


def mesh_graph(session: Session, view: AccessView) -> dict[str, Any]:
    """Nodes (visible domains, their products, and the sources and upstream products they read) and input edges."""
    products = search_products(session, view, ProductFilters())
    domain_rows = session.execute(select(DomainRow).where(LIVE_DOMAIN).order_by(DomainRow.name)).scalars()
    counts: dict[str, int] = {}
    for product in products:
        counts[product["domain"]] = counts.get(product["domain"], 0) + 1
    nodes: list[dict[str, Any]] = []
    known_domains = set()
    for domain_row in domain_rows:
        if domain_row.name in view.visible_domains:
            known_domains.add(domain_row.name)
            nodes.append(
                {
                    "id": f"domain:{domain_row.name}",
                    "kind": "domain",
                    "name": domain_row.name,
                    "owner": domain_row.owner,
                    "description": domain_row.description,
                    "products": counts.get(domain_row.name, 0),
                }
            )
    for name in sorted(set(counts) - known_domains):
        nodes.append({"id": f"domain:{name}", "kind": "domain", "name": name, "owner": None, "products": counts[name]})
    ids = {}
    for product in products:
        node_id = f"product:{product['namespace']}/{product['name']}"
        ids[(product["namespace"], product["name"])] = node_id
        nodes.append({"id": node_id, "kind": "product", **product})
    edges: list[dict[str, Any]] = []
    upstream: dict[str, dict[str, Any]] = {}
    rows = session.execute(
        select(ProductRow.namespace, ProductRow.name, LineageEdgeRow)
        .join(LineageEdgeRow, LineageEdgeRow.product_id == ProductRow.id)
        .where(LIVE_PRODUCT, LineageEdgeRow.direction == "input")
        .order_by(LineageEdgeRow.id)
    )
    for namespace, name, edge in rows:
        target = ids.get((namespace, name))
        if target is None:
            continue
        domain = edge.domain or ""
        if edge.kind == "product":
            key = (view.namespace_of(domain), edge.ref)
            source_id = ids.get(key) or f"product:{key[0]}/{key[1]}"
            if source_id not in ids.values():
                upstream[source_id] = {"id": source_id, "kind": "external", "name": edge.ref, "domain": domain}
        else:
            source_id = f"source:{domain}/{edge.ref}"
            upstream[source_id] = {"id": source_id, "kind": "source", "name": edge.ref, "domain": domain}
        edges.append({"source": source_id, "target": target, "kind": "input", "alias": edge.alias})
    nodes.extend(upstream[key] for key in sorted(upstream))
    return {"nodes": nodes, "edges": edges}
