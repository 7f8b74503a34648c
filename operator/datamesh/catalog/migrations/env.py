"""Alembic environment: runs migrations on the connection `datamesh.catalog.db.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from datamesh.catalog.models import Base

# Serialises concurrent upgrades (operator and API starting together) on PostgreSQL; any constant works.
_MIGRATION_LOCK_ID = 0x6461746D65736801


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        context.run_migrations()


run_migrations(context.config.attributes["connection"])
