"""The catalog store and CatalogSync, against SQLite and a real PostgreSQL server (same tests, parametrized)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datamesh.catalog import CatalogSync, CatalogUnavailable, open_catalog
from datamesh.catalog.db import current_revision, head_revision
from datamesh.catalog.models import (
    Base,
    ColumnRow,
    DomainRow,
    FreshnessRow,
    LineageEdgeRow,
    OwnerRow,
    PolicyRow,
    ProductRow,
    QualityRunRow,
    SlaRow,
    TagRow,
)
from datamesh.controller.world import World
from tests.catalog.conftest import PostgresServer, make_domain, make_policy, make_product

CHILD_TABLES = (ColumnRow, TagRow, SlaRow, FreshnessRow, QualityRunRow, LineageEdgeRow)


def count(catalog: CatalogSync, model: type[Base], **where: Any) -> int:
    with Session(catalog.engine) as session:
        statement = select(func.count()).select_from(model)
        for column, value in where.items():
            statement = statement.where(getattr(model, column) == value)
        return int(session.execute(statement).scalar_one())


def product_row(catalog: CatalogSync, namespace: str, name: str) -> ProductRow | None:
    with Session(catalog.engine) as session:
        return session.execute(
            select(ProductRow).where(ProductRow.namespace == namespace, ProductRow.name == name)
        ).scalar_one_or_none()


def test_migrations_reach_head_idempotently_and_match_the_models(catalog_url: str) -> None:
    first = open_catalog(catalog_url)
    first.migrate()
    first.close()
    second = open_catalog(catalog_url)  # a second process starting later: upgrade to head is a no-op
    second.migrate()
    second.ping()
    assert current_revision(second.engine) == head_revision() == "0001"
    with second.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    second.close()
    assert differences == []


def test_upsert_fills_every_table(catalog: CatalogSync) -> None:
    catalog.upsert_domain(make_domain("sales", reader_groups=["analysts"]))
    product = make_product(
        "orders",
        "sales",
        quality=0.97,
        run_id="run-1",
        tags=["gold", "orders"],
        rest=True,
        inputs=[{"source": "bronze.sales.raw"}, {"product": "customers", "domain": "crm", "alias": "c"}],
    )
    catalog.upsert_product(product)

    row = product_row(catalog, "sales", "orders")
    assert row is not None
    assert (row.domain, row.owner, row.quality_score, row.ready, row.row_count) == (
        "sales",
        "sales-team@company.com",
        0.97,
        True,
        10,
    )
    with Session(catalog.engine) as session:
        columns = session.execute(select(ColumnRow).order_by(ColumnRow.position)).scalars().all()
        assert [(c.name, c.pii, c.classification) for c in columns] == [
            ("id", False, None),
            ("email", True, "PERSONAL.EMAIL"),
            ("amount", False, None),
        ]
        sla = session.execute(select(SlaRow)).scalar_one()
        assert (sla.freshness, sla.freshness_seconds, sla.min_quality_score) == ("1 hour", 3600.0, 0.9)
        freshness = session.execute(select(FreshnessRow)).scalar_one()
        assert freshness.fresh is True and freshness.stale_after is not None
        edges = session.execute(select(LineageEdgeRow).order_by(LineageEdgeRow.id)).scalars().all()
        assert [(e.direction, e.kind, e.ref, e.domain) for e in edges] == [
            ("input", "source", "bronze.sales.raw", "sales"),
            ("input", "product", "customers", "crm"),
            ("output", "delta", "table", "sales"),
            ("output", "rest", "api", "sales"),
        ]
        run = session.execute(select(QualityRunRow)).scalar_one()
        assert (run.run_id, run.outcome, run.quality_score) == ("run-1", "Published", 0.97)
        assert run.checks[0]["name"] == "rowCount"
        owners = {(o.principal, o.role) for o in session.execute(select(OwnerRow)).scalars()}
        assert owners == {
            ("sales-team@company.com", "owner"),
            ("sales-team", "team"),
            ("analysts", "reader"),
        }
    assert sorted(t for t in ("gold", "orders") if count(catalog, TagRow, tag=t)) == ["gold", "orders"]


def test_quality_history_records_each_finished_run_once(catalog: CatalogSync) -> None:
    catalog.upsert_product(make_product("orders", "sales", quality=0.9, run_id="run-1"))
    catalog.upsert_product(make_product("orders", "sales", quality=0.9, run_id="run-1"))
    catalog.upsert_product(make_product("orders", "sales", quality=0.9, run_id="run-2", outcome="Running"))
    assert count(catalog, QualityRunRow) == 1
    catalog.upsert_product(make_product("orders", "sales", quality=0.5, run_id="run-2", outcome="QualityFailed"))
    catalog.upsert_product(make_product("orders", "sales", quality=0.5, run_id="run-3", outcome="Failed"))
    with Session(catalog.engine) as session:
        runs = session.execute(select(QualityRunRow).order_by(QualityRunRow.id)).scalars().all()
    assert [(r.run_id, r.outcome, r.quality_score) for r in runs] == [
        ("run-1", "Published", 0.9),
        ("run-2", "QualityFailed", 0.5),
        ("run-3", "Failed", None),
    ]


def test_spec_changes_rewrite_schema_tags_and_lineage(catalog: CatalogSync) -> None:
    catalog.upsert_product(make_product("orders", "sales", tags=["old"]))
    changed = make_product("orders", "sales", tags=["new"], owner="someone-else@company.com")
    changed.spec.schema_.pop()
    catalog.upsert_product(changed)
    assert count(catalog, TagRow, tag="old") == 0 and count(catalog, TagRow, tag="new") == 1
    assert count(catalog, ColumnRow) == 2
    assert count(catalog, OwnerRow, principal="someone-else@company.com") == 1
    assert count(catalog, ProductRow) == 1


def test_delete_product_removes_everything_of_it_and_is_idempotent(catalog: CatalogSync) -> None:
    catalog.upsert_product(make_product("orders", "sales", quality=0.9, run_id="r1", tags=["x"]))
    catalog.upsert_product(make_product("refunds", "sales", quality=0.8, run_id="r2", tags=["x"]))
    catalog.delete_product("sales", "orders")
    catalog.delete_product("sales", "orders")
    catalog.delete_product("nowhere", "never-existed")
    assert product_row(catalog, "sales", "orders") is None
    kept = product_row(catalog, "sales", "refunds")
    assert kept is not None
    for model in (*CHILD_TABLES, OwnerRow):
        assert count(catalog, model) == count(catalog, model, product_id=kept.id) > 0, model.__tablename__


def test_domains_and_policies_upsert_and_delete(catalog: CatalogSync) -> None:
    catalog.upsert_domain(make_domain("sales"))
    catalog.upsert_domain(make_domain("sales", team_groups=["sellers"]))
    assert count(catalog, OwnerRow, principal="sellers") == 1 and count(catalog, OwnerRow, principal="sales-team") == 0
    catalog.upsert_policy(make_policy("baseline", [_permit_all()]))
    catalog.delete_domain("sales")
    catalog.delete_domain("sales")
    catalog.delete_policy("baseline")
    assert count(catalog, DomainRow) == count(catalog, OwnerRow) == count(catalog, PolicyRow) == 0


def _permit_all() -> dict[str, Any]:
    return {"effect": "Permit", "dnfCondition": [[{"attributeName": "resource.domain", "attributeValueIncludes": "*"}]]}


def _world(*names: str, quality: float = 0.9) -> World:
    world = World()
    for domain in ("sales", "marketing"):
        world.domains[domain] = make_domain(domain)
    for name in names:
        world.products[("sales", name)] = make_product(name, "sales", quality=quality, run_id=f"{name}-run")
    world.policies["baseline"] = make_policy("baseline", [_permit_all()])
    return world


def test_converge_makes_the_catalog_equal_the_world(catalog: CatalogSync) -> None:
    catalog.converge(_world("a", "b", "c"))
    catalog.upsert_domain(make_domain("ghost-domain"))
    catalog.upsert_policy(make_policy("ghost-policy", [_permit_all()]))
    world = _world("a", "c", "d", quality=0.5)
    del world.domains["marketing"]
    report = catalog.converge(world)
    assert (report.deleted_products, report.deleted_domains, report.deleted_policies) == (1, 2, 1)
    with Session(catalog.engine) as session:
        assert sorted(session.execute(select(ProductRow.name)).scalars()) == ["a", "c", "d"]
        assert sorted(session.execute(select(DomainRow.name)).scalars()) == ["sales"]
        assert list(session.execute(select(PolicyRow.name)).scalars()) == ["baseline"]
        assert set(session.execute(select(ProductRow.quality_score)).scalars()) == {0.5}
    assert count(catalog, QualityRunRow) == 3  # a and c kept their run, d has its own, b's went with b
    again = catalog.converge(world)
    assert (again.deleted_products, again.deleted_domains, again.deleted_policies) == (0, 0, 0)


@pytest.fixture
def outage(backend: str, catalog_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[CatalogSync, Any, Any]]:
    """A CatalogSync plus take_down()/bring_back() of its database: PostgreSQL stopped and restarted; SQLite
    held under an exclusive lock by another connection (its way of being unavailable)."""
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        sync = open_catalog(catalog_url)
        try:
            yield sync, server.stop, server.start
        finally:
            if not _postgres_up(server):
                server.start()
            sync.close()
        return
    path = catalog_url.removeprefix("sqlite:///")
    sync = open_catalog(f"{catalog_url}?timeout=0.2")
    holder: dict[str, sqlite3.Connection] = {}

    def take_down() -> None:
        holder["lock"] = sqlite3.connect(path, isolation_level=None)
        holder["lock"].execute("BEGIN EXCLUSIVE")

    def bring_back() -> None:
        holder.pop("lock").rollback()

    try:
        yield sync, take_down, bring_back
    finally:
        if "lock" in holder:
            bring_back()
        sync.close()


def _postgres_up(server: PostgresServer) -> bool:
    return Path(server.data_dir, "postmaster.pid").exists()


def test_database_down_raises_catalog_unavailable_and_converge_repairs_afterwards(
    outage: tuple[CatalogSync, Any, Any],
) -> None:
    catalog, take_down, bring_back = outage
    catalog.converge(_world("a", "b"))
    take_down()
    with pytest.raises(CatalogUnavailable):
        catalog.upsert_product(make_product("c", "sales", quality=0.7, run_id="c-run"))
    with pytest.raises(CatalogUnavailable):
        catalog.delete_product("sales", "a")
    with pytest.raises(CatalogUnavailable):
        catalog.upsert_domain(make_domain("finance"))
    with pytest.raises(CatalogUnavailable):
        catalog.converge(_world("b"))
    bring_back()
    # Meanwhile in the cluster: a was deleted, c created, finance created, marketing deleted.
    world = _world("b", "c")
    world.domains["finance"] = make_domain("finance")
    del world.domains["marketing"]
    report = catalog.converge(world)
    assert report.deleted_products == 1 and report.deleted_domains == 1
    with Session(catalog.engine) as session:
        assert sorted(session.execute(select(ProductRow.name)).scalars()) == ["b", "c"]
        assert sorted(session.execute(select(DomainRow.name)).scalars()) == ["finance", "sales"]
    catalog.upsert_product(make_product("b", "sales", quality=0.99, run_id="b-run-2"))
    assert count(catalog, QualityRunRow) == 3


def test_open_catalog_defaults_to_sqlite_under_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAMESH_CATALOG_URL", raising=False)
    monkeypatch.setenv("DATAMESH_STATE_DIR", str(tmp_path / "state"))
    sync = open_catalog()
    sync.upsert_domain(make_domain("sales"))
    sync.close()
    assert (tmp_path / "state" / "catalog.db").exists()
    monkeypatch.setenv("DATAMESH_CATALOG_URL", f"sqlite:///{tmp_path / 'explicit.db'}")
    explicit = open_catalog()
    explicit.ping()
    assert explicit.url.endswith("explicit.db")
    explicit.close()


def test_unreachable_postgres_is_unavailable_not_a_crash() -> None:
    sync = open_catalog("postgresql://nobody@127.0.0.1:1/catalog?connect_timeout=2")
    with pytest.raises(CatalogUnavailable, match="upsert of Domain sales|migrate"):
        sync.upsert_domain(make_domain("sales"))
