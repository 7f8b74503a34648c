"""Structured logs: one JSON object a line, with product/domain/job fields when a record carries them."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from datetime import UTC, datetime

FIELDS = ("product", "namespace", "domain", "job", "reason")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class QuietEventHandlers(logging.Filter):
    """Drops kopf's "Handler 'x' succeeded." for the given event handlers: kopf logs it at INFO for every watch
    event of every object, which only hands the object to the cache (20,000 lines at a restart under 10,000
    products, and one per status write). Their failures, and every other handler's lines, still pass."""

    def __init__(self, handler_ids: Collection[str]) -> None:
        super().__init__()
        self.lines = frozenset(f"Handler {handler_id!r} succeeded." for handler_id in handler_ids)

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and record.msg in self.lines)


def configure(fmt: str, verbose: bool, *, quiet_handlers: Collection[str] = ()) -> None:
    """`quiet_handlers`: kopf event handlers whose success is not logged (unless verbose)."""
    if not verbose:
        kopf_objects = logging.getLogger("kopf.objects")
        kopf_objects.filters[:] = [QuietEventHandlers(quiet_handlers)] if quiet_handlers else []
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
