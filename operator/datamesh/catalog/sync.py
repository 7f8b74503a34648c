"""`CatalogSync`: the operator's write side of the catalog. Every method is synchronous, idempotent and runs in one
transaction; every one raises `CatalogUnavailable` (and nothing else for an unreachable database) so the operator
can set CatalogSynced=False, back off and later call `converge`.

Nothing here deletes a product or a domain: a deleted one becomes a tombstone (`deleted_at`) that keeps its quality
history and lineage, because the history outlives the object and a mistaken delete must cost nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Update, delete, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from datamesh.api.dataproduct import DataProduct
from datamesh.api.domain import Domain
from datamesh.api.governancepolicy import GovernancePolicy
from datamesh.catalog import inventory
from datamesh.catalog.db import create_catalog_engine, default_catalog_url, migrate, session_factory, unavailable_as
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
from datamesh.catalog.records import DomainRecord, ProductRecord, domain_record, now, product_record
from datamesh.catalog.sharing import tokens
from datamesh.mesh.world import World


@dataclass(frozen=True)
class ConvergeReport:
    """What `converge` changed: counts of rows written, tombstoned (products, domains) and removed (policies)."""

    domains: int
    products: int
    policies: int
    tombstoned_domains: int
    tombstoned_products: int
    deleted_policies: int


def _insert_ignoring_conflict(session: Session, model: type[Base], values: dict[str, Any], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: two writers creating the same row at once must not fail."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg_statement = postgresql.insert(model).values(values).on_conflict_do_nothing(index_elements=keys)
        session.execute(pg_statement)
    elif dialect == "sqlite":
        sqlite_statement = sqlite.insert(model).values(values).on_conflict_do_nothing(index_elements=keys)
        session.execute(sqlite_statement)
    else:
        raise NotImplementedError(f"the catalog supports SQLite and PostgreSQL, not {dialect}")


def _write_domain(session: Session, record: DomainRecord) -> None:
    synced_at = now()
    _insert_ignoring_conflict(
        session, DomainRow, {"name": record.name, **record.values, "spec_hash": "", "synced_at": synced_at}, ["name"]
    )
    row = session.execute(select(DomainRow).where(DomainRow.name == record.name).with_for_update()).scalar_one()
    if row.spec_hash != record.spec_hash:
        session.execute(delete(OwnerRow).where(OwnerRow.domain_name == record.name))
        session.add_all(OwnerRow(domain_name=record.name, **owner) for owner in record.owners)
    for key, value in record.values.items():
        setattr(row, key, value)
    row.synced_at = synced_at
    row.deleted_at = None  # a Domain re-created under its old name is that domain again


def _rewrite_spec_rows(session: Session, product_id: int, record: ProductRecord) -> None:
    for model in (ColumnRow, TagRow, SlaRow, LineageEdgeRow, OwnerRow):
        session.execute(delete(model).where(model.product_id == product_id))
    session.add_all(ColumnRow(product_id=product_id, **column) for column in record.columns)
    session.add_all(TagRow(product_id=product_id, tag=tag) for tag in record.tags)
    session.add(SlaRow(product_id=product_id, **record.sla))
    session.add_all(LineageEdgeRow(product_id=product_id, **edge) for edge in record.lineage)
    session.add_all(OwnerRow(product_id=product_id, **owner) for owner in record.owners)


def _write_product(session: Session, record: ProductRecord) -> None:
    synced_at = now()
    key = {"namespace": record.namespace, "name": record.name}
    _insert_ignoring_conflict(
        session, ProductRow, {**key, **record.product, "spec_hash": "", "synced_at": synced_at}, ["namespace", "name"]
    )
    row = session.execute(
        select(ProductRow)
        .where(ProductRow.namespace == record.namespace, ProductRow.name == record.name)
        .with_for_update()
    ).scalar_one()
    if row.spec_hash != record.spec_hash:
        _rewrite_spec_rows(session, row.id, record)
        row.spec_hash = record.spec_hash
    for field, value in record.product.items():
        setattr(row, field, value)
    row.synced_at = synced_at
    row.deleted_at = None  # re-created under the same key: the same product, its history continues
    session.merge(FreshnessRow(product_id=row.id, **record.freshness))
    # The served majors follow the status, not the spec: rewritten on every sync (a handful of rows).
    session.execute(delete(VersionRow).where(VersionRow.product_id == row.id))
    session.add_all(VersionRow(product_id=row.id, **version) for version in record.versions)
    if record.quality_run is not None:
        _insert_ignoring_conflict(
            session,
            QualityRunRow,
            {"product_id": row.id, **record.quality_run, "recorded_at": synced_at},
            ["product_id", "run_id"],
        )


def _write_policy(session: Session, policy: GovernancePolicy) -> None:
    session.merge(PolicyRow(name=str(policy.metadata.get("name", "")), body=policy.to_wire(), synced_at=now()))


def _updated(session: Session, statement: Update) -> int:
    """Rows an UPDATE changed (an UPDATE's result is always a CursorResult)."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return int(result.rowcount)


def _tombstone_products(session: Session, keys: Iterable[tuple[str, str]]) -> int:
    """Mark live products deleted; every row of their history stays (nothing here deletes, nothing cascades)."""
    wanted = list(keys)
    marked = 0
    stamp = now()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        statement = (
            update(ProductRow)
            .where(tuple_(ProductRow.namespace, ProductRow.name).in_(chunk), ProductRow.deleted_at.is_(None))
            .values(deleted_at=stamp)
        )
        marked += _updated(session, statement)
    return marked


def _tombstone_domains(session: Session, names: Iterable[str]) -> int:
    wanted = list(names)
    if not wanted:
        return 0
    statement = update(DomainRow).where(DomainRow.name.in_(wanted), DomainRow.deleted_at.is_(None))
    return _updated(session, statement.values(deleted_at=now()))


class CatalogSync:
    """Mirrors Domains, DataProducts and GovernancePolicies into the catalog database.

    Thread-safe: the operator calls it through `asyncio.to_thread`. The schema is migrated to head on the first
    call that reaches the database (so constructing one never fails, even with the database down).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._migrated = False
        self._migrate_lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Upgrade the schema to head (idempotent). Raises CatalogUnavailable."""
        with self._migrate_lock:
            if not self._migrated:
                migrate(self.engine)
                self._migrated = True

    def ping(self) -> None:
        """Raise CatalogUnavailable unless the database answers."""
        with unavailable_as("ping"), self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    @contextmanager
    def _transaction(self, operation: str) -> Iterator[Session]:
        self.migrate()
        with unavailable_as(operation), self._sessions.begin() as session:
            yield session

    def upsert_domain(self, domain: Domain) -> None:
        with self._transaction(f"upsert of Domain {domain.name}") as session:
            _write_domain(session, domain_record(domain))

    def delete_domain(self, name: str) -> None:
        """Tombstone the domain: hidden from discovery, its row and owners kept. Missing or tombstoned: no-op."""
        with self._transaction(f"delete of Domain {name}") as session:
            _tombstone_domains(session, [name])

    def upsert_product(self, product: DataProduct) -> None:
        """Write the product's spec and status; record its last build in the quality history once per run id."""
        record = product_record(product)
        with self._transaction(f"upsert of DataProduct {record.namespace}/{record.name}") as session:
            _write_product(session, record)

    def delete_product(self, namespace: str, name: str) -> None:
        """Tombstone the product: hidden from discovery, its schema, SLA, quality history and lineage kept.
        Missing or tombstoned already: no-op."""
        with self._transaction(f"delete of DataProduct {namespace}/{name}") as session:
            _tombstone_products(session, [(namespace, name)])

    def upsert_policy(self, policy: GovernancePolicy) -> None:
        """Store a GovernancePolicy: the discovery API decides access from the stored copies."""
        with self._transaction(f"upsert of GovernancePolicy {policy.metadata.get('name')}") as session:
            _write_policy(session, policy)

    def delete_policy(self, name: str) -> None:
        with self._transaction(f"delete of GovernancePolicy {name}") as session:
            session.execute(delete(PolicyRow).where(PolicyRow.name == name))

    # --- Delta Sharing tokens the operator hands out (controller/share_plan.py); only their hashes come here.
    def store_share_token(self, recipient: str, hashed: str, now: datetime, expires_at: datetime) -> None:
        with self._transaction(f"share token of {recipient}") as session:
            tokens.store(session, recipient, hashed, now=now, expires_at=expires_at)

    def revoke_share_token(self, hashed: str) -> None:
        with self._transaction("share token revocation") as session:
            tokens.revoke(session, hashed)

    def converge(self, world: World, existing: Inventory, scope: Scope = Scope()) -> ConvergeReport:
        """In one transaction: upsert the world's domains, products and policies, and tombstone the products and
        domains of `scope` that `existing` (a complete list of what exists in the cluster) does not hold.

        `world` may be partial (a watch still filling, invalid objects left out): only `existing` proves an
        object gone. An object created after that list was taken is in the world, so the world's keys count as
        existing too. Rows outside `scope` are neither written nor tombstoned. The caller passes a world
        nobody mutates meanwhile (this runs in a thread)."""
        domains = list(world.domains.values())
        products = [p for p in world.products.values() if scope.covers(product_record_key(p)[0])]
        policies = list(world.policies.values())
        with self._transaction("converge") as session:
            for domain in domains:
                _write_domain(session, domain_record(domain))
            for policy in policies:
                _write_policy(session, policy)
            for product in products:
                _write_product(session, product_record(product))

            live_products = [
                (namespace, name)
                for namespace, name in session.execute(
                    select(ProductRow.namespace, ProductRow.name).where(ProductRow.deleted_at.is_(None))
                )
            ]
            present_products = existing.products | {product_record_key(p) for p in products}
            gone_products = inventory.products_gone(live_products, present_products, scope)
            tombstoned_products = _tombstone_products(session, gone_products)

            live_domains = [
                (name, namespace)
                for name, namespace in session.execute(
                    select(DomainRow.name, DomainRow.namespace).where(DomainRow.deleted_at.is_(None))
                )
            ]
            gone_domains = inventory.domains_gone(live_domains, existing.domains | {d.name for d in domains}, scope)
            tombstoned_domains = _tombstone_domains(session, gone_domains)

            stored_policies = session.execute(select(PolicyRow.name)).scalars()
            present_policies = existing.policies | {str(p.metadata.get("name", "")) for p in policies}
            gone_policies = inventory.policies_gone(stored_policies, present_policies)
            if gone_policies:
                session.execute(delete(PolicyRow).where(PolicyRow.name.in_(gone_policies)))
        return ConvergeReport(
            domains=len(domains),
            products=len(products),
            policies=len(policies),
            tombstoned_domains=tombstoned_domains,
            tombstoned_products=tombstoned_products,
            deleted_policies=len(gone_policies),
        )

    def close(self) -> None:
        self.engine.dispose()


def product_record_key(product: DataProduct) -> tuple[str, str]:
    return str(product.metadata.get("namespace") or "default"), product.name


def open_catalog(url: str | None = None) -> CatalogSync:
    """A CatalogSync for `url`; by default $DATAMESH_CATALOG_URL, else SQLite at
    ${DATAMESH_STATE_DIR:-.datamesh}/catalog.db. Does not connect: the schema is migrated on the first call
    that reaches the database."""
    return CatalogSync(create_catalog_engine(url or default_catalog_url()))
