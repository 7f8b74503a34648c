"""Initial catalog schema: domains, policies, products, columns, tags, SLA, freshness, quality history,
lineage edges and owners.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TZ = sa.DateTime(timezone=True)


def _product_fk() -> sa.ForeignKey:
    return sa.ForeignKey("products.id", ondelete="CASCADE", name=None)


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("namespace", sa.String(63), nullable=False),
        sa.Column("owner", sa.String(253), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("storage_location", sa.String(1024)),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("synced_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_domains"),
    )
    op.create_table(
        "policies",
        sa.Column("name", sa.String(253), primary_key=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("synced_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_policies"),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(63), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("domain", sa.String(63), nullable=False),
        sa.Column("owner", sa.String(253), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("classification", sa.String(32), nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("access_policy", sa.String(32), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("generation", sa.BigInteger()),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("ready", sa.Boolean()),
        sa.Column("quality_score", sa.Float()),
        sa.Column("row_count", sa.BigInteger()),
        sa.Column("table_version", sa.BigInteger()),
        sa.Column("location", sa.String(1024)),
        sa.Column("data_updated_at", _TZ),
        sa.Column("last_run_id", sa.String(128)),
        sa.Column("last_outcome", sa.String(32)),
        sa.Column("synced_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("namespace", "name", name="uq_products_namespace_name"),
    )
    op.create_index("ix_products_domain", "products", ["domain"])
    op.create_index("ix_products_owner", "products", ["owner"])
    op.create_index("ix_products_quality_score", "products", ["quality_score"])

    op.create_table(
        "product_columns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("product_id", sa.Integer(), _product_fk(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("nullable", sa.Boolean(), nullable=False),
        sa.Column("pii", sa.Boolean(), nullable=False),
        sa.Column("classification", sa.String(128)),
        sa.Column("primary_key", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_product_columns"),
    )
    op.create_index("ix_product_columns_product_id", "product_columns", ["product_id"])
    op.create_index("ix_product_columns_classification", "product_columns", ["classification"])

    op.create_table(
        "product_tags",
        sa.Column("product_id", sa.Integer(), _product_fk(), nullable=False),
        sa.Column("tag", sa.String(63), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "tag", name="pk_product_tags"),
    )
    op.create_index("ix_product_tags_tag", "product_tags", ["tag"])

    op.create_table(
        "product_slas",
        sa.Column("product_id", sa.Integer(), _product_fk(), nullable=False),
        sa.Column("freshness", sa.String(64), nullable=False),
        sa.Column("freshness_seconds", sa.Float(), nullable=False),
        sa.Column("availability", sa.String(16)),
        sa.Column("min_quality_score", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", name="pk_product_slas"),
    )
    op.create_table(
        "product_freshness",
        sa.Column("product_id", sa.Integer(), _product_fk(), nullable=False),
        sa.Column("data_updated_at", _TZ),
        sa.Column("stale_after", _TZ),
        sa.Column("fresh", sa.Boolean()),
        sa.Column("reason", sa.String(1024)),
        sa.Column("next_build_at", _TZ),
        sa.PrimaryKeyConstraint("product_id", name="pk_product_freshness"),
    )
    op.create_table(
        "quality_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("product_id", sa.Integer(), _product_fk(), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(128)),
        sa.Column("trigger", sa.String(64)),
        sa.Column("quality_score", sa.Float()),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.BigInteger()),
        sa.Column("table_version", sa.BigInteger()),
        sa.Column("started_at", _TZ),
        sa.Column("finished_at", _TZ),
        sa.Column("recorded_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quality_runs"),
        sa.UniqueConstraint("product_id", "run_id", name="uq_quality_runs_product_run"),
    )
    op.create_index("ix_quality_runs_product_id", "quality_runs", ["product_id"])

    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("product_id", sa.Integer(), _product_fk(), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(253), nullable=False),
        sa.Column("domain", sa.String(63)),
        sa.Column("alias", sa.String(128)),
        sa.Column("location", sa.String(1024)),
        sa.Column("endpoint", sa.String(1024)),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_edges"),
    )
    op.create_index("ix_lineage_edges_product_id", "lineage_edges", ["product_id"])
    op.create_index("ix_lineage_edges_ref", "lineage_edges", ["ref"])

    op.create_table(
        "owners",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("principal", sa.String(253), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("domain_name", sa.String(63), sa.ForeignKey("domains.name", ondelete="CASCADE")),
        sa.Column("product_id", sa.Integer(), _product_fk()),
        sa.PrimaryKeyConstraint("id", name="pk_owners"),
    )
    op.create_index("ix_owners_principal", "owners", ["principal"])
    op.create_index("ix_owners_domain_name", "owners", ["domain_name"])
    op.create_index("ix_owners_product_id", "owners", ["product_id"])


def downgrade() -> None:
    for table in (
        "owners",
        "lineage_edges",
        "quality_runs",
        "product_freshness",
        "product_slas",
        "product_tags",
        "product_columns",
        "products",
        "policies",
        "domains",
    ):
        op.drop_table(table)
