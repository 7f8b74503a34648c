"""The major versions a product serves: the current one and the older majors still served side by side
(status.previousVersions, docs/lifecycle.md), one row each, keyed by the product and the major.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "product_versions",
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("major", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("location", sa.String(1024)),
        sa.Column("table_version", sa.BigInteger()),
        sa.Column("consumers", sa.JSON(), nullable=False),
        sa.Column("until", sa.String(10)),
        sa.PrimaryKeyConstraint("product_id", "major", name="pk_product_versions"),
    )


def downgrade() -> None:
    op.drop_table("product_versions")
