"""The one error the operator has to handle: the catalog database cannot be reached right now."""

from __future__ import annotations


class CatalogUnavailable(Exception):
    """The catalog database is unreachable, locked or refused the connection; retry later with backoff.

    Wraps the driver error (SQLAlchemy OperationalError, InterfaceError, a disconnect) as `__cause__`.
    """

    def __init__(self, operation: str, detail: str) -> None:
        super().__init__(f"catalog unavailable during {operation}: {detail}")
        self.operation = operation
        self.detail = detail
