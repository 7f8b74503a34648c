"""The /api/v1 routes: discovery, product detail, REST output rows and the mesh graph."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from datamesh.catalog.access import AccessView, access_view, product_model
from datamesh.catalog.api.deps import Db, Who
from datamesh.catalog.api.rest_output import RowFilter, RowsError, RowsPage, read_rows
from datamesh.catalog.api.schemas import DomainView, Graph, ProductDetail, ProductSummary, RowsResponse, WhoAmI
from datamesh.catalog.models import ColumnRow, DomainRow, LineageEdgeRow, ProductRow
from datamesh.catalog.queries import (
    LIVE_DOMAIN,
    ProductFilters,
    find_product,
    mesh_graph,
    product_detail,
    products_named,
    search_products,
)

router = APIRouter(prefix="/api/v1")
NOT_VISIBLE = "no such product, or it is not visible to you"


@router.get("/whoami", response_model=WhoAmI, tags=["discovery"], summary="The authenticated caller")
def whoami(who: Who, db: Db) -> dict[str, Any]:
    view = access_view(db, who)
    return {
        "user": who.user,
        "groups": sorted(who.groups),
        "domains": sorted(view.principal.domains),
        "visibleDomains": sorted(view.visible_domains),
    }


@router.get("/domains", response_model=list[DomainView], tags=["discovery"], summary="Domains visible to the caller")
def domains(who: Who, db: Db) -> list[dict[str, Any]]:
    view = access_view(db, who)
    counts: dict[str, int] = {}
    for product in search_products(db, view, ProductFilters()):
        counts[product["domain"]] = counts.get(product["domain"], 0) + 1
    rows = db.execute(select(DomainRow).where(LIVE_DOMAIN).order_by(DomainRow.name)).scalars()
    return [
        {
            "name": row.name,
            "namespace": row.namespace,
            "owner": row.owner,
            "description": row.description,
            "products": counts.get(row.name, 0),
            "member": row.name in view.principal.domains,
        }
        for row in rows
        if row.name in view.visible_domains
    ]


@router.get(
    "/products",
    response_model=list[ProductSummary],
    tags=["discovery"],
    summary="Search products",
    description="The seed's discovery query: products of the domains the caller may access, ordered by quality "
    "score descending (unscored last), narrowed by the given filters. A product a Deny access rule matches "
    "is left out.",
)
def products(
    who: Who,
    db: Db,
    domain: Annotated[str | None, Query(description="Only this domain.")] = None,
    owner: Annotated[str | None, Query(description="Owner contains this (case-insensitive).")] = None,
    classification: Annotated[
        str | None, Query(description="Product classification or a column label (globs such as PERSONAL.*).")
    ] = None,
    q: Annotated[str | None, Query(description="Text in the name, description, owner, tags or column names.")] = None,
    tag: Annotated[list[str] | None, Query(description="Required tags (repeat for several).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    filters = ProductFilters(domain=domain, owner=owner, classification=classification, text=q, tags=tag or [])
    return search_products(db, access_view(db, who), filters)[offset : offset + limit]


def _detail(db: Session, view: AccessView, row: ProductRow | None) -> dict[str, Any]:
    if row is None:
        raise HTTPException(404, NOT_VISIBLE)
    return product_detail(db, view, row)


@router.get(
    "/products/{namespace}/{name}",
    response_model=ProductDetail,
    tags=["discovery"],
    summary="Product detail: schema, SLA, quality history, freshness, lineage",
)
def product(namespace: str, name: str, who: Who, db: Db) -> dict[str, Any]:
    view = access_view(db, who)
    return _detail(db, view, find_product(db, view, namespace, name))


@router.get(
    "/products/{name}",
    response_model=ProductDetail,
    tags=["discovery"],
    summary="Product detail by name alone (409 when products of several namespaces have the name)",
)
def product_by_name(name: str, who: Who, db: Db) -> dict[str, Any]:
    view = access_view(db, who)
    found = products_named(db, view, name)
    if len(found) > 1:
        where = ", ".join(f"{row.namespace}/{row.name}" for row in found)
        raise HTTPException(409, f"several products are called {name!r}: {where}")
    return _detail(db, view, found[0] if found else None)


def _rest_product(db: Session, view: AccessView, namespace: str, name: str) -> ProductRow:
    row = find_product(db, view, namespace, name)
    if row is None:
        raise HTTPException(404, NOT_VISIBLE)
    rest_output = db.execute(
        select(LineageEdgeRow.id).where(
            LineageEdgeRow.product_id == row.id, LineageEdgeRow.direction == "output", LineageEdgeRow.kind == "rest"
        )
    ).first()
    if rest_output is None:
        raise HTTPException(404, f"{namespace}/{name} has no rest output")
    if not row.location:
        raise HTTPException(404, f"{namespace}/{name} is not published yet")
    return row


def _rows_response(product_ref: str, page: RowsPage) -> dict[str, Any]:
    return {
        "product": product_ref,
        "tableVersion": page.table_version,
        "columns": page.columns,
        "piiMode": page.pii_mode,
        "masked": page.masked,
        "offset": page.offset,
        "limit": page.limit,
        "nextOffset": page.next_offset,
        "rows": page.rows,
    }


@router.get(
    "/products/{namespace}/{name}/rows",
    response_model=RowsResponse,
    tags=["rest output"],
    summary="Rows of a product's REST output",
    description="Pages through the published Delta table of a product with a `rest` output. For callers without "
    "clearance PII columns are left out (exclude) or replaced by the SHA-256 hex of the value (mask), as "
    "governance decides. Filters are `column:op:value` with op eq, ne, lt, le, gt or ge; PII columns can be "
    "filtered on only in clear. Pass the first page's tableVersion as `version` to page through one snapshot.",
)
def rows(
    namespace: str,
    name: str,
    who: Who,
    db: Db,
    columns: Annotated[str | None, Query(description="Comma-separated columns (default: all visible).")] = None,
    filter: Annotated[list[str] | None, Query(description="column:op:value, repeatable.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    version: Annotated[int | None, Query(ge=0, description="Table version to read (default: latest).")] = None,
) -> dict[str, Any]:
    view = access_view(db, who)
    row = _rest_product(db, view, namespace, name)
    access = view.read_access(product_model(row))
    if not access.allowed:
        raise HTTPException(403, access.reason)
    pii = db.execute(select(ColumnRow.name).where(ColumnRow.product_id == row.id, ColumnRow.pii.is_(True)))
    try:
        page = read_rows(
            str(row.location),
            pii_columns=set(pii.scalars()),
            pii_mode=access.pii,
            select=[c.strip() for c in columns.split(",") if c.strip()] if columns else None,
            filters=[RowFilter.parse(text) for text in filter or []],
            limit=limit,
            offset=offset,
            version=version,
        )
    except RowsError as error:
        raise HTTPException(error.status, error.message) from error
    return _rows_response(f"{namespace}/{name}", page)


@router.get(
    "/graph",
    response_model=Graph,
    tags=["lineage"],
    summary="The mesh graph",
    description="Visible domains and products (with ready, fresh, quality and health), the sources and upstream "
    "products they read, and an input edge per product input.",
)
def graph(who: Who, db: Db) -> dict[str, Any]:
    return mesh_graph(db, access_view(db, who))
