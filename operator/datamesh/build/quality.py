"""Quality checks: planned as named metrics, measured in one pass over the result, evaluated without Spark.

`plan_checks` turns the contract's checks into `Metric`s (pure data). `measure` decides which of them come from
the staged files' parquet footers and which Spark observes on the write (`aggregates` compiles those into
Spark aggregate columns, attached with `DataFrame.observe`). Uniqueness needs a grouping of the key columns:

- with pyarrow (`duplicate_rows_arrow`) when the staged files are local, the result has at most
  `DATAMESH_ARROW_UNIQUENESS_MAX_ROWS` rows (default 2,000,000; 0 turns pyarrow off for every metric) and every
  key column has a type both engines group the same way (strings without collation, integers, decimals, dates,
  timestamps, booleans, binary; not floats, where Spark folds -0.0 into 0.0 and every NaN into one). Measured
  on 2 cores with ~12-character string keys: 1M rows 0.1-0.4 s (Spark 0.8-1.4 s); 5M rows ~1 s and ~0.6 GB
  of memory above the key column itself (Spark 3.5-5.5 s); 20M rows 8-10 s and 2-3 GB, no faster than Spark
  and more than a build pod with a 2g driver can spare, hence the default;
- otherwise with one Spark job (`duplicate_rows`).

Both count the same thing: rows minus distinct keys, nulls forming one key.
`evaluate` and `quality_score` are plain arithmetic over the collected values; a check whose metric could not
be measured fails, with the reason, instead of being evaluated on a missing value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from datamesh import settings
from datamesh.api.dataproduct import CheckResult, Column, QualityCheck
from datamesh.api.durations import parse_duration
from datamesh.build.errors import SQL_REFUSED, BuildError
from datamesh.build.sqlguard import check_expression

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

#: Checks a quality check's `sql` expression (expression, check name, result columns); raises BuildError.
ExpressionGuard = Callable[[str, str, Collection[str] | None], None]

DEFAULT_COMPLETENESS = 0.99
ARROW_MAX_ROWS_ENV = settings.ARROW_UNIQUENESS_MAX_ROWS.name
DEFAULT_ARROW_MAX_ROWS = 2_000_000
#: Spark simple type names (DataFrame.dtypes) whose grouping pyarrow reproduces exactly.
_ARROW_KEY_TYPES = {"string", "tinyint", "smallint", "int", "bigint", "date", "timestamp", "boolean", "binary"}
ROWS = "rows"
#: Float slack so that e.g. 1 - 0.01 compares equal to a 0.99 threshold.
EPSILON = 1e-9
#: The start of the message of a check that could not be measured, and the longest message a result holds.
NOT_MEASURED = "not measured: "
MESSAGE_MAX = 1024

MetricKind = Literal["rows", "nulls", "violations", "max", "min"]


@dataclass(frozen=True)
class Metric:
    """One aggregate gathered during the write: `kind` over `column`, or the violations of check `check`."""

    name: str
    kind: MetricKind
    column: str | None = None
    check: int | None = None


@dataclass(frozen=True)
class PlannedCheck:
    index: int
    check: QualityCheck
    columns: tuple[str, ...]
    """Columns the check reads (completeness: the checked columns; uniqueness: the key)."""


@dataclass(frozen=True)
class CheckPlan:
    checks: list[PlannedCheck]
    metrics: list[Metric]

    @property
    def uniqueness(self) -> list[PlannedCheck]:
        return [c for c in self.checks if c.check.type == "uniqueness"]


def nulls_metric(column: str) -> str:
    return f"nulls.{column}"


def violations_metric(index: int) -> str:
    return f"violations.{index}"


def plan_checks(checks: Sequence[QualityCheck], schema: Sequence[Column]) -> CheckPlan:
    """Which aggregates the checks need; each metric appears once however many checks share it."""
    metrics: dict[str, Metric] = {ROWS: Metric(ROWS, "rows")}
    planned: list[PlannedCheck] = []
    for index, check in enumerate(checks):
        columns: tuple[str, ...] = ()
        if check.type == "completeness":
            # Declared-nullable columns are exempt unless the check lists them explicitly (as in the seed).
            columns = tuple(check.columns or [c.name for c in schema if not c.nullable])
            for column in columns:
                metrics.setdefault(nulls_metric(column), Metric(nulls_metric(column), "nulls", column))
        elif check.type == "notNull":
            columns = (str(check.column),)
            metrics.setdefault(nulls_metric(columns[0]), Metric(nulls_metric(columns[0]), "nulls", columns[0]))
        elif check.type == "uniqueness":
            columns = tuple(check.columns or [str(check.column)])
        elif check.type in ("acceptedValues", "range", "format", "sql"):
            columns = (check.column,) if check.column else ()
            name = violations_metric(index)
            metrics[name] = Metric(name, "violations", check.column, index)
            if check.type == "range" and check.column:
                for key, kind in ((f"min.{check.column}", "min"), (f"max.{check.column}", "max")):
                    metrics.setdefault(key, Metric(key, "min" if kind == "min" else "max", check.column))
        elif check.type == "freshness":
            columns = (str(check.column),)
            key = f"max.{columns[0]}"
            metrics.setdefault(key, Metric(key, "max", columns[0]))
        planned.append(PlannedCheck(index, check, columns))
    return CheckPlan(planned, list(metrics.values()))


def default_threshold(check: QualityCheck) -> float:
    if check.threshold is not None:
        return check.threshold
    return DEFAULT_COMPLETENESS if check.type == "completeness" else 1.0


def _share(bad: float, rows: float) -> float:
    return 1.0 if rows <= 0 else max(0.0, 1.0 - bad / rows)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if value is not None and hasattr(value, "year"):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def _evaluate_one(
    item: PlannedCheck, values: Mapping[str, Any], now: datetime
) -> tuple[float | None, float | None, bool, str | None]:
    check = item.check
    rows = float(values.get(ROWS) or 0)
    threshold = default_threshold(check)
    if check.type == "completeness":
        rates = {c: (float(values.get(nulls_metric(c)) or 0) / rows if rows else 0.0) for c in item.columns}
        worst = max(rates, key=lambda c: rates[c]) if rates else None
        value = 1.0 - (rates[worst] if worst else 0.0)
        message = f"worst column {worst}: {rates[worst]:.2%} nulls" if worst and rates[worst] else None
        return value, threshold, value + EPSILON >= threshold, message
    if check.type == "notNull":
        nulls = float(values.get(nulls_metric(item.columns[0])) or 0)
        value = _share(nulls, rows)
        return value, threshold, value + EPSILON >= threshold, f"{int(nulls)} null value(s)" if nulls else None
    if check.type == "uniqueness":
        dups = float(values.get(f"duplicates.{item.index}") or 0)
        value = _share(dups, rows)
        keys = "+".join(item.columns)
        message = f"{int(dups)} duplicate row(s) on {keys}" if dups else None
        return value, threshold, value + EPSILON >= threshold, message
    if check.type in ("acceptedValues", "range", "format", "sql"):
        bad = float(values.get(violations_metric(item.index)) or 0)
        value = _share(bad, rows)
        message = f"{int(bad)} row(s) violate it" if bad else None
        if check.type == "range" and bad:
            low, high = values.get(f"min.{check.column}", "?"), values.get(f"max.{check.column}", "?")
            message = f"{message} (observed {low}..{high}, allowed {check.min}..{check.max})"
        return value, threshold, value + EPSILON >= threshold, message
    if check.type == "rowCount":
        low = check.min if check.min is not None else -math.inf
        high = check.max if check.max is not None else math.inf
        passed = low <= rows <= high
        bound = check.max if check.max is not None and (rows > high or check.min is None) else check.min
        return rows, bound, passed, None if passed else f"{int(rows)} rows, allowed {check.min}..{check.max}"
    if check.type == "freshness":
        limit = parse_duration(str(check.max_age)).total_seconds()
        newest = _as_datetime(values.get(f"max.{item.columns[0]}"))
        if newest is None:
            return None, limit, False, "no values to measure freshness on"
        age = max(0.0, (now - newest).total_seconds())
        return age, limit, age <= limit, None if age <= limit else f"newest value is {age:.0f}s old"
    raise ValueError(f"unknown check type {check.type!r}")


def check_metrics(item: PlannedCheck) -> list[str]:
    """The metrics whose values decide check `item` (a range check's extremes only feed its message)."""
    check = item.check
    if check.type == "rowCount":
        return [ROWS]
    if check.type == "freshness":
        return [f"max.{item.columns[0]}"]
    if check.type in ("completeness", "notNull"):
        return [ROWS, *(nulls_metric(c) for c in item.columns)]
    if check.type == "uniqueness":
        return [ROWS, f"duplicates.{item.index}"]
    return [ROWS, violations_metric(item.index)]


def _unmeasured(item: PlannedCheck, reasons: list[str]) -> tuple[float | None, float | None, bool, str | None]:
    check = item.check
    if check.type == "rowCount":
        threshold = check.min if check.min is not None else check.max
    elif check.type == "freshness":
        threshold = parse_duration(str(check.max_age)).total_seconds()
    else:
        threshold = default_threshold(check)
    message = NOT_MEASURED + "; ".join(dict.fromkeys(reasons))
    return None, threshold, False, message if len(message) <= MESSAGE_MAX else message[: MESSAGE_MAX - 3] + "..."


def evaluate(
    plan: CheckPlan,
    values: Mapping[str, Any],
    now: datetime | None = None,
    unmeasured: Mapping[str, str] | None = None,
) -> list[CheckResult]:
    """Check results from the gathered metric values (`duplicates.<index>` added by the uniqueness pass).

    `unmeasured` maps metrics that could not be measured to the reason; a check that needs one of them fails
    with that reason (value None), whatever its severity says about blocking."""
    moment = now or datetime.now(UTC)
    missing = unmeasured or {}
    results = []
    for item in plan.checks:
        reasons = [missing[name] for name in check_metrics(item) if name in missing]
        outcome = _unmeasured(item, reasons) if reasons else _evaluate_one(item, values, moment)
        value, threshold, passed, message = outcome
        results.append(
            CheckResult(
                name=item.check.display_name,
                type=item.check.type,
                value=None if value is None else round(value, 6),
                threshold=threshold,
                passed=passed,
                severity=item.check.severity,
                message=message,
            )
        )
    return results


def check_score(result: CheckResult) -> float:
    """1 for a passing check; a failing share check scores value/threshold, any other failing check 0."""
    if result.passed:
        return 1.0
    if result.type in ("rowCount", "freshness") or result.value is None or not result.threshold:
        return 0.0
    return max(0.0, min(1.0, result.value / result.threshold))


def quality_score(results: Sequence[CheckResult]) -> float:
    """Mean check score over all checks (warn ones included); 1.0 when there are none."""
    if not results:
        return 1.0
    return round(sum(check_score(r) for r in results) / len(results), 6)


def blocking_failures(results: Sequence[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.passed and r.severity == "error"]


def aggregates(
    plan: CheckPlan,
    metrics: Sequence[Metric] | None = None,
    result_columns: Sequence[str] | None = None,
    guard: ExpressionGuard | None = None,
) -> list[SparkColumn]:
    """The plan's metrics (or the given ones of them) as Spark aggregate columns named after the metrics.

    `result_columns` are the result's columns, the only names a sql check may read (None: Spark's analysis reports
    unknown names); a sql check that the build's SQL guard refuses raises BuildError (SqlRefused). `guard` checks
    it (the warm engine's, see `datamesh.build.backend`); by default the active session's JVM does."""
    from pyspark.sql import functions as F

    columns = []
    for metric in plan.metrics if metrics is None else metrics:
        col = F.col(f"`{metric.column}`") if metric.column else None
        if metric.kind == "rows":
            expr = F.count(F.lit(1))
        elif metric.kind == "nulls" and col is not None:
            expr = F.count_if(col.isNull())
        elif metric.kind == "max" and col is not None:
            expr = F.max(col)
        elif metric.kind == "min" and col is not None:
            expr = F.min(col)
        else:
            expr = F.count_if(_violation(plan.checks[metric.check or 0].check, result_columns, guard))
        columns.append(expr.alias(metric.name))
    return columns


def _violation(
    check: QualityCheck, columns: Sequence[str] | None = None, guard: ExpressionGuard | None = None
) -> SparkColumn:
    """A row-level condition that is true where the row fails the check (nulls pass; completeness owns them)."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    col = F.col(f"`{check.column}`") if check.column else None
    if check.type == "acceptedValues" and col is not None:
        return col.isNotNull() & ~col.cast("string").isin(list(check.values or []))
    if check.type == "range" and col is not None:
        low = col < F.lit(check.min) if check.min is not None else F.lit(False)
        high = col > F.lit(check.max) if check.max is not None else F.lit(False)
        return col.isNotNull() & (low | high)
    if check.type == "format" and col is not None:
        return col.isNotNull() & ~col.cast("string").rlike(str(check.pattern))
    if check.type == "sql":
        # Tenant SQL: Spark's own parser checks it (sqlguard) before it becomes a column that anything runs.
        if guard is not None:
            guard(str(check.expression), check.display_name, columns)
        else:
            spark = SparkSession.getActiveSession()
            if spark is None:
                raise BuildError(
                    SQL_REFUSED, f"quality check {check.display_name!r}: no Spark session to check it with"
                )
            check_expression(spark, str(check.expression), check.display_name, columns)
        # A row satisfies the assertion only when it evaluates to true: null counts as a violation.
        return ~F.coalesce(F.expr(str(check.expression)).cast("boolean"), F.lit(False))
    raise ValueError(f"check {check.display_name!r} has no row-level condition")


def duplicate_rows(staged: DataFrame, keys: Sequence[str]) -> int:
    """Rows beyond the first per key (nulls form one key, as `distinct()` in the seed): rows - distinct keys."""
    from pyspark.sql import functions as F

    grouped = staged.groupBy(*[F.col(f"`{k}`") for k in keys]).count().where(F.col("count") > 1)
    row = grouped.agg(F.sum(F.col("count") - 1).alias("dups")).collect()[0]
    return int(row["dups"] or 0)


def arrow_max_rows(environ: Mapping[str, str] | None = None) -> int:
    raw = (settings.ARROW_UNIQUENESS_MAX_ROWS.get(environ)).strip().replace("_", "")
    if not raw:
        return DEFAULT_ARROW_MAX_ROWS
    if not raw.isdigit():
        raise ValueError(f"{ARROW_MAX_ROWS_ENV}={raw!r} is not a number of rows")
    return int(raw)


def columns_by_name(dtypes: Sequence[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Lower-cased name -> (name, type) of the columns whose name is unambiguous (Spark resolves names so)."""
    seen: dict[str, list[tuple[str, str]]] = {}
    for name, type_name in dtypes:
        seen.setdefault(name.lower(), []).append((name, type_name))
    return {key: found[0] for key, found in seen.items() if len(found) == 1}


def arrow_key_columns(keys: Sequence[str], dtypes: Sequence[tuple[str, str]]) -> list[str] | None:
    """The staged columns of `keys` (matched case-insensitively, as Spark does) when pyarrow can group them
    exactly as Spark would; None when one is missing, ambiguous or of another type."""
    by_name = columns_by_name(dtypes)
    columns = []
    for key in keys:
        found = by_name.get(key.lower())
        if found is None:
            return None
        name, type_name = found
        if type_name not in _ARROW_KEY_TYPES and not type_name.startswith("decimal("):
            return None
        columns.append(name)
    return columns


def duplicate_rows_arrow(files: Sequence[str], columns: Sequence[str]) -> int:
    """`duplicate_rows` computed by pyarrow from the staged parquet files, reading only the key columns."""
    import pyarrow.parquet as pq

    if not files:
        return 0
    table = pq.read_table(list(files), columns=list(columns))
    return int(table.num_rows - table.group_by(list(columns)).aggregate([]).num_rows)


def warm_up_arrow() -> None:
    """Import pyarrow's parquet reader and run one tiny grouping: about 0.4 s of one-time setup, which the runner
    does in a thread while Spark writes the staged files (the main thread only waits on the JVM meanwhile)."""
    import pyarrow as pa
    import pyarrow.parquet

    pa.table({"k": ["a", "a"]}).group_by(["k"]).aggregate([])
