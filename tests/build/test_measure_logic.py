"""The read-back without Spark: footer statistics and their fallback, merging over files and batches."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path

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
]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _part(folder: Path, name: str, rows: dict[str, list[object]], statistics: bool) -> None:
    schema = pa.schema(
        [("id", pa.string()), ("n", pa.int64()), ("score", pa.float64()), ("ts", pa.timestamp("us", "UTC")),
         ("d", pa.date32())]
    )  # fmt: skip
    pq.write_table(pa.table(rows, schema=schema), folder / name, write_statistics=statistics, row_group_size=2)


@pytest.fixture()
def staged(tmp_path: Path) -> Path:
    folder = tmp_path / "run-1"
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
    _part(folder, "part-1.parquet", second, statistics=False)  # no statistics: scanned instead
    return folder


def test_footers_and_scans_merge_to_the_values_over_all_rows(staged: Path) -> None:
    checks = quality.plan_checks(CHECKS, COLUMNS)
    plan = measure.plan_measurement(checks, DTYPES, local=True, arrow_rows=100)
    assert plan.observed == []
    assert plan.footer == {"nulls.id", "nulls.n", "nulls.score", "min.n", "max.n", "max.ts", "max.d"}
    values = measure.read_back(None, str(staged), plan, checks)  # type: ignore[arg-type]  # Spark is never needed
    assert math.isnan(values.pop("max.score"))
    assert values == {
        "rows": 5,
        "nulls.id": 1, "nulls.n": 1, "nulls.score": 1,
        "duplicates.1": 1,
        "violations.2": 2, "min.n": -1, "max.n": 12,
        "violations.3": 2, "min.score": 0.0,
        "max.ts": T0.replace(hour=5), "max.d": date(2026, 2, 1),
    }  # fmt: skip


def test_pyarrow_is_off_for_remote_results_and_when_disabled() -> None:
    checks = quality.plan_checks(CHECKS, COLUMNS)
    for local, rows in ((False, 100), (True, 0)):
        plan = measure.plan_measurement(checks, DTYPES, local=local, arrow_rows=rows)
        assert (plan.read_back, plan.observed, plan.arrow_keys) == ([], checks.metrics, {})
