"""Metadata-only publish: committing the staged parquet files to the Delta table as they are, with delta-rs.

The staged files already are the table's data files: Spark wrote them under the table's root, in a run folder
(`<location>/run-<run id>-<random>/`), the way Delta's own writer would (parquet, TIMESTAMP_MICROS timestamps, no
`_SUCCESS` marker). Publishing is then ONE commit that adds exactly those files (and, for overwrite, removes
the previous version's): no byte of data is read or rewritten.

- Each AddAction carries the file's path relative to the table root, its size and modification time,
  `dataChange=true` and the statistics Delta uses for data skipping (`numRecords`, `minValues`, `maxValues`,
  `nullCount`), taken from the parquet footers only. Bounds are written only where they are certainly
  bounds under Spark's ordering: integers, decimals, dates, strings (min: a prefix of at most 32 characters;
  max: omitted when longer) and timestamps (widened to whole milliseconds, min down and max up, Delta's
  precision). Floats (NaN), booleans, binary and nested columns get no bounds; a column without footer
  statistics gets none. A missing statistic only means "no skipping on it", never a wrong answer.
- The table schema is the staged frame's Spark schema with every field nullable, as Delta's Spark writer
  declares it. The first publish creates the table (version 0, protocol 1/2); later ones commit to the existing
  table in `overwrite` mode, which removes every file of the previous version and replaces the schema.
- The commit's `userMetadata` holds the run id, quality results and input versions, exactly as the Spark
  writer's `userMetadata` option did, so `DESCRIBE HISTORY`/`DeltaTable.history()` read it the same way.

Supported: local paths and `file://` locations, which is what the tests exercise. `eligibility` sends
everything else to the Spark publish (`publish.py`): object stores (`s3a://`, `abfss://`, `gs://`, ...),
because Spark's credentials live in its Hadoop configuration, which delta-rs (and pyarrow, which reads the
footers) cannot see; they would need the same credentials as `storage_options`/environment, untested here. It
also sends there schemas whose types need Delta table features (`timestamp_ntz`, `variant`, ...) or column
names Delta refuses without column mapping, and every build when `deltalake` is not installed. `commit` sends
there (NeedsSpark, before committing anything) existing tables with CHECK constraints, invariants, generated or
identity columns, whose rules a writer must check on the data, or with column mapping, whose files use
physical column names. When delta-rs cannot commit (e.g. an existing table with table features it does not
support, such as typeWidening), the build fails with `PublishFailed` naming the error, and the table is left
as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from datamesh import settings
from datamesh.placement import is_local, local_path

#: Set to `copy` to publish through Spark (re-encoding the staged files into the table) instead.
PUBLISH_METHOD_ENV = settings.PUBLISH_METHOD.name
#: Delta's own defaults: statistics for the first 32 columns, string bounds of 32 characters.
INDEXED_COLUMNS = 32
STRING_PREFIX = 32
#: Types Delta's base protocol (reader 1, writer 2) holds; anything else needs a table feature.
_PLAIN_TYPES = {
    *("string", "long", "integer", "short", "byte", "float", "double", "boolean", "binary", "date", "timestamp")
}
_INTEGRAL = {"long", "integer", "short", "byte"}
#: Characters Delta refuses in column names unless column mapping is on.
_INVALID_NAME_CHARS = set(" ,;{}()\n\t=")


def _plain(data_type: Any) -> bool:
    if isinstance(data_type, str):
        return data_type in _PLAIN_TYPES or data_type.startswith("decimal(")
    kind = data_type.get("type")
    if kind == "struct":
        return all(_valid_name(f["name"]) and _plain(f["type"]) for f in data_type["fields"])
    if kind == "array":
        return _plain(data_type["elementType"])
    if kind == "map":
        return _plain(data_type["keyType"]) and _plain(data_type["valueType"])
    return False


def _valid_name(name: str) -> bool:
    return not (set(name) & _INVALID_NAME_CHARS)


def eligibility(location: str, schema_json: str) -> str | None:
    """None when the staged files can be committed as they are; else why the Spark publish is used instead."""
    if settings.PUBLISH_METHOD.get().lower() == "copy":
        return f"{PUBLISH_METHOD_ENV}=copy"
    if not is_local(location):
        return "not a local path: delta-rs would need the object store's credentials, which Spark holds"
    try:
        import deltalake  # noqa: F401
    except ImportError:
        return "deltalake is not installed"
    fields = json.loads(schema_json)["fields"]
    bad = [f["name"] for f in fields if not _valid_name(f["name"]) or not _plain(f["type"])]
    if bad:
        return "column(s) need a Delta table feature or column mapping: " + ", ".join(bad)
    return None


def nullable_schema(schema_json: str) -> str:
    """The Spark schema with every field, element and value nullable (what Delta's writer declares)."""

    def loosen(data_type: Any) -> Any:
        if isinstance(data_type, str):
            return data_type
        kind = data_type.get("type")
        if kind == "struct":
            fields = [{**f, "nullable": True, "type": loosen(f["type"])} for f in data_type["fields"]]
            return {**data_type, "fields": fields}
        if kind == "array":
            return {**data_type, "containsNull": True, "elementType": loosen(data_type["elementType"])}
        if kind == "map":
            loosened = {"keyType": loosen(data_type["keyType"]), "valueType": loosen(data_type["valueType"])}
            return {**data_type, **loosened, "valueContainsNull": True}
        return data_type

    return json.dumps(loosen(json.loads(schema_json)))


def staged_files(folder: str) -> list[str]:
    """The data files in a local staging folder (not the `.crc` checksums or `_` markers), sorted."""
    path = local_path(folder)
    if not os.path.isdir(path):
        return []
    return sorted(
        os.path.join(path, name)
        for name in os.listdir(path)
        if name.endswith(".parquet") and not name.startswith((".", "_"))
    )


# ------------------------------------------------------------------------------------------------ statistics


def _timestamp(value: datetime, round_up: bool) -> str | None:
    if value.tzinfo is None:
        return None  # not UTC-adjusted: no safe bound
    moment = value.astimezone(UTC)
    extra = moment.microsecond % 1000
    if extra:
        moment -= timedelta(microseconds=extra)
        if round_up:
            moment += timedelta(milliseconds=1)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def _bound(spark_type: str, value: Any, upper: bool) -> Any:
    """The value as Delta writes it in minValues/maxValues, or None when no certain bound can be given."""
    if spark_type in _INTEGRAL:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if spark_type.startswith("decimal("):
        return value if isinstance(value, Decimal) and value.is_finite() else None
    if spark_type == "date":
        return value.isoformat() if isinstance(value, date) and not isinstance(value, datetime) else None
    if spark_type == "timestamp":
        try:
            return _timestamp(value, upper) if isinstance(value, datetime) else None
        except OverflowError:
            return None
    if spark_type == "string" and isinstance(value, str):
        if len(value) <= STRING_PREFIX:
            return value
        return None if upper else value[:STRING_PREFIX]  # a prefix is a lower bound; no cheap upper one
    return None


def _merge(current: Any, value: Any, upper: bool) -> Any:
    if current is None:
        return value
    return max(current, value) if upper else min(current, value)


@dataclass
class _Column:
    name: str
    spark_type: str
    index: int


def _columns(metadata: Any, fields: Sequence[dict[str, Any]]) -> list[_Column]:
    """Top-level primitive fields with their parquet leaf index (name == path: not inside a group)."""
    leaves: dict[str, int] = {}
    schema = metadata.schema
    for i in range(len(schema)):
        column = schema.column(i)
        if column.name == column.path and column.max_repetition_level == 0:
            leaves[column.name] = i
    out = []
    for field in fields[:INDEXED_COLUMNS]:
        if isinstance(field["type"], str) and field["name"] in leaves:
            out.append(_Column(field["name"], field["type"], leaves[field["name"]]))
    return out


@dataclass(frozen=True)
class LeafStats:
    """What a parquet footer records of one leaf column over all of a file's row groups."""

    nulls: int | None
    """None: some row group records no null count."""
    low: Any
    high: Any
    bounded: bool
    """low/high are the exact extremes (both None when every value is null); False when some row group holds
    values without decodable min/max, or when extremes were not asked for."""


def leaf_stats(metadata: Any, index: int, extremes: bool = True) -> LeafStats | None:
    """The footer statistics of leaf `index` merged over the row groups; None when a row group has none."""
    low: Any = None
    high: Any = None
    bounded = extremes
    nulls: int | None = 0
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        stats = group.column(index).statistics
        if stats is None:
            return None
        if stats.has_null_count and nulls is not None:
            nulls += stats.null_count
        else:
            nulls = None
        if not bounded:
            continue
        if stats.has_min_max:
            try:
                low = _merge(low, stats.min, upper=False)
                high = _merge(high, stats.max, upper=True)
            except Exception:  # a statistic pyarrow cannot decode (e.g. invalid UTF-8): no bound
                bounded = False
        elif not (stats.has_null_count and stats.null_count == group.num_rows):
            bounded = False  # values without bounds in this row group: no bound for the file
    return LeafStats(nulls, low, high, bounded) if bounded else LeafStats(nulls, None, None, False)


def _column_stats(metadata: Any, column: _Column) -> tuple[Any, Any, int | None]:
    """(min, max, null count) of one column over the file's row groups, as Delta bounds; None where unknown."""
    bounded = column.spark_type in _INTEGRAL or column.spark_type in ("string", "date", "timestamp")
    bounded = bounded or column.spark_type.startswith("decimal(")
    stats = leaf_stats(metadata, column.index, extremes=bounded)
    if stats is None:
        return None, None, None
    if not stats.bounded:
        return None, None, stats.nulls
    return (
        None if stats.low is None else _bound(column.spark_type, stats.low, upper=False),
        None if stats.high is None else _bound(column.spark_type, stats.high, upper=True),
        stats.nulls,
    )


def _json_value(value: Any) -> str:
    # Decimals are JSON numbers written exactly (json.dumps would need a float, which rounds).
    return format(value, "f") if isinstance(value, Decimal) else json.dumps(value)


def _json_object(values: dict[str, Any]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{_json_value(v)}" for k, v in values.items()) + "}"


def file_stats(metadata: Any, fields: Sequence[dict[str, Any]]) -> str:
    """Delta's per-file statistics JSON from a parquet footer (pyarrow FileMetaData) and the table's fields."""
    low: dict[str, Any] = {}
    high: dict[str, Any] = {}
    nulls: dict[str, Any] = {}
    for column in _columns(metadata, fields):
        minimum, maximum, null_count = _column_stats(metadata, column)
        if minimum is not None:
            low[column.name] = minimum
        if maximum is not None:
            high[column.name] = maximum
        if null_count is not None:
            nulls[column.name] = null_count
    parts = [f'"numRecords":{int(metadata.num_rows)}']
    parts += [f'"{key}":{_json_object(values)}' for key, values in (("minValues", low), ("maxValues", high))]
    parts.append(f'"nullCount":{_json_object(nulls)}')
    return "{" + ",".join(parts) + "}"


# ------------------------------------------------------------------------------------------------ the commit


def add_actions(location: str, folder: str, schema_json: str) -> list[Any]:
    """One AddAction per staged file, its path relative to the table root, its statistics from the footer."""
    import pyarrow.parquet as pq
    from deltalake.transaction import AddAction

    root = os.path.realpath(local_path(location))
    fields = json.loads(schema_json)["fields"]
    actions = []
    for path in staged_files(folder):
        info = os.stat(path)
        relative = os.path.relpath(os.path.realpath(path), root).replace(os.sep, "/")
        stats = file_stats(pq.read_metadata(path), fields)
        actions.append(AddAction(relative, info.st_size, {}, int(info.st_mtime * 1000), True, stats))
    return actions


class NeedsSpark(Exception):
    """The existing table has rules only a writer that reads the data can keep; nothing was committed."""


#: Column metadata keys of Delta features whose values the writer must compute or check.
_WRITER_CHECKED_METADATA = ("delta.invariants", "delta.generationExpression", "delta.identity.")


def _needs_spark(table: Any) -> str | None:
    """Why the files cannot be committed without Spark reading them: CHECK constraints, invariants, generated or
    identity columns must be verified or computed on the data, and column mapping renames the files' columns."""
    configuration = table.metadata().configuration or {}
    constraints = sorted(k for k in configuration if k.startswith("delta.constraints."))
    if constraints:
        return "the table has CHECK constraints: " + ", ".join(constraints)
    if (configuration.get("delta.columnMapping.mode") or "none") != "none":
        return "the table uses column mapping"
    text = table.schema().to_json()
    found = [key for key in _WRITER_CHECKED_METADATA if f'"{key}' in text]
    return "the table's columns carry " + ", ".join(found) if found else None


def commit(location: str, folder: str, schema_json: str, user_metadata: str) -> int:
    """Commit the staged files as the table's new version (creating the table at version 0); its version.

    Raises NeedsSpark, before committing anything, when the existing table needs Spark's writer."""
    from deltalake import DeltaTable, Schema
    from deltalake.exceptions import TableNotFoundError
    from deltalake.transaction import CommitProperties, create_table_with_add_actions

    try:
        table: Any = DeltaTable(location)
    except TableNotFoundError:
        table = None
    if table is not None:
        reason = _needs_spark(table)
        if reason:
            raise NeedsSpark(reason)
    schema_text = nullable_schema(schema_json)
    actions = add_actions(location, folder, schema_text)
    properties = CommitProperties(custom_metadata={"userMetadata": user_metadata})
    schema = Schema.from_json(schema_text)
    if table is None:
        create_table_with_add_actions(location, schema, actions, mode="error", commit_properties=properties)
        return 0
    table.create_write_transaction(actions, mode="overwrite", schema=schema, commit_properties=properties)
    return int(DeltaTable(location).version())


def latest_commit(location: str) -> tuple[int, str | None] | None:
    """(version, userMetadata) of the table's newest commit; None when there is no table."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(location)
    except TableNotFoundError:
        return None
    entries = table.history(1)
    metadata = entries[0].get("userMetadata") if entries else None
    return int(table.version()), metadata if isinstance(metadata, str) else None
