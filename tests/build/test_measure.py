"""Quality metrics read back from the staged files equal the ones Spark computes, engine for engine.

The reference is Spark itself: every metric of the plan as one Spark aggregation over the same staged files
(what the build observed on the write before the read-back existed), and Spark's grouping for uniqueness.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from datamesh.api.dataproduct import Column, QualityCheck
from datamesh.build import measure, quality
from datamesh.build.publish import write_staged

pytestmark = pytest.mark.spark

SCHEMA = (
    "id STRING, email STRING, n BIGINT, i INT, score DOUBLE, price DECIMAL(18,2), ts TIMESTAMP, d DATE,"
    " flag BOOLEAN, status STRING"
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = [
    ("a", "ann@example.com", 1, 1, 4.5, Decimal("1.50"), T0, date(2026, 1, 1), True, "open"),
    ("b", "bob@example", -3, 2, 5.0, Decimal("-2.00"), None, date(2025, 1, 1), False, "closed"),
    ("c", "not an e-mail", None, 3, float("nan"), None, T0.replace(day=2), None, None, "open"),
    ("c", None, 7, None, None, Decimal("99.99"), T0.replace(day=3), date(2024, 2, 29), True, "OPEN"),
    ("d", "d@x.org\n", 0, 200, 0.5, Decimal("0.00"), T0, date(2026, 1, 2), False, None),
    ("e", "é@ü.de", 2**40, -5, float("inf"), Decimal("3.14"), T0, date(2026, 1, 3), True, "pending"),
    (None, "f@@x", 5, 5, -0.0, Decimal("1.00"), T0, date(2026, 1, 4), True, "open"),
]
TYPES = ["string", "string", "bigint", "int", "double", "decimal(18,2)", "timestamp", "date", "boolean", "string"]
NAMES = ["id", "email", "n", "i", "score", "price", "ts", "d", "flag", "status"]
COLUMNS = [Column(name=n, type=t, nullable=True) for n, t in zip(NAMES, TYPES, strict=True)]
CHECKS = [
    QualityCheck(type="completeness", columns=["id", "email", "n", "score", "ts"]),
    QualityCheck(type="notNull", column="status"),
    QualityCheck(type="uniqueness", column="id"),
    QualityCheck(type="uniqueness", columns=["status", "i"]),
    QualityCheck(type="uniqueness", column="score"),  # a float key: Spark groups it
    QualityCheck(type="acceptedValues", column="status", values=["open", "closed"]),
    QualityCheck(type="acceptedValues", column="i", values=["1", "2", "3", "5"]),
    QualityCheck(type="acceptedValues", column="flag", values=["true"]),
    QualityCheck(type="range", column="score", min=1, max=5),
    QualityCheck(type="range", column="n", min=0),
    QualityCheck(type="range", column="i", max=100),
    QualityCheck(type="range", column="price", min=0, max=50),  # decimal: observed by Spark
    QualityCheck(type="format", column="email", pattern=r"^[^@\s]+@[^@\s]+$"),
    QualityCheck(type="format", column="email", pattern=r"^(?=.*\.)\S+$"),  # lookahead: not RE2, observed
    QualityCheck(type="format", column="email", pattern=r"@"),
    QualityCheck(type="sql", expression="n >= 0 AND i < 100"),
    QualityCheck(type="sql", expression="length(email) > 3"),  # a function: observed
    QualityCheck(type="rowCount", min=1),
    QualityCheck(type="freshness", column="ts", max_age="1 hour"),
    QualityCheck(type="freshness", column="d", max_age="1 day"),
]


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or left == right
    if isinstance(left, datetime) and isinstance(right, datetime):
        return quality._as_datetime(left) == quality._as_datetime(right)
    return bool(left == right)


@pytest.fixture(scope="module")
def staged(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    path = str(tmp_path_factory.mktemp("measure") / "run-1")
    # Two partitions, so the read-back merges values over files as well as over batches.
    write_staged(spark, spark.createDataFrame(ROWS, SCHEMA).repartition(2), path)
    return path, spark.read.parquet(path)


def _spark_reference(frame: Any, checks: quality.CheckPlan) -> dict[str, Any]:
    values = frame.agg(*quality.aggregates(checks)).collect()[0].asDict()
    for item in checks.uniqueness:
        values[f"duplicates.{item.index}"] = quality.duplicate_rows(frame, item.columns)
    return values


def test_the_plan_reads_back_what_pyarrow_computes_like_spark(staged: tuple[str, Any]) -> None:
    _, frame = staged
    checks = quality.plan_checks(CHECKS, COLUMNS)
    plan = measure.plan_measurement(checks, frame.dtypes, local=True, arrow_rows=1000)
    observed = {m.name for m in plan.observed}
    assert observed == {"violations.11", "violations.13", "violations.16"}, "decimal range, lookahead, length()"
    assert set(plan.patterns) == {12, 14} and set(plan.predicates) == {15}
    assert set(plan.arrow_keys) == {2, 3}, "a float key is grouped by Spark"
    remote = measure.plan_measurement(checks, frame.dtypes, local=False, arrow_rows=1000)
    assert remote.read_back == [] and remote.observed == checks.metrics


@pytest.mark.parametrize("arrow_rows", [1000, 1], ids=["pyarrow", "spark-above-the-row-limit"])
def test_read_back_equals_spark(spark: Any, staged: tuple[str, Any], arrow_rows: int) -> None:
    path, frame = staged
    checks = quality.plan_checks(CHECKS, COLUMNS)
    expected = _spark_reference(frame, checks)
    plan = measure.plan_measurement(checks, frame.dtypes, local=True, arrow_rows=arrow_rows)
    got = frame.agg(*quality.aggregates(checks, plan.observed)).collect()[0].asDict()
    got.update(measure.read_back(spark, path, plan, checks))
    assert sorted(got) == sorted(expected)
    differ = {k: (got[k], expected[k]) for k in expected if not _same(got[k], expected[k])}
    assert not differ
    # The data exercises what it should: NaN and infinity, duplicates, a Java `$` before a final line break.
    assert math.isnan(expected["max.score"]) and expected["violations.8"] == 4
    # 2, not 3: Java's `$` matches before the final line break of "d@x.org\n", which RE2's end of text does not.
    assert (expected["duplicates.2"], expected["violations.12"]) == (1, 2)


def test_results_of_an_empty_result_equal_spark(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "run-empty")
    write_staged(spark, spark.createDataFrame([], SCHEMA), path)
    frame = spark.read.parquet(path)
    checks = quality.plan_checks(CHECKS, COLUMNS)
    plan = measure.plan_measurement(checks, frame.dtypes, local=True, arrow_rows=1000)
    got = frame.agg(*quality.aggregates(checks, plan.observed)).collect()[0].asDict()
    got.update(measure.read_back(spark, path, plan, checks))
    expected = _spark_reference(frame, checks)
    assert {k: v for k, v in got.items() if not _same(v, expected[k])} == {}


def test_spark_measures_when_pyarrow_fails(spark: Any, staged: tuple[str, Any]) -> None:
    path, frame = staged
    checks = quality.plan_checks([QualityCheck(type="sql", expression="n IS NOT NULL")], COLUMNS)
    # Planned for a result whose `n` were a string: compiled for that, the predicate fails on the integers.
    plan = measure.plan_measurement(checks, [("n", "string")], local=True, arrow_rows=1000)
    assert plan.read_back and not plan.observed
    notes: list[str] = []
    got = measure.read_back(spark, path, plan, checks, notes.append)
    assert got == _spark_reference(frame, checks) and got["violations.0"] == 1
    assert len(notes) == 1 and notes[0].startswith("pyarrow could not measure the checks (")
