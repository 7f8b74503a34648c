"""Tombstones: deleted products and domains keep their rows (and so their quality history, lineage and owners),
marked with the moment they were seen deleted.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("products") as products:
        products.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        products.create_index("ix_products_deleted_at", ["deleted_at"])
    with op.batch_alter_table("domains") as domains:
        domains.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Tombstoned rows become live rows again; the previous release's converge removes them at its start.
    with op.batch_alter_table("domains") as domains:
        domains.drop_column("deleted_at")
    with op.batch_alter_table("products") as products:
        products.drop_index("ix_products_deleted_at")
        products.drop_column("deleted_at")
