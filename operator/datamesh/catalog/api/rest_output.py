"""REST outputs: rows of a product's published Delta table, paginated, with column selection, simple filters
and the reader's PII mode applied (exclude: left out; mask: the mesh's keyed hash, datamesh.masking, exactly as the
build engine masks; without the key, masked reads are refused rather than served with a plain hash).

Reads with delta-rs (`deltalake`) and pyarrow: no JVM in the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from datamesh import masking
from datamesh.catalog.errors import Refused
from datamesh.governance import PiiMode

Operator = Literal["eq", "ne", "lt", "le", "gt", "ge"]
OPERATORS: tuple[Operator, ...] = ("eq", "ne", "lt", "le", "gt", "ge")
MAX_LIMIT = 1000


class RowsError(Refused):
    """A request the rows endpoint refuses."""


@dataclass(frozen=True)
class RowFilter:
    """`column:op:value`, e.g. `amount:gt:10` or `country:eq:NL`."""

    column: str
    op: Operator
    value: str

    @classmethod
    def parse(cls, text: str) -> RowFilter:
        column, _, rest = text.partition(":")
        op, _, value = rest.partition(":")
        if not column or op not in OPERATORS or not _:
            raise RowsError(400, f"filter {text!r} is not column:op:value with op one of {', '.join(OPERATORS)}")
        return cls(column, op, value)


@dataclass(frozen=True)
class RowsPage:
    columns: list[str]
    rows: list[dict[str, Any]]
    table_version: int
    offset: int
    limit: int
    next_offset: int | None
    pii_mode: PiiMode
    masked: list[str]


#: Shared with the build's share copies (datamesh.masking): one masking for every way a consumer reads PII.
spark_string = masking.spark_string
mask = masking.mask_value


def _expression(row_filter: RowFilter, field: pa.Field) -> pc.Expression:
    try:
        value = pa.scalar(row_filter.value, type=pa.string()).cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise RowsError(400, f"filter value {row_filter.value!r} is not a valid {field.type}: {error}") from error
    column = pc.field(row_filter.column)
    comparisons = {
        "eq": column == value,
        "ne": column != value,
        "lt": column < value,
        "le": column <= value,
        "gt": column > value,
        "ge": column >= value,
    }
    return comparisons[row_filter.op]


def read_rows(
    location: str,
    *,
    pii_columns: set[str],
    pii_mode: PiiMode,
    select: list[str] | None = None,
    filters: list[RowFilter] | None = None,
    limit: int = 100,
    offset: int = 0,
    version: int | None = None,
) -> RowsPage:
    """One page of rows. Pin `version` (the tableVersion of the first page) to page through a stable snapshot."""
    if not 1 <= limit <= MAX_LIMIT:
        raise RowsError(400, f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise RowsError(400, "offset must not be negative")
    try:
        table = DeltaTable(location, version=version) if version is not None else DeltaTable(location)
    except TableNotFoundError as error:
        raise RowsError(404, "the product's table is not published yet") from error
    except Exception as error:  # delta-rs reports an unknown version as a generic error
        raise RowsError(404, f"cannot open the product's table: {error}") from error
    dataset = table.to_pyarrow_dataset()
    schema = dataset.schema
    visible = [name for name in schema.names if not (pii_mode == "exclude" and name in pii_columns)]
    chosen = select or visible
    unknown = [name for name in chosen if name not in visible]
    if unknown:
        raise RowsError(400, f"unknown or hidden columns: {', '.join(unknown)}")
    expression: pc.Expression | None = None
    for row_filter in filters or []:
        if row_filter.column not in visible:
            raise RowsError(400, f"cannot filter on unknown or hidden column {row_filter.column!r}")
        if row_filter.column in pii_columns and pii_mode != "clear":
            raise RowsError(403, f"cannot filter on PII column {row_filter.column!r} without clearance")
        part = _expression(row_filter, schema.field(row_filter.column))
        expression = part if expression is None else expression & part
    # Read only as far as the page reaches, plus one row to know whether there is a next page.
    head = dataset.scanner(columns=chosen, filter=expression).head(offset + limit + 1)
    page = head.slice(offset, limit).to_pylist()
    masked = [name for name in chosen if name in pii_columns] if pii_mode == "mask" else []
    if masked:
        try:
            key = masking.key_from_env()
        except masking.MaskingKeyError as error:
            raise RowsError(503, f"masked columns cannot be served: {error}") from error
        for row in page:
            for name in masked:
                row[name] = mask(row[name], key)
    more = head.num_rows > offset + limit
    return RowsPage(
        columns=chosen,
        rows=page,
        table_version=table.version(),
        offset=offset,
        limit=limit,
        next_offset=offset + limit if more else None,
        pii_mode=pii_mode,
        masked=masked,
    )
