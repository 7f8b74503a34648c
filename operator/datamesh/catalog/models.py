"""The catalog's tables. The schema is owned by the Alembic migrations in `migrations/versions/`; these
mappings must match the head revision (tests/catalog/test_store.py compares them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = dict[str, Any]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class DomainRow(Base):
    """A Domain: who owns it, which groups belong to it, where it stores products."""

    __tablename__ = "domains"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(63))
    owner: Mapped[str] = mapped_column(String(253))
    description: Mapped[str] = mapped_column(Text)
    storage_location: Mapped[str | None] = mapped_column(String(1024))
    spec: Mapped[Json] = mapped_column(JSON)
    """The Domain's spec as Kubernetes stores it: access decisions rebuild the model from it."""
    spec_hash: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the Domain was seen deleted (a tombstone: hidden from discovery, its owners kept); None while it exists."""


class PolicyRow(Base):
    """A GovernancePolicy, kept so the discovery API decides access without asking the cluster."""

    __tablename__ = "policies"

    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    body: Mapped[Json] = mapped_column(JSON)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProductRow(Base):
    """A DataProduct: the seed discovery query's columns plus what the detail view and access checks need."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("namespace", "name", name="uq_products_namespace_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(253))
    domain: Mapped[str] = mapped_column(String(63), index=True)
    owner: Mapped[str] = mapped_column(String(253), index=True)
    description: Mapped[str] = mapped_column(Text)
    classification: Mapped[str] = mapped_column(String(32))
    version: Mapped[str | None] = mapped_column(String(64))
    access_policy: Mapped[str] = mapped_column(String(32))
    shared: Mapped[bool] = mapped_column(Boolean)
    """Readable beyond its domain by contract (accessPolicy organization/public, or grants): discovery looks at
    these besides the products of the caller's accessible domains."""
    labels: Mapped[Json] = mapped_column(JSON)
    spec: Mapped[Json] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int | None] = mapped_column(BigInteger)
    conditions: Mapped[list[Json]] = mapped_column(JSON)
    ready: Mapped[bool | None] = mapped_column(Boolean)
    quality_score: Mapped[float | None] = mapped_column(Float, index=True)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    table_version: Mapped[int | None] = mapped_column(BigInteger)
    location: Mapped[str | None] = mapped_column(String(1024))
    data_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_id: Mapped[str | None] = mapped_column(String(128))
    last_outcome: Mapped[str | None] = mapped_column(String(32))
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    """When the DataProduct was seen deleted: a tombstone, hidden from discovery, whose quality history and lineage
    are kept. None while it exists; re-creating the product (same namespace and name) clears it."""


def _product_fk() -> ForeignKey:
    return ForeignKey("products.id", ondelete="CASCADE")


class ColumnRow(Base):
    """One column of a product's published schema, with its PII flag and classification label."""

    __tablename__ = "product_columns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(_product_fk(), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    nullable: Mapped[bool] = mapped_column(Boolean)
    pii: Mapped[bool] = mapped_column(Boolean)
    classification: Mapped[str | None] = mapped_column(String(128), index=True)
    primary_key: Mapped[bool] = mapped_column(Boolean)


class TagRow(Base):
    __tablename__ = "product_tags"

    product_id: Mapped[int] = mapped_column(_product_fk(), primary_key=True)
    tag: Mapped[str] = mapped_column(String(63), primary_key=True, index=True)


class SlaRow(Base):
    """The product's promised service levels."""

    __tablename__ = "product_slas"

    product_id: Mapped[int] = mapped_column(_product_fk(), primary_key=True)
    freshness: Mapped[str] = mapped_column(String(64))
    freshness_seconds: Mapped[float] = mapped_column(Float)
    availability: Mapped[str | None] = mapped_column(String(16))
    min_quality_score: Mapped[float] = mapped_column(Float)


class VersionRow(Base):
    """A major version the product serves: the current one, or an older one still served side by side for the
    consumers that pin it (docs/lifecycle.md). Rewritten with the status on every sync."""

    __tablename__ = "product_versions"

    product_id: Mapped[int] = mapped_column(_product_fk(), primary_key=True)
    major: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str | None] = mapped_column(String(64))
    current: Mapped[bool] = mapped_column(Boolean)
    location: Mapped[str | None] = mapped_column(String(1024))
    table_version: Mapped[int | None] = mapped_column(BigInteger)
    consumers: Mapped[list[str]] = mapped_column(JSON)
    """namespace/name of the products pinning this major (empty for the current one: its readers follow it)."""
    until: Mapped[str | None] = mapped_column(String(10))
    """The sunset after which an older major is retired (YYYY-MM-DD)."""


class FreshnessRow(Base):
    """How fresh the published data is, as the operator last reported it."""

    __tablename__ = "product_freshness"

    product_id: Mapped[int] = mapped_column(_product_fk(), primary_key=True)
    data_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stale_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """data_updated_at plus the SLA freshness: past this moment the product is stale."""
    fresh: Mapped[bool | None] = mapped_column(Boolean)
    """The Fresh condition's status (None while unknown)."""
    reason: Mapped[str | None] = mapped_column(String(1024))
    next_build_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class QualityRunRow(Base):
    """One finished build: its outcome and quality measurements (one row per run id, never rewritten)."""

    __tablename__ = "quality_runs"
    __table_args__ = (UniqueConstraint("product_id", "run_id", name="uq_quality_runs_product_run"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(_product_fk(), index=True)
    run_id: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(128))
    trigger: Mapped[str | None] = mapped_column(String(64))
    quality_score: Mapped[float | None] = mapped_column(Float)
    checks: Mapped[list[Json]] = mapped_column(JSON)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    table_version: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LineageEdgeRow(Base):
    """An input (a source table or another product flowing into this product) or an output port."""

    __tablename__ = "lineage_edges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(_product_fk(), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    """input or output."""
    kind: Mapped[str] = mapped_column(String(16))
    """source or product (inputs); delta or rest (outputs)."""
    ref: Mapped[str] = mapped_column(String(253), index=True)
    """Input: the source table or product name. Output: the port name."""
    domain: Mapped[str | None] = mapped_column(String(63))
    """Input: the domain owning the source or product."""
    alias: Mapped[str | None] = mapped_column(String(128))
    location: Mapped[str | None] = mapped_column(String(1024))
    endpoint: Mapped[str | None] = mapped_column(String(1024))


class OwnerRow(Base):
    """Who is accountable for a domain or product, and the groups that act for a domain."""

    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(253), index=True)
    role: Mapped[str] = mapped_column(String(16))
    """owner, team (a teamGroup) or reader (a readerGroup)."""
    domain_name: Mapped[str | None] = mapped_column(ForeignKey("domains.name", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(_product_fk(), index=True)


class ShareTokenRow(Base):
    """A Delta Sharing bearer token of a recipient (a consumer domain), kept only as its SHA-256.

    What the recipient may read is not stored here: it is decided from governance at every request, so revoking a
    grant revokes the share at once (datamesh.catalog.sharing)."""

    __tablename__ = "share_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(63), index=True)
    """The consumer domain the token speaks for."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
