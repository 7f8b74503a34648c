"""The catalog store and CatalogSync, against SQLite and a real PostgreSQL server (same tests, parametrized)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from datamesh.api.dataproduct import PreviousVersion
from datamesh.catalog import CatalogSync, CatalogUnavailable, open_catalog
from datamesh.catalog.access import Caller, access_view
from datamesh.catalog.db import MIGRATIONS, create_catalog_engine, current_revision, head_revision
from datamesh.catalog.inventory import Inventory, Scope
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
    VersionRow,
)
from datamesh.catalog.queries import (
    ProductFilters,
    find_product,
    mesh_graph,
    product_detail,
    products_named,
    search_products,
)
from datamesh.mesh.world import World
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
    assert current_revision(second.engine) == head_revision() == "0004"
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


def history(catalog: CatalogSync, namespace: str, name: str) -> dict[str, int]:
    """Row counts of every table that holds something of the product."""
    row = product_row(catalog, namespace, name)
    assert row is not None, f"{namespace}/{name} has no row"
    return {model.__tablename__: count(catalog, model, product_id=row.id) for model in (*CHILD_TABLES, OwnerRow)}


def test_delete_product_tombstones_it_keeping_its_history(catalog: CatalogSync) -> None:
    catalog.upsert_product(make_product("orders", "sales", quality=0.9, run_id="r1", tags=["x"]))
    catalog.upsert_product(make_product("refunds", "sales", quality=0.8, run_id="r2", tags=["x"]))
    before = history(catalog, "sales", "orders")
    assert all(before.values()), before
    catalog.delete_product("sales", "orders")
    first = product_row(catalog, "sales", "orders")
    assert first is not None and first.deleted_at is not None
    catalog.delete_product("sales", "orders")  # idempotent: the first deletion time stays
    catalog.delete_product("nowhere", "never-existed")
    again = product_row(catalog, "sales", "orders")
    assert again is not None and again.deleted_at == first.deleted_at
    assert history(catalog, "sales", "orders") == before
    kept = product_row(catalog, "sales", "refunds")
    assert kept is not None and kept.deleted_at is None
    assert count(catalog, ProductRow) == 2


def test_a_recreated_product_is_live_again_with_its_history_continued(catalog: CatalogSync) -> None:
    catalog.upsert_product(make_product("orders", "sales", quality=0.9, run_id="r1"))
    catalog.delete_product("sales", "orders")
    catalog.upsert_product(make_product("orders", "sales", quality=0.95, run_id="r2"))
    row = product_row(catalog, "sales", "orders")
    assert row is not None and row.deleted_at is None and row.quality_score == 0.95
    assert count(catalog, ProductRow) == 1
    assert count(catalog, QualityRunRow, product_id=row.id) == 2


def test_domains_are_tombstoned_and_policies_deleted(catalog: CatalogSync) -> None:
    catalog.upsert_domain(make_domain("sales"))
    catalog.upsert_domain(make_domain("sales", team_groups=["sellers"]))
    assert count(catalog, OwnerRow, principal="sellers") == 1 and count(catalog, OwnerRow, principal="sales-team") == 0
    catalog.upsert_policy(make_policy("baseline", [_permit_all()]))
    catalog.delete_domain("sales")
    catalog.delete_domain("sales")
    catalog.delete_policy("baseline")
    assert count(catalog, PolicyRow) == 0
    assert count(catalog, DomainRow) == 1 and count(catalog, OwnerRow, domain_name="sales") == 2  # owner, sellers
    assert _live_domains(catalog) == []
    catalog.upsert_domain(make_domain("sales"))
    assert _live_domains(catalog) == ["sales"]


def _live_products(catalog: CatalogSync) -> list[str]:
    with Session(catalog.engine) as session:
        return sorted(session.execute(select(ProductRow.name).where(ProductRow.deleted_at.is_(None))).scalars())


def _tombstones(catalog: CatalogSync) -> list[str]:
    with Session(catalog.engine) as session:
        return sorted(session.execute(select(ProductRow.name).where(ProductRow.deleted_at.is_not(None))).scalars())


def _live_domains(catalog: CatalogSync) -> list[str]:
    with Session(catalog.engine) as session:
        return sorted(session.execute(select(DomainRow.name).where(DomainRow.deleted_at.is_(None))).scalars())


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


def test_converge_makes_the_catalog_equal_what_exists(catalog: CatalogSync) -> None:
    first = _world("a", "b", "c")
    catalog.converge(first, Inventory.of(first))
    catalog.upsert_domain(make_domain("ghost-domain"))
    catalog.upsert_policy(make_policy("ghost-policy", [_permit_all()]))
    world = _world("a", "c", "d", quality=0.5)
    del world.domains["marketing"]
    report = catalog.converge(world, Inventory.of(world))
    assert (report.tombstoned_products, report.tombstoned_domains, report.deleted_policies) == (1, 2, 1)
    assert _live_products(catalog) == ["a", "c", "d"] and _tombstones(catalog) == ["b"]
    assert _live_domains(catalog) == ["sales"]
    with Session(catalog.engine) as session:
        assert list(session.execute(select(PolicyRow.name)).scalars()) == ["baseline"]
        assert set(session.execute(select(ProductRow.quality_score).where(ProductRow.name != "b")).scalars()) == {0.5}
    assert count(catalog, QualityRunRow) == 4  # b's run stays with its tombstone
    again = catalog.converge(world, Inventory.of(world))
    assert (again.tombstoned_products, again.tombstoned_domains, again.deleted_policies) == (0, 0, 0)


def test_converge_from_a_partial_world_tombstones_only_what_the_list_proves_gone(catalog: CatalogSync) -> None:
    """The bug: converging from the watch cache alone wiped the history of every product it had not seen yet
    (a slow first list) or had left out (an invalid spec). Only the list of what exists decides."""
    full = _world("a", "b", "c", "invalid")
    catalog.converge(full, Inventory.of(full))
    before = {name: history(catalog, "sales", name) for name in ("a", "b", "c", "invalid")}
    partial = _world("a")  # the watch has delivered one product so far; "invalid" never parses
    existing = Inventory(
        products=frozenset({("sales", "a"), ("sales", "b"), ("sales", "invalid")}),  # c was deleted meanwhile
        domains=frozenset({"sales", "marketing"}),
        policies=frozenset({"baseline"}),
    )
    report = catalog.converge(partial, existing)
    assert (report.tombstoned_products, report.tombstoned_domains, report.deleted_policies) == (1, 0, 0)
    assert _live_products(catalog) == ["a", "b", "invalid"] and _tombstones(catalog) == ["c"]
    assert {name: history(catalog, "sales", name) for name in before} == before


def test_converge_counts_objects_created_after_the_list_as_existing(catalog: CatalogSync) -> None:
    world = _world("listed", "created-after-the-list")
    listed = Inventory(frozenset({("sales", "listed")}), frozenset(), frozenset())
    report = catalog.converge(world, listed)
    assert (report.tombstoned_products, report.tombstoned_domains, report.deleted_policies) == (0, 0, 0)
    assert _live_products(catalog) == ["created-after-the-list", "listed"]
    assert _live_domains(catalog) == ["marketing", "sales"]


def test_converge_never_touches_rows_outside_the_watched_namespaces(catalog: CatalogSync) -> None:
    catalog.upsert_domain(make_domain("other"))
    catalog.upsert_product(make_product("theirs", "other", quality=0.9, run_id="t1"))
    theirs = history(catalog, "other", "theirs")
    world = _world("ours")
    world.products[("other", "unwatched")] = make_product("unwatched", "other")
    report = catalog.converge(world, Inventory.of(_world("ours")), Scope(("sales",)))
    assert report.products == 1  # the product of a namespace outside the scope is not written either
    assert _live_products(catalog) == ["ours", "theirs"]
    assert _live_domains(catalog) == ["marketing", "other", "sales"]
    assert history(catalog, "other", "theirs") == theirs
    catalog.converge(world, Inventory.of(_world("ours")), Scope(("!other",)))  # a kopf glob scope
    assert _live_products(catalog) == ["ours", "theirs"]
    catalog.converge(_world("ours"), Inventory.of(_world("ours")))  # cluster-wide: theirs is gone
    assert _tombstones(catalog) == ["theirs"] and history(catalog, "other", "theirs") == theirs


def test_discovery_hides_tombstones(catalog: CatalogSync) -> None:
    catalog.upsert_domain(make_domain("sales"))
    catalog.upsert_domain(make_domain("gone-domain", team_groups=["ex-team"]))
    catalog.upsert_product(make_product("orders", "sales", quality=0.9, run_id="r1"))
    catalog.upsert_product(make_product("feed", "sales", quality=0.8, run_id="r2",
                                        inputs=[{"product": "orders", "domain": "sales"}]))  # fmt: skip
    catalog.delete_product("sales", "feed")
    catalog.delete_domain("gone-domain")
    with Session(catalog.engine) as session:
        view = access_view(session, Caller("someone", frozenset({"sales-team", "ex-team"})))
        assert view.principal.domains == {"sales"}  # a deleted domain makes nobody a member
        assert [p["name"] for p in search_products(session, view, ProductFilters())] == ["orders"]
        assert find_product(session, view, "sales", "feed") is None
        assert products_named(session, view, "feed") == []
        orders = find_product(session, view, "sales", "orders")
        assert orders is not None
        assert product_detail(session, view, orders)["lineage"]["downstream"] == []
        graph = mesh_graph(session, view)
        nodes = {n["id"] for n in graph["nodes"]}
        assert nodes == {"domain:sales", "product:sales/orders", "source:sales/bronze.sales.raw"}


@pytest.mark.parametrize(
    ("patterns", "namespaces"),
    [
        ((), ["a", "sales", "x-pr-1"]),
        (("sales",), ["sales", "sales2", "x"]),
        (("sales", "crm"), ["sales", "crm", "hr"]),
        (("team-*",), ["team-a", "team", "xteam-a"]),
        (("!kube-*",), ["kube-system", "sales"]),
        (("myapp-*, !*-pr-*, *pr-123",), ["myapp-test", "myapp-pr-123", "myapp-pr-456", "otherapp-pr-123"]),
        (("!*-pr-*, *pr-123",), ["myapp-test", "otherapp-pr-123", "myapp-pr-456"]),
    ],
)
def test_scope_reads_namespaces_as_kopf_does(patterns: tuple[str, ...], namespaces: list[str]) -> None:
    from kopf._cogs.structs.references import NamespaceName, match_namespace

    scope = Scope(patterns)
    for namespace in namespaces:
        expected = not patterns or any(match_namespace(NamespaceName(namespace), p) for p in patterns)
        assert scope.covers(namespace) == expected, (patterns, namespace)
    plain = all(p.isalnum() for p in patterns) and bool(patterns)
    assert scope.exact_namespaces == (frozenset(patterns) if plain else None)


def test_upgrading_from_0001_keeps_every_row_live(catalog_url: str) -> None:
    """A catalog written by the previous release: the tombstone migration adds no deletion and loses nothing."""
    engine = create_catalog_engine(catalog_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO products (namespace, name, domain, owner, description, classification,"
                " access_policy, shared, labels, spec, spec_hash, conditions, synced_at)"
                " VALUES ('sales', 'old', 'sales', 'o', '', 'internal', 'domain-internal', false, '{}', '{}', '',"
                " '[]', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO quality_runs (product_id, run_id, outcome, checks, recorded_at)"
                " SELECT id, 'r1', 'Published', '[]', CURRENT_TIMESTAMP FROM products"
            )
        )
    engine.dispose()
    catalog = open_catalog(catalog_url)
    try:
        catalog.migrate()
        assert current_revision(catalog.engine) == head_revision()
        assert _live_products(catalog) == ["old"] and count(catalog, QualityRunRow) == 1
    finally:
        catalog.close()


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
    catalog.converge(_world("a", "b"), Inventory.of(_world("a", "b")))
    take_down()
    with pytest.raises(CatalogUnavailable):
        catalog.upsert_product(make_product("c", "sales", quality=0.7, run_id="c-run"))
    with pytest.raises(CatalogUnavailable):
        catalog.delete_product("sales", "a")
    with pytest.raises(CatalogUnavailable):
        catalog.upsert_domain(make_domain("finance"))
    with pytest.raises(CatalogUnavailable):
        catalog.converge(_world("b"), Inventory.of(_world("b")))
    bring_back()
    # Meanwhile in the cluster: a was deleted, c created, finance created, marketing deleted.
    world = _world("b", "c")
    world.domains["finance"] = make_domain("finance")
    del world.domains["marketing"]
    report = catalog.converge(world, Inventory.of(world))
    assert report.tombstoned_products == 1 and report.tombstoned_domains == 1
    assert _live_products(catalog) == ["b", "c"] and _tombstones(catalog) == ["a"]
    assert _live_domains(catalog) == ["finance", "sales"]
    catalog.upsert_product(make_product("b", "sales", quality=0.99, run_id="b-run-2"))
    assert count(catalog, QualityRunRow) == 4  # a's run stays with its tombstone


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


def test_one_entry_per_served_major(catalog: CatalogSync) -> None:
    """A major bump keeps the previous major's entry (status.previousVersions) until it is retired."""
    catalog.upsert_domain(make_domain("sales"))
    product = make_product("orders", "sales", quality=0.97, run_id="run-1")
    catalog.upsert_product(product)
    assert product.status is not None
    # Bumped to 2.0.0: while v2 builds, status.location still names v1's table, recorded as a previous major.
    product.spec.version = "2.0.0"
    product.status.previous_versions = [
        PreviousVersion(major=1, version="1.0.0", location="/lake/sales/orders", table_version=3,
                        consumers=["marketing/churn"], until="2027-06-30")
    ]  # fmt: skip
    catalog.upsert_product(product)

    def versions() -> list[tuple[Any, ...]]:
        with Session(catalog.engine) as session:
            view = access_view(session, Caller("someone", frozenset({"sales-team"})))
            found = find_product(session, view, "sales", "orders")
            assert found is not None
            detail = product_detail(session, view, found)["versions"]
        return [(v["major"], v["current"], v["location"], v["tableVersion"], v["consumers"]) for v in detail]

    assert versions() == [(2, True, None, None, []), (1, False, "/lake/sales/orders", 3, ["marketing/churn"])]
    # v2 publishes next to it.
    product.status.location, product.status.table_version = "/lake/sales/orders@v2", 0
    catalog.upsert_product(product)
    assert versions() == [
        (2, True, "/lake/sales/orders@v2", 0, []),
        (1, False, "/lake/sales/orders", 3, ["marketing/churn"]),
    ]
    # Retired: one entry again.
    product.status.previous_versions = []
    catalog.upsert_product(product)
    assert versions() == [(2, True, "/lake/sales/orders@v2", 0, [])]
    assert count(catalog, VersionRow) == 1
