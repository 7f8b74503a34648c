"""Where each quality metric is measured: read back from the staged files by pyarrow, or by Spark.

The staging write is the one run of the transform. Every metric pyarrow can compute exactly as Spark would is
*read back* afterwards from the staged parquet files: one read of the columns the checks need, batch by
batch, with the uniqueness groupings in a second thread. That costs a fraction of what the same metrics cost
as aggregates observed on the write (measured at 1M rows on 2 cores: ~0.2 s read back against ~0.5 s
observed, plus ~0.3 s for a separate uniqueness pass; an observation alone costs ~0.2 s of per-row work).

Read back with pyarrow (staged files local, at most `DATAMESH_ARROW_UNIQUENESS_MAX_ROWS` rows):
- rows, nulls, min and max of flat columns (NaN is the largest double, as in Spark);
- range on integer and floating-point columns (compared as doubles, as Spark compares them with the bounds);
- acceptedValues on string, integer and boolean columns (the value as Spark casts it to a string);
- format, when `javaregex` translates the Java pattern into an RE2 pattern with the same matches;
- sql, when `arrowsql` compiles the expression (a subset with Spark's types and three-valued logic);
- uniqueness on key types both engines group alike (`quality.arrow_key_columns`).

Everything else is observed on the write by Spark as before: all metrics when the staging folder is not
local (an object store: reading back would cost a second download), and the metrics pyarrow cannot take.
Above the row limit the read-back metrics are one Spark aggregation over the staged files instead (the
memory a build pod can spare), and so is a format check whose `$` meets a value ending with a line break.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datamesh.build import quality
from datamesh.build.commit import leaf_stats, staged_files
from datamesh.build.quality import ROWS, CheckPlan, Metric, PlannedCheck

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from datamesh.build.arrowsql import ArrowPredicate
    from datamesh.build.javaregex import Re2Pattern

_INTEGER = {"tinyint", "smallint", "int", "bigint"}
_FLOATING = {"float", "double"}
BATCH_ROWS = 256 * 1024
#: Types whose min and max pyarrow orders as Spark does (strings byte-wise, as Spark's UTF8_BINARY).
_ORDERED = _INTEGER | _FLOATING | {"date", "timestamp", "timestamp_ntz", "string", "boolean"}


def _ordered(type_name: str | None) -> bool:
    return type_name is not None and (type_name in _ORDERED or type_name.startswith("decimal("))


@dataclass
class MeasurePlan:
    """Which metrics Spark observes on the write and which are read back from the staged files."""

    observed: list[Metric] = field(default_factory=list)
    read_back: list[Metric] = field(default_factory=list)
    patterns: dict[int, Re2Pattern] = field(default_factory=dict)
    """Check index -> RE2 translation of its Java pattern (format checks read back)."""
    predicates: dict[int, ArrowPredicate] = field(default_factory=dict)
    """Check index -> compiled expression (sql checks read back)."""
    arrow_keys: dict[int, list[str]] = field(default_factory=dict)
    """Check index -> staged key columns of a uniqueness check pyarrow groups; the others group in Spark."""
    arrow_rows: int = 0
    """Most rows pyarrow reads back; above it, Spark does (0: pyarrow is off)."""
    footer: set[str] = field(default_factory=set)
    """Read-back metrics the parquet footers hold: nulls of flat columns, min/max of integer and time columns."""


def plan_measurement(checks: CheckPlan, dtypes: Sequence[tuple[str, str]], local: bool, arrow_rows: int) -> MeasurePlan:
    """Split the check plan's metrics between the write's observation and the read-back (pure, no Spark)."""
    plan = MeasurePlan(arrow_rows=arrow_rows if local else 0)
    if plan.arrow_rows <= 0:
        plan.observed = list(checks.metrics)
        return plan
    columns = quality.columns_by_name(dtypes)
    for metric in checks.metrics:
        check = checks.checks[metric.check].check if metric.check is not None else None
        if _readable(metric, check, columns, plan):
            plan.read_back.append(metric)
            if _in_footer(metric, columns):
                plan.footer.add(metric.name)
        else:
            plan.observed.append(metric)
    for item in checks.uniqueness:
        keys = quality.arrow_key_columns(item.columns, dtypes)
        if keys is not None:
            plan.arrow_keys[item.index] = keys
    return plan


def _in_footer(metric: Metric, columns: dict[str, tuple[str, str]]) -> bool:
    """Parquet writers record exact null counts for every leaf, and exact min/max for these types (strings may
    be truncated or left out, floats leave NaN out)."""
    found = columns.get((metric.column or "").lower()) if metric.column else None
    if found is None:
        return False
    if metric.kind == "nulls":
        return not found[1].startswith(("struct", "array", "map"))
    return metric.kind in ("min", "max") and found[1] in _INTEGER | {"date", "timestamp", "timestamp_ntz"}


def _readable(metric: Metric, check: Any, columns: dict[str, tuple[str, str]], plan: MeasurePlan) -> bool:
    if metric.kind == ROWS:
        return True
    found = columns.get((metric.column or "").lower()) if metric.column else None
    type_name = found[1] if found else None
    if metric.kind == "nulls":
        return found is not None
    if metric.kind in ("min", "max"):
        return _ordered(type_name)
    if check is None or metric.check is None:
        return False
    if check.type == "range":
        return type_name in _INTEGER | _FLOATING
    if check.type == "acceptedValues":
        return type_name in _INTEGER | {"string", "boolean"}
    if check.type == "format":
        from datamesh.build.javaregex import to_re2

        pattern = to_re2(str(check.pattern)) if type_name == "string" else None
        if pattern is not None:
            plan.patterns[metric.check] = pattern
        return pattern is not None
    if check.type == "sql":
        from datamesh.build.arrowsql import compile_predicate

        predicate = compile_predicate(str(check.expression), [(n, t) for n, t in columns.values()])
        if predicate is not None:
            plan.predicates[metric.check] = predicate
        return predicate is not None
    return False


# ------------------------------------------------------------------------------------------------ read back


def _quiet(_: str) -> None:
    return None


def read_back(
    spark: SparkSession, staged: str, plan: MeasurePlan, checks: CheckPlan, progress: Callable[[str], None] = _quiet
) -> dict[str, Any]:
    """Values of the read-back metrics and `duplicates.<index>` of every uniqueness check."""
    import pyarrow.parquet as pq

    files = staged_files(staged) if plan.arrow_rows > 0 else []
    footers = [pq.read_metadata(path) for path in files]
    rows = sum(footer.num_rows for footer in footers)
    if plan.arrow_rows <= 0 or rows > plan.arrow_rows:
        return _with_spark(spark, staged, checks, plan.read_back, checks.uniqueness)
    try:
        values, leftover = _with_arrow(files, footers, rows, plan, checks)
    except Exception as error:  # pyarrow is the shortcut, Spark the reference: a failed shortcut costs time only
        progress(f"pyarrow could not measure the checks ({type(error).__name__}: {error}); Spark measures them")
        return _with_spark(spark, staged, checks, plan.read_back, checks.uniqueness)
    unique_in_spark = [item for item in checks.uniqueness if item.index not in plan.arrow_keys]
    if leftover or unique_in_spark:
        values.update(_with_spark(spark, staged, checks, leftover, unique_in_spark))
    return values


def _with_spark(
    spark: SparkSession, staged: str, checks: CheckPlan, metrics: Sequence[Metric], unique: Sequence[PlannedCheck]
) -> dict[str, Any]:
    """One aggregation over the staged files for `metrics`, one grouping per uniqueness check."""
    if not metrics and not unique:
        return {}
    frame = spark.read.parquet(staged)
    values: dict[str, Any] = {}
    if metrics:
        values.update(frame.agg(*quality.aggregates(checks, metrics, frame.columns)).collect()[0].asDict())
    for item in unique:
        values[f"duplicates.{item.index}"] = quality.duplicate_rows(frame, item.columns)
    return values


@dataclass
class _Tally:
    """Running values of the read-back metrics over the batches."""

    values: dict[str, Any] = field(default_factory=dict)
    leftover: list[Metric] = field(default_factory=list)

    def add(self, name: str, count: int) -> None:
        self.values[name] = self.values.get(name, 0) + count

    def extreme(self, name: str, value: Any, larger: bool) -> None:
        if value is None:
            return
        current = self.values.get(name)
        if current is None or _is_nan(value) and larger or _beyond(value, current, larger):
            self.values[name] = value


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _beyond(value: Any, current: Any, larger: bool) -> bool:
    if _is_nan(current):
        return not larger  # a NaN maximum stays; a NaN minimum (only NaN so far) gives way to any number
    if _is_nan(value):
        return False
    return bool(value > current) if larger else bool(value < current)


def _with_arrow(
    files: Sequence[str], footers: Sequence[Any], rows: int, plan: MeasurePlan, checks: CheckPlan
) -> tuple[dict[str, Any], list[Metric]]:
    import pyarrow.parquet as pq

    tally = _Tally({ROWS: rows})
    measured = [m for m in plan.read_back if m.kind != ROWS]
    for metric in measured:  # what Spark's aggregates give over no rows: counts 0, extremes null
        tally.values[metric.name] = 0 if metric.kind in ("nulls", "violations") else None
    unread = _from_footers(footers, [m for m in measured if m.name in plan.footer], tally)
    scanned = [m for m in measured if m.name not in plan.footer or m.name in unread]
    searched = [m for m in scanned if m.check is not None and m.check in plan.patterns]
    # Two workers beside the batch loop: the uniqueness groupings, and the regular expressions of each batch.
    # All three spend their time in pyarrow, without the GIL, so they share the two cores.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="measure") as pool:
        groupings = {
            index: pool.submit(quality.duplicate_rows_arrow, files, keys) for index, keys in plan.arrow_keys.items()
        }
        searches: list[tuple[Metric, Future[int | None]]] = []
        if scanned:
            for batch in _batches(pq, files, _columns(scanned, plan, checks)):
                for metric in scanned:
                    if metric in searched:
                        item = checks.checks[metric.check or 0]
                        searches.append((metric, pool.submit(_violations, item, batch, plan)))
                    else:
                        _measure(metric, batch, plan, checks, tally)
        for metric, search in searches:
            _count(metric, search.result(), tally)
        tally.values.update(_results(groupings))
    stuck = {m.name for m in tally.leftover}
    for name in stuck:
        tally.values.pop(name, None)
    return tally.values, [m for m in measured if m.name in stuck]


def _from_footers(footers: Sequence[Any], metrics: Sequence[Metric], tally: _Tally) -> set[str]:
    """Tally `metrics` from the files' footer statistics; returns the names of those some footer lacks (left
    for the scan, untouched)."""
    found = _Tally({m.name: tally.values[m.name] for m in metrics})
    unread: set[str] = set()
    for footer in footers if metrics else []:
        leaves = {footer.schema.column(i).path.lower(): i for i in range(footer.num_columns)}
        for metric in metrics:
            leaf = leaves.get(str(metric.column).lower())
            stats = leaf_stats(footer, leaf, extremes=metric.kind != "nulls") if leaf is not None else None
            if stats is None or stats.nulls is None or metric.kind != "nulls" and not stats.bounded:
                unread.add(metric.name)
            elif metric.kind == "nulls":
                found.add(metric.name, stats.nulls)
            else:
                found.extreme(metric.name, stats.high if metric.kind == "max" else stats.low, metric.kind == "max")
    tally.values.update({name: value for name, value in found.values.items() if name not in unread})
    return unread


def _results(groupings: dict[int, Future[int]]) -> dict[str, int]:
    return {f"duplicates.{index}": future.result() for index, future in groupings.items()}


def _columns(metrics: Sequence[Metric], plan: MeasurePlan, checks: CheckPlan) -> list[str]:
    needed: dict[str, None] = {}
    for metric in metrics:
        if metric.kind == "violations" and metric.check in plan.predicates:
            needed.update(dict.fromkeys(plan.predicates[metric.check].columns))
        elif metric.column:
            needed[metric.column] = None
    return list(needed)


def _batches(pq: Any, files: Sequence[str], columns: list[str]) -> Iterator[pa.Table]:
    """The staged rows in batches of the needed columns only."""
    import pyarrow as pa

    for path in files:
        parquet = pq.ParquetFile(path)
        by_lower = {name.lower(): name for name in parquet.schema_arrow.names}
        wanted = list(dict.fromkeys(by_lower[c.lower()] for c in columns))
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted, use_threads=True):
            yield pa.Table.from_batches([batch])


def _column(batch: pa.Table, name: str) -> pa.ChunkedArray:
    """A column of the batch by the name a check gives (Spark resolves names case-insensitively)."""
    if name in batch.column_names:
        return batch[name]
    return batch[next(n for n in batch.column_names if n.lower() == name.lower())]


def _measure(metric: Metric, batch: pa.Table, plan: MeasurePlan, checks: CheckPlan, tally: _Tally) -> None:
    import pyarrow.compute as pc

    column = _column(batch, metric.column) if metric.column else None
    if metric.kind == "nulls" and column is not None:
        tally.add(metric.name, column.null_count)
    elif metric.kind in ("min", "max") and column is not None:
        tally.extreme(metric.name, _extreme(pc, column, metric.kind == "max"), metric.kind == "max")
    elif metric.check is not None:
        _count(metric, _violations(checks.checks[metric.check], batch, plan), tally)


def _count(metric: Metric, count: int | None, tally: _Tally) -> None:
    if count is None:
        if metric not in tally.leftover:
            tally.leftover.append(metric)
    else:
        tally.add(metric.name, count)


def _extreme(pc: Any, column: Any, larger: bool) -> Any:
    import pyarrow as pa

    if pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py():
        if larger:
            return math.nan  # Spark orders NaN above every number
        column = pc.filter(column, pc.invert(pc.is_nan(column)))
        if len(column) == 0 or column.null_count == len(column):
            return math.nan
    found = pc.max(column) if larger else pc.min(column)
    return found.as_py()


def _violations(item: PlannedCheck, batch: pa.Table, plan: MeasurePlan) -> int | None:
    """Rows of the batch that fail the check (nulls pass, as in `quality._violation`); None: Spark must count."""
    import pyarrow as pa
    import pyarrow.compute as pc

    check = item.check
    if check.type == "format":
        from datamesh.build.javaregex import count_mismatches

        return count_mismatches(_column(batch, str(check.column)), plan.patterns[item.index])
    if check.type == "sql":
        from datamesh.build.arrowsql import count_violations

        return count_violations(batch, plan.predicates[item.index])
    column = _column(batch, str(check.column))
    if check.type == "acceptedValues":
        text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        bad = pc.invert(pc.is_in(text, value_set=pa.array(list(check.values or []), pa.string())))
        return _count_true(pc, pc.and_(pc.is_valid(column), bad))
    if check.type == "range":
        # Spark compares a column with the (double) bounds as doubles; NaN sorts above every bound.
        numbers = pc.cast(column, pa.float64(), safe=False)
        below = pc.less(numbers, check.min) if check.min is not None else None
        above = pc.or_(pc.greater(numbers, check.max), pc.is_nan(numbers)) if check.max is not None else None
        bad = below if above is None else above if below is None else pc.or_(below, above)
        return _count_true(pc, bad)
    raise ValueError(f"check {check.display_name!r} is not read back")


def _count_true(pc: Any, mask: Any) -> int:
    return int(pc.sum(pc.fill_null(mask, False).cast("int64")).as_py() or 0)
