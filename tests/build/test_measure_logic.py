"""Measuring without Spark: footer statistics merged over files, and every way a metric can go unmeasured
ending as a failed check with its reason (never as a default value)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamesh.api.dataproduct import Column, QualityCheck
from datamesh.build import measure, quality

DTYPES = [("id", "string"), ("n", "bigint"), ("score", "double"), ("ts", "timestamp"), ("d", "date")]
COLUMNS = [Column(name=n, type=t, nullable=True) for n, t in DTYPES]
CHECKS = [
    QualityCheck(type="completeness", columns=["id", "n", "score"]),
    QualityCheck(type="uniqueness", column="id"),
    QualityCheck(type="range", column="n", min=0, max=10),
    QualityCheck(type="range", column="score", max=1),
    QualityCheck(type="freshness", column="ts", max_age="1 hour"),
    QualityCheck(type="freshness", column="d", max_age="1 day"),
    QualityCheck(type="rowCount", min=1, max=100),
]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPARK_VALUES = {"violations.2": 2, "violations.3": 2, "min.score": 0.0, "max.score": float("nan")}
"""What Spark would observe on the write for the files below."""


def _part(folder: Path, name: str, rows: dict[str, Any], statistics: bool) -> None:
    schema = pa.schema(
        [("id", pa.string()), ("n", pa.int64()), ("score", pa.float64()), ("ts", pa.timestamp("us", "UTC")),
         ("d", pa.date32())]
    )  # fmt: skip
    pq.write_table(pa.table(rows, schema=schema), folder / name, write_statistics=statistics, row_group_size=2)


def _staged(folder: Path, statistics: bool = True) -> Path:
    folder.mkdir()
    first = {
        "id": ["a", "b", None], "n": [1, None, 12], "score": [0.5, float("nan"), None],
        "ts": [T0, None, T0.replace(hour=5)], "d": [date(2026, 1, 1), None, date(2025, 1, 1)],
    }  # fmt: skip
    second = {
        "id": ["b", "c"], "n": [-1, 3], "score": [2.0, 0.0],
        "ts": [T0.replace(hour=2), None], "d": [date(2026, 2, 1), None],
    }  # fmt: skip
    _part(folder, "part-0.parquet", first, statistics=True)
    _part(folder, "part-1.parquet", second, statistics=statistics)
    return folder


def _plan(**kwargs: object) -> tuple[quality.CheckPlan, measure.MeasurePlan]:
    checks = quality.plan_checks(CHECKS, COLUMNS)
    return checks, measure.plan_measurement(checks, DTYPES, True, 100, **kwargs)  # type: ignore[arg-type]


def test_footers_merge_over_files_and_row_groups(tmp_path: Path) -> None:
    checks, plan = _plan()
    assert {m.name for m in plan.footer} == {
        "rows", "nulls.id", "nulls.n", "nulls.score", "min.n", "max.n", "max.ts", "max.d",
    }  # fmt: skip
    assert {m.name for m in plan.observed} == set(SPARK_VALUES)
    staged = str(_staged(tmp_path / "run-1"))
    got = measure.collect(None, staged, plan, checks, SPARK_VALUES)  # type: ignore[arg-type]  # no Spark needed
    assert got.unmeasured == {}
    assert math.isnan(got.values.pop("max.score"))
    assert got.values == {
        "violations.2": 2, "violations.3": 2, "min.score": 0.0,
        "rows": 5,
        "nulls.id": 1, "nulls.n": 1, "nulls.score": 1,
        "duplicates.1": 1,
        "min.n": -1, "max.n": 12,
        "max.ts": T0.replace(hour=5), "max.d": date(2026, 2, 1),
    }  # fmt: skip


def test_a_footer_without_statistics_fails_the_checks_that_need_it(tmp_path: Path) -> None:
    checks, plan = _plan()
    staged = str(_staged(tmp_path / "run-1", statistics=False))
    got = measure.collect(None, staged, plan, checks, SPARK_VALUES)  # type: ignore[arg-type]
    assert set(got.unmeasured) == {"nulls.id", "nulls.n", "nulls.score", "min.n", "max.n", "max.ts", "max.d"}
    assert got.unmeasured["max.ts"] == "the footer of part-1.parquet has no statistics for column ts"
    assert got.values["rows"] == 5 and "max.ts" not in got.values
    results = {r.name: r for r in quality.evaluate(checks, got.values, T0, got.unmeasured)}
    assert [name for name, r in results.items() if not r.passed] == [
        "completeness.id+n+score", "uniqueness.id", "range.n", "range.score", "freshness.ts", "freshness.d"
    ]  # fmt: skip
    fresh = results["freshness.ts"]
    assert (fresh.value, fresh.threshold) == (None, 3600)
    assert fresh.message == "not measured: the footer of part-1.parquet has no statistics for column ts"
    assert results["completeness.id+n+score"].message == (
        "not measured: the footer of part-1.parquet has no statistics for column id;"
        " the footer of part-1.parquet has no statistics for column n;"
        " the footer of part-1.parquet has no statistics for column score"
    )
    # Range checks are decided by their violations; their extremes only describe a failure.
    assert (results["range.n"].value, results["rowCount"].passed) == (0.6, True)
    assert results["range.n"].message == "2 row(s) violate it (observed ?..?, allowed 0.0..10.0)"


def test_a_missing_observation_or_staged_folder_is_reported_not_zero(tmp_path: Path) -> None:
    checks, plan = _plan()
    staged = str(_staged(tmp_path / "run-1"))
    got = measure.collect(None, staged, plan, checks, None)  # type: ignore[arg-type]
    assert got.unmeasured == dict.fromkeys(SPARK_VALUES, "Spark's observation of the write has no value for it")
    results = quality.evaluate(checks, got.values, T0, got.unmeasured)
    assert [(r.name, r.passed, r.value) for r in results if r.type == "range"] == [
        ("range.n", False, None), ("range.score", False, None)
    ]  # fmt: skip
    gone = str(tmp_path / "run-gone")
    got = measure.collect(None, gone, plan, checks, SPARK_VALUES)  # type: ignore[arg-type]
    assert got.unmeasured["rows"] == f"the staged folder {gone} does not exist"
    results = quality.evaluate(checks, got.values, T0, got.unmeasured)
    assert [r.passed for r in results] == [False] * len(CHECKS), "every check needs the row count or a footer"
    assert results[6].threshold == 1 and results[6].message == f"not measured: the staged folder {gone} does not exist"


def test_a_failed_grouping_fails_the_uniqueness_check(tmp_path: Path) -> None:
    checks, plan = _plan()
    plan.arrow_keys[1] = ["no_such_column"]  # pyarrow raises on the read
    staged = str(_staged(tmp_path / "run-1"))
    got = measure.collect(None, staged, plan, checks, SPARK_VALUES)  # type: ignore[arg-type]
    assert list(got.unmeasured) == ["duplicates.1"]
    assert got.unmeasured["duplicates.1"].startswith("counting duplicates failed: ")
    (result,) = [r for r in quality.evaluate(checks, got.values, T0, got.unmeasured) if r.type == "uniqueness"]
    assert (result.passed, result.value, result.threshold) == (False, None, 1.0)


def test_refused_checks_are_not_observed_and_long_reasons_are_cut() -> None:
    checks = quality.plan_checks([QualityCheck(type="format", column="id", pattern="(")], COLUMNS)
    reason = "Java cannot compile the pattern: " + "x" * 2000
    plan = measure.plan_measurement(checks, DTYPES, local=False, arrow_rows=0, refused={0: reason})
    assert [m.name for m in plan.observed] == ["rows"] and plan.unmeasured == {"violations.0": reason}
    (result,) = quality.evaluate(checks, {"rows": 3}, T0, plan.unmeasured)
    assert result.message is not None and len(result.message) == quality.MESSAGE_MAX
    assert result.message.startswith("not measured: Java cannot") and result.message.endswith("x...")


@pytest.mark.parametrize(("local", "rows"), [(False, 100), (True, 0)])
def test_remote_results_and_pyarrow_off_observe_every_metric(local: bool, rows: int) -> None:
    checks = quality.plan_checks(CHECKS, COLUMNS)
    plan = measure.plan_measurement(checks, DTYPES, local=local, arrow_rows=rows)
    assert (plan.footer, plan.observed, plan.arrow_keys) == ([], checks.metrics, {})
