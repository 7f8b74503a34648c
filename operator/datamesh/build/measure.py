"""Where each quality metric is measured: in the staged files' footers, or observed by Spark on the write.

Why a module of our own: the staging write is the one run of the transform, and a metric measured anywhere
else costs another pass over the data. So every metric is taken where it is exact and costs no such pass:

- the parquet footers of the staged files (local staging): the row count, the null counts of flat columns
  and the min/max of integer, date and timestamp columns, which the writer records exactly (no data read);
- the key columns only, for uniqueness: a pyarrow grouping of the local staged files up to
  `DATAMESH_ARROW_UNIQUENESS_MAX_ROWS` rows on key types both engines group alike, one Spark grouping
  otherwise (`quality.duplicate_rows_arrow`, `quality.duplicate_rows`);
- everything else, and every metric when the staging folder is not local (reading it back would mean a
  second download) or pyarrow is off: aggregates observed on the write (`DataFrame.observe`), in Spark's
  own semantics, Java regular expressions and tenant SQL included.

Nothing falls back and nothing is skipped: a metric that cannot be measured (a pattern Java cannot compile, a
footer without the statistic, a grouping that failed) is recorded with its reason, and every check that
needs it fails with that reason (`quality.evaluate`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datamesh.build import quality
from datamesh.build.commit import leaf_stats, staged_files
from datamesh.build.quality import ROWS, CheckPlan, Metric
from datamesh.placement import local_path

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_INTEGER = {"tinyint", "smallint", "int", "bigint"}
#: Types whose exact min and max the parquet footers hold (strings may be truncated, floats leave NaN out).
_FOOTER_EXTREMES = _INTEGER | {"date", "timestamp", "timestamp_ntz"}
_REASON_MAX = 300


@dataclass
class MeasurePlan:
    """Which metrics Spark observes on the write, which the footers give, and who groups each uniqueness key."""

    observed: list[Metric] = field(default_factory=list)
    footer: list[Metric] = field(default_factory=list)
    """Metrics read from the staged files' parquet footers."""
    arrow_keys: dict[int, list[str]] = field(default_factory=dict)
    """Check index -> staged key columns of a uniqueness check pyarrow groups; the others group in Spark."""
    arrow_rows: int = 0
    """Most rows pyarrow groups; above it, Spark does (0: pyarrow is off, every metric is observed)."""
    unmeasured: dict[str, str] = field(default_factory=dict)
    """Metric name -> why it cannot be measured, known before the write."""


@dataclass
class Measured:
    """The metric values of one build, and the metrics that could not be measured with the reason."""

    values: dict[str, Any] = field(default_factory=dict)
    unmeasured: dict[str, str] = field(default_factory=dict)


