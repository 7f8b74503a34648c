"""The catalog's errors: the database cannot be reached right now (the one the operator has to handle), and a
request the discovery API refuses with an HTTP status."""

from __future__ import annotations


class CatalogUnavailable(Exception):
    """The catalog database is unreachable, locked or refused the connection; retry later with backoff.

    Wraps the driver error (SQLAlchemy OperationalError, InterfaceError, a disconnect) as `__cause__`.
    """

    def __init__(self, operation: str, detail: str) -> None:
        super().__init__(f"catalog unavailable during {operation}: {detail}")
        self.operation = operation
        self.detail = detail


class Refused(Exception):
    """A request the API refuses; `status` is the HTTP status to answer with, `message` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
