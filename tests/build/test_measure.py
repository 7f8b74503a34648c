"""Quality metrics measured on the staged write equal the ones Spark computes over the staged result.

Each test writes the staged files the way the build does: the metrics `measure` leaves to Spark observed on
the write, then `measure.collect` adds the footer values and the uniqueness counts. The reference is Spark
itself: every metric of the plan as one aggregation over the same staged files, and Spark's grouping for
uniqueness (what the build computed before the footers were read).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from datamesh.api.dataproduct import CheckResult, Column, QualityCheck
from datamesh.build import measure, quality
from datamesh.build.publish import write_staged

pytestmark = pytest.mark.spark

SCHEMA = (
    "id STRING, email STRING, n BIGINT, i INT, score DOUBLE, price DECIMAL(18,2), ts TIMESTAMP, d DATE,"
    " flag BOOLEAN, status STRING, gone TIMESTAMP"
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = [
    ("a", "ann@example.com", 1, 1, 4.5, Decimal("1.50"), T0, date(2026, 1, 1), True, "open", None),
    ("b", "bob@example", -3, 2, 5.0, Decimal("-2.00"), None, date(2025, 1, 1), False, "closed", None),
    ("c", "not an e-mail", None, 3, float("nan"), None, T0.replace(day=2), None, None, "open", None),
    ("c", None, 7, None, None, Decimal("99.99"), T0.replace(day=3), date(2024, 2, 29), True, "OPEN", None),
    ("d", "d@x.org\n", 0, 200, 0.5, Decimal("0.00"), T0, date(2026, 1, 2), False, None, None),
    ("e", "é@ü.de", 2**40, -5, float("inf"), Decimal("3.14"), T0, date(2026, 1, 3), True, "pending", None),
    (None, "f@@x", 5, 5, -0.0, Decimal("1.00"), T0, date(2026, 1, 4), True, "open", None),
]
TYPES = [
    "string", "string", "bigint", "int", "double", "decimal(18,2)", "timestamp", "date", "boolean", "string",
    "timestamp",
]  # fmt: skip
NAMES = ["id", "email", "n", "i", "score", "price", "ts", "d", "flag", "status", "gone"]
COLUMNS = [Column(name=n, type=t, nullable=True) for n, t in zip(NAMES, TYPES, strict=True)]
#: Every check kind, on every column kind, with nulls, NaN and infinity in the data. Indexes matter below.
CHECKS = [
    QualityCheck(type="completeness", columns=["id", "email", "n", "score", "ts", "gone"]),  # 0
    QualityCheck(type="notNull", column="status"),  # 1
    QualityCheck(type="uniqueness", column="id"),  # 2: pyarrow groups a string key (when local)
    QualityCheck(type="uniqueness", columns=["status", "i"]),  # 3
    QualityCheck(type="uniqueness", column="score"),  # 4: a float key: Spark groups it
    QualityCheck(type="acceptedValues", column="status", values=["open", "closed"]),  # 5
    QualityCheck(type="acceptedValues", column="i", values=["1", "2", "3", "5"]),  # 6
    QualityCheck(type="acceptedValues", column="flag", values=["true"]),  # 7
    QualityCheck(type="range", column="score", min=1, max=5),  # 8: NaN is above every bound
    QualityCheck(type="range", column="n", min=0),  # 9
    QualityCheck(type="range", column="i", max=100),  # 10
    QualityCheck(type="range", column="price", min=0, max=50),  # 11: decimal
    QualityCheck(type="format", column="email", pattern=r"^[^@\s]+@[^@\s]+$"),  # 12: `$` before a final \n
    QualityCheck(type="format", column="email", pattern=r"^(?=.*\.)\S+$"),  # 13: a lookahead
    QualityCheck(type="format", column="email", pattern=r"@"),  # 14
    QualityCheck(type="format", column="n", pattern=r"^-?\d+$"),  # 15: a number, as Spark casts it
    QualityCheck(type="sql", expression="n >= 0 AND i < 100"),  # 16
    QualityCheck(type="sql", expression="length(email) > 3"),  # 17
    QualityCheck(type="rowCount", min=1),  # 18
    QualityCheck(type="freshness", column="ts", max_age="1 hour"),  # 19
    QualityCheck(type="freshness", column="d", max_age="1 day"),  # 20
    QualityCheck(type="freshness", column="gone", max_age="1 day"),  # 21: only nulls
]
NOW = datetime(2026, 1, 5, tzinfo=UTC)
#: Patterns Java cannot compile, however harmless some look to other engines.
BAD_PATTERNS = ["(", "[z-a]", "a{2,1}", "\\", "x**", r"(?<n>x)\k<m>", "(?<1>x)", r"\p{NoSuchClass}"]
GOOD_PATTERNS = ["", r"(?i)^A", r"(?<=@)\w+", r"^(a|b)\1$", r"\p{L}+", r"[\w&&[^\d]]+", r"(?s).*", r"\Z", "\x00"]


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or left == right
    if isinstance(left, datetime) and isinstance(right, datetime):
        return quality._as_datetime(left) == quality._as_datetime(right)
    return bool(left == right)


def _stage(
    spark: Any, path: str, frame: Any, checks: list[QualityCheck], local: bool = True, arrow_rows: int = 1000
) -> tuple[quality.CheckPlan, measure.MeasurePlan, measure.Measured]:
    """What the runner does: plan, observe the write, write the staged files, collect the metrics."""
    from pyspark.sql import Observation

    plan = quality.plan_checks(checks, COLUMNS)
    measuring = measure.plan_measurement(plan, frame.dtypes, local, arrow_rows, measure.pattern_errors(spark, plan))
    observation = None
    aggregates = quality.aggregates(plan, measuring.observed, frame.columns)
    if aggregates:
        observation = Observation("quality")
        frame = frame.observe(observation, *aggregates)
    write_staged(spark, frame, path)
    return plan, measuring, measure.collect(spark, path, measuring, plan, observation.get if observation else None)


def _reference(spark: Any, path: str, plan: quality.CheckPlan, skip: frozenset[int] = frozenset()) -> dict[str, Any]:
    frame = spark.read.parquet(path)
    metrics = [m for m in plan.metrics if m.check not in skip]
    values: dict[str, Any] = frame.agg(*quality.aggregates(plan, metrics, frame.columns)).collect()[0].asDict()
    for item in plan.uniqueness:
        values[f"duplicates.{item.index}"] = quality.duplicate_rows(frame, item.columns)
    return values


def _differ(got: dict[str, Any], expected: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    assert sorted(got) == sorted(expected)
    return {k: (got[k], expected[k]) for k in expected if not _same(got[k], expected[k])}


def _dump(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [r.model_dump() for r in results]


@pytest.fixture(scope="module")
def data(spark: Any) -> Any:
    # Two partitions, so the footer values merge over files.
    return spark.createDataFrame(ROWS, SCHEMA).repartition(2)


def test_the_plan_observes_everything_the_footers_do_not_hold(spark: Any, data: Any) -> None:
    plan = quality.plan_checks(CHECKS, COLUMNS)
    local = measure.plan_measurement(plan, data.dtypes, local=True, arrow_rows=1000)
    assert {m.name for m in local.footer} == {
        "rows", "nulls.id", "nulls.email", "nulls.n", "nulls.score", "nulls.ts", "nulls.gone", "nulls.status",
        "min.n", "max.n", "min.i", "max.i", "max.ts", "max.d", "max.gone",
    }  # fmt: skip
    violations = {f"violations.{i}" for i in (5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)}
    assert {m.name for m in local.observed} == violations | {"min.score", "max.score", "min.price", "max.price"}
    assert set(local.arrow_keys) == {2, 3}, "a float key is grouped by Spark"
    assert local.unmeasured == {}
    for remote in (
        measure.plan_measurement(plan, data.dtypes, local=False, arrow_rows=1000),
        measure.plan_measurement(plan, data.dtypes, local=True, arrow_rows=0),
    ):
        assert (remote.observed, remote.footer, remote.arrow_keys) == (plan.metrics, [], {})


@pytest.mark.parametrize(
    ("local", "arrow_rows"),
    [(True, 1000), (True, 1), (False, 1000), (True, 0)],
    ids=["footers+pyarrow", "footers+spark-grouping", "remote:all-observed", "pyarrow-off"],
)
def test_every_check_kind_measures_as_spark_computes_it(
    spark: Any, data: Any, tmp_path: Path, local: bool, arrow_rows: int
) -> None:
    path = str(tmp_path / "run-1")
    plan, _, got = _stage(spark, path, data, CHECKS, local, arrow_rows)
    expected = _reference(spark, path, plan)
    assert got.unmeasured == {}
    assert not _differ(got.values, expected)
    assert _dump(quality.evaluate(plan, got.values, NOW)) == _dump(quality.evaluate(plan, expected, NOW))
    # The data exercises what it should: NaN and infinity, duplicates, Java's `$` before a final line break.
    assert math.isnan(expected["max.score"]) and expected["violations.8"] == 4
    assert (expected["duplicates.2"], expected["violations.12"]) == (1, 2)
    assert expected["max.gone"] is None and expected["nulls.gone"] == 7 and expected["violations.15"] == 0


def test_an_empty_result_measures_as_spark_computes_it(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "run-empty")
    plan, _, got = _stage(spark, path, spark.createDataFrame([], SCHEMA), CHECKS)
    expected = _reference(spark, path, plan)
    assert got.unmeasured == {} and not _differ(got.values, expected)
    assert got.values["rows"] == 0 and got.values["max.ts"] is None
    results = quality.evaluate(plan, got.values, NOW)
    assert _dump(results) == _dump(quality.evaluate(plan, expected, NOW))
    assert [r.name for r in results if not r.passed] == ["rowCount", "freshness.ts", "freshness.d", "freshness.gone"]


def test_java_compiles_exactly_the_patterns_spark_runs(spark: Any) -> None:
    from pyspark.sql import functions as F

    checks = [QualityCheck(type="format", column="email", pattern=p) for p in BAD_PATTERNS + GOOD_PATTERNS]
    refused = measure.pattern_errors(spark, quality.plan_checks(checks, COLUMNS))
    assert sorted(refused) == list(range(len(BAD_PATTERNS)))
    assert refused[0].startswith("Java cannot compile the pattern: Unclosed group near index 1")
    one = spark.createDataFrame([("x",)], "email STRING")
    for index, pattern in enumerate(BAD_PATTERNS + GOOD_PATTERNS):
        try:
            one.select(F.count_if(F.col("email").rlike(pattern))).collect()
            runs = True
        except Exception:
            runs = False
        assert runs == (index not in refused), pattern


def test_a_pattern_java_cannot_compile_fails_its_check_and_only_that(spark: Any, data: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "run-bad-pattern")
    checks = [
        *CHECKS,
        QualityCheck(type="format", column="email", pattern="(", severity="warn"),  # 22
        QualityCheck(type="format", column="n", pattern="[z-a]", threshold=0.01),  # 23
    ]
    plan, measuring, got = _stage(spark, path, data, checks)
    assert set(got.unmeasured) == {"violations.22", "violations.23"}
    assert {"violations.22", "violations.23"}.isdisjoint(m.name for m in measuring.observed)
    expected = _reference(spark, path, plan, skip=frozenset({22, 23}))
    assert not _differ(got.values, expected)
    results = quality.evaluate(plan, got.values, NOW, got.unmeasured)
    assert _dump(results[:22]) == _dump(quality.evaluate(quality.plan_checks(CHECKS, COLUMNS), expected, NOW))
    warn, error = results[22:]
    assert (warn.passed, warn.value, warn.threshold, warn.severity) == (False, None, 1.0, "warn")
    assert warn.message == "not measured: Java cannot compile the pattern: Unclosed group near index 1 ("
    assert (error.passed, error.value, error.threshold) == (False, None, 0.01), "a low threshold does not pass it"
    assert error.message is not None and "Illegal character range near index 3" in error.message
    assert [r.name for r in quality.blocking_failures(results[22:])] == ["format.n"]