def _reason(error: BaseException) -> str:
    """One line of an error's message, short enough for a check result."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


def pattern_errors(
    spark: SparkSession, checks: CheckPlan, problems: Callable[[Sequence[str]], list[str | None]] | None = None
) -> dict[int, str]:
    """Check index -> why Java cannot compile the pattern of that format check.

    Spark's `rlike` compiles the pattern with `java.util.regex.Pattern` when it runs, so a bad pattern observed
    on the write would abort the write itself. The same compiler, called once per pattern before the write,
    takes microseconds; a Spark query would take ~0.15 s per build. `problems` compiles them elsewhere (the
    warm engine's JVM, `datamesh.build.backend`); by default the session's own JVM does."""
    formats = [item for item in checks.checks if item.check.type == "format"]
    if not formats:
        return {}
    found = (problems or (lambda patterns: java_pattern_problems(spark, patterns)))(
        [str(item.check.pattern) for item in formats]
    )
    if len(found) != len(formats):
        raise RuntimeError(f"{len(found)} answers for {len(formats)} patterns")
    return {item.index: problem for item, problem in zip(formats, found, strict=True) if problem is not None}


def java_pattern_problems(spark: SparkSession, patterns: Sequence[str]) -> list[str | None]:
    """Per pattern, why `java.util.regex.Pattern` (the session's JVM) cannot compile it; None when it can."""
    from pyspark.errors import IllegalArgumentException

    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("the Spark session has no JVM to compile the format checks' patterns with")
    compiler = jvm.java.util.regex.Pattern
    found: list[str | None] = []
    for pattern in patterns:
        try:
            compiler.compile(pattern)
            found.append(None)
        except IllegalArgumentException as error:  # PatternSyntaxException, as pyspark raises it
            found.append(f"Java cannot compile the pattern: {_reason(error)}")
    return found


def plan_measurement(
    checks: CheckPlan,
    dtypes: Sequence[tuple[str, str]],
    local: bool,
    arrow_rows: int,
    refused: Mapping[int, str] | None = None,
) -> MeasurePlan:
    """Split the check plan's metrics between the footers and the write's observation (pure, no Spark).

    `refused` are the checks known to be unmeasurable (`pattern_errors`): their violations are not observed,
    which would abort the write, but reported unmeasured."""
    plan = MeasurePlan(arrow_rows=arrow_rows if local else 0)
    for index, reason in (refused or {}).items():
        plan.unmeasured[quality.violations_metric(index)] = reason
    columns = quality.columns_by_name(dtypes)
    for metric in checks.metrics:
        if metric.name in plan.unmeasured:
            continue
        if plan.arrow_rows > 0 and _in_footer(metric, columns):
            plan.footer.append(metric)
        else:
            plan.observed.append(metric)
    if plan.arrow_rows > 0:
        for item in checks.uniqueness:
            keys = quality.arrow_key_columns(item.columns, dtypes)
            if keys is not None:
                plan.arrow_keys[item.index] = keys
    return plan


def _in_footer(metric: Metric, columns: dict[str, tuple[str, str]]) -> bool:
    if metric.kind == ROWS:
        return True
    found = columns.get((metric.column or "").lower()) if metric.column else None
    if found is None:
        return False
    if metric.kind == "nulls":
        return not found[1].startswith(("struct", "array", "map"))
    return metric.kind in ("min", "max") and found[1] in _FOOTER_EXTREMES


# ------------------------------------------------------------------------------------------------ after the write


def collect(
    spark: SparkSession, staged: str, plan: MeasurePlan, checks: CheckPlan, observed: Mapping[str, Any] | None
) -> Measured:
    """Every metric of the plan, and `duplicates.<index>` of every uniqueness check, from the write's
    observation (`observed`), the staged files' footers and one grouping of the key columns per check."""
    found = Measured(unmeasured=dict(plan.unmeasured))
    reported = observed or {}
    for metric in plan.observed:
        if metric.name in reported:
            found.values[metric.name] = reported[metric.name]
        else:
            found.unmeasured[metric.name] = "Spark's observation of the write has no value for it"
    rows = _from_footers(staged, plan.footer, found) if plan.footer else None
    if rows is None and ROWS in found.values:
        rows = int(found.values[ROWS] or 0)
    for item in checks.uniqueness:
        name = f"duplicates.{item.index}"
        keys = plan.arrow_keys.get(item.index)
        try:
            if keys is not None and rows is not None and rows <= plan.arrow_rows:
                found.values[name] = quality.duplicate_rows_arrow(staged_files(staged), keys)
            else:
                found.values[name] = quality.duplicate_rows(spark.read.parquet(staged), item.columns)
        except Exception as error:  # reported on the check, which fails; the build goes on to report the others
            found.unmeasured[name] = f"counting duplicates failed: {type(error).__name__}: {_reason(error)}"
    return found


def _from_footers(staged: str, metrics: Sequence[Metric], found: Measured) -> int | None:
    """Puts the footer metrics' values (or the reason they are missing) into `found`; returns the row count,
    None when the footers could not be read."""
    import pyarrow.parquet as pq

    if not os.path.isdir(local_path(staged)):
        for metric in metrics:
            found.unmeasured[metric.name] = f"the staged folder {staged} does not exist"
        return None
    try:
        footers = [(os.path.basename(path), pq.read_metadata(path)) for path in staged_files(staged)]
    except Exception as error:
        for metric in metrics:
            found.unmeasured[metric.name] = f"cannot read the staged files' footers: {_reason(error)}"
        return None
    rows = int(sum(footer.num_rows for _, footer in footers))
    for metric in metrics:
        if metric.kind == ROWS:
            found.values[ROWS] = rows
            continue
        # What Spark's aggregates give over no rows: a null count of 0, no extreme.
        value: Any = 0 if metric.kind == "nulls" else None
        for file, footer in footers:
            leaves = {footer.schema.column(i).path.lower(): i for i in range(footer.num_columns)}
            leaf = leaves.get(str(metric.column).lower())
            stats = leaf_stats(footer, leaf, extremes=metric.kind != "nulls") if leaf is not None else None
            if stats is None or stats.nulls is None or metric.kind != "nulls" and not stats.bounded:
                found.unmeasured[metric.name] = f"the footer of {file} has no statistics for column {metric.column}"
                break
            if metric.kind == "nulls":
                value += stats.nulls
            else:
                value = _extreme(value, stats.high if metric.kind == "max" else stats.low, metric.kind == "max")
        else:
            found.values[metric.name] = value
    return rows


def _extreme(current: Any, value: Any, larger: bool) -> Any:
    if value is None:
        return current
    if current is None:
        return value
    return max(current, value) if larger else min(current, value)
