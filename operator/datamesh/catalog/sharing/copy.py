"""Validating the masked (or reduced) copy of a product that recipients whose grant says `mask` or `exclude` are
served. The build writes it (datamesh.sharing_copy, re-exported here); this side decides whether it may be served.

Each copy commit records the product table version it was made from and its mode. The API serves a copy only when
that version is the product's current one, the mode is the recipient's, and its schema proves it: no PII column
in clear, no column the product does not declare (one the catalog cannot classify). Anything else is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from deltalake import DeltaTable

from datamesh.sharing_copy import (
    COPY_FOLDER,
    PII_COLUMNS,
    PII_MODE,
    SOURCE_VERSION,
    CopyMode,
    copy_location,
    write_copy,
)

__all__ = ["COPY_FOLDER", "CopyMode", "CopyRefused", "ServedCopy", "copy_location", "current_copy", "write_copy"]


class CopyRefused(Exception):
    """No copy may be served: missing, behind the product, of another mode, or not provably free of clear PII."""


@dataclass(frozen=True)
class ServedCopy:
    table: DeltaTable
    location: str


def current_copy(
    location: str, *, mode: CopyMode, source_version: int, pii_columns: frozenset[str], declared: frozenset[str]
) -> ServedCopy:
    """The copy to serve for `source_version` of the product, or CopyRefused saying why not."""
    where = copy_location(location, mode)
    try:
        table = DeltaTable(where)
    except Exception as error:  # TableNotFoundError, or a folder that is no Delta table
        raise CopyRefused(
            f"masked copy not published ({mode} copy missing at {where}: {type(error).__name__})"
        ) from None
    last = table.history(1)
    commit = last[0] if last else {}
    if str(commit.get(PII_MODE)) != mode:
        raise CopyRefused(f"masked copy not published: the copy at {where} is not a {mode} copy")
    if str(commit.get(SOURCE_VERSION)) != str(source_version):
        raise CopyRefused(
            f"masked copy not published for version {source_version}: the {mode} copy was made from version"
            f" {commit.get(SOURCE_VERSION)}"
        )
    try:
        masked = {str(c).lower() for c in json.loads(str(commit.get(PII_COLUMNS, "[]")))}
    except ValueError:
        masked = set()
    pii = {c.lower() for c in pii_columns}
    known = {c.lower() for c in declared}
    for field in table.schema().fields:
        name = field.name.lower()
        if name not in known:
            raise CopyRefused(f"the {mode} copy holds column {field.name!r}, which the product does not declare")
        # The copy's commit must name the column as masked (a column marked PII after the copy was made is not).
        if name in pii and (mode == "exclude" or name not in masked or getattr(field.type, "type", None) != "string"):
            raise CopyRefused(f"the {mode} copy holds PII column {field.name!r} unmasked")
    return ServedCopy(table, where)
