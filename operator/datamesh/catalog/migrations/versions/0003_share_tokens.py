"""Delta Sharing recipients' tokens: one row per issued bearer token (its SHA-256, never the token).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "share_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recipient", sa.String(63), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_share_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_share_tokens_token_hash"),
    )
    op.create_index("ix_share_tokens_recipient", "share_tokens", ["recipient"])


def downgrade() -> None:
    op.drop_index("ix_share_tokens_recipient", table_name="share_tokens")
    op.drop_table("share_tokens")
