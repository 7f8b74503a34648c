"""Alembic migrations of the catalog schema; `datamesh.catalog.db.migrate` runs them up to head on startup."""
