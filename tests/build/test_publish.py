"""Real Spark, real Delta: the metadata-only publish (staged files committed as they are with delta-rs), what
Spark reads back, failed builds, the Spark fallbacks, vacuum, and the two uniqueness engines agreeing."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamesh.build import quality
from datamesh.build.commit import commit, staged_files
from datamesh.build.publish import write_staged
from datamesh.build.runner import run_build
from datamesh.mesh.contract import BuildRequest, BuildResult, ResolvedInput

pytestmark = pytest.mark.spark

#: Every declared type the contract allows (but timestamp_ntz) plus nested extras, with nulls, micro-second
#: timestamps, decimals beyond a double's precision and strings longer than Delta's 32-character bounds.
TYPED_SQL = """
SELECT CAST(id AS STRING) AS id,
       IF(id % 10 = 0, NULL, id * 1000000007) AS n,
       CAST(id AS INT) AS i,
       CAST(id / 7 AS DECIMAL(18,2)) AS d,
       CAST(CAST(id AS DECIMAL(30,5)) * CAST(1000000000000000000 AS DECIMAL(20,0)) + 0.00001 AS DECIMAL(30,5)) AS big,
       id / 3.0D AS f,
       id % 2 = 0 AS flag,
       DATE'2024-02-28' + CAST(id AS INT) AS day,
       TIMESTAMP'2024-01-01 00:00:00.000001' + make_interval(0, 0, 0, 0, 0, 0, id * 1.234567) AS at,
       CAST(CAST(id AS STRING) AS BINARY) AS bin,
       repeat('x', 40) || CAST(id AS STRING) AS long_text,
       named_struct('a', id, 'b', CAST(id AS STRING)) AS st,
       array(id, id + 1) AS arr,
       map('k', id) AS m
FROM {source}
"""


def typed_sql(start: int, stop: int, *, build: bool = True) -> str:
    """TYPED_SQL over the ids start..stop-1: from the build's `seed` input, or (for expectations) range()."""
    source = f"seed WHERE id >= {start} AND id < {stop}" if build else f"range({start}, {stop})"
    return TYPED_SQL.format(source=source)


TYPED_SCHEMA = [
    {"name": "id", "type": "string", "primaryKey": True},
    {"name": "n", "type": "long", "nullable": True},
    {"name": "i", "type": "int"},
    {"name": "d", "type": "decimal(18,2)"},
    {"name": "big", "type": "decimal(30,5)"},
    {"name": "f", "type": "double"},
    {"name": "flag", "type": "boolean"},
    {"name": "day", "type": "date"},
    {"name": "at", "type": "timestamp"},
    {"name": "bin", "type": "binary"},
    {"name": "long_text", "type": "string"},
]


def _request(
    location: Path,
    sql: str,
    schema: list[dict[str, Any]],
    run_id: str,
    checks: list[dict[str, Any]] | None = None,
    **governance: Any,
) -> BuildRequest:
    spec = {
        "domain": "ops",
        "owner": "ops",
        "description": "publish tests",
        "sla": {"freshness": "1 day", "qualityScore": 0.5},
        "schema": schema,
        "inputs": [{"source": "bronze.ops.seed", "alias": "seed"}],
        "transform": {"sql": sql, "allowExtraColumns": True},
        "outputs": [{"name": "table", "format": "delta"}],
        "governance": {"qualityChecks": checks or [{"type": "uniqueness", "column": "id"}], **governance},
    }
    # Transforms read declared inputs only (no range()): `seed` holds the ids 0..999.
    source = location.parent / "seed"
    if not source.exists():
        source.mkdir(parents=True)
        pq.write_table(pa.table({"id": pa.array(range(1000), pa.int64())}), source / "part-0.parquet")
    seed = ResolvedInput(
        view="seed", kind="source", ref="bronze.ops.seed", domain="ops", location=str(source), format="parquet"
    )
    return BuildRequest.model_validate(
        {
            "namespace": "ops",
            "name": "typed",
            "domain": "ops",
            "runId": run_id,
            "spec": spec,
            "inputs": [seed.to_wire()],
            "outputLocation": str(location),
        }
    )


def _build(request: BuildRequest, **kwargs: Any) -> tuple[BuildResult, list[str]]:
    lines: list[str] = []
    result = run_build(request, progress=lines.append, **kwargs)
    return result, lines


def _log(location: Path, version: int) -> list[dict[str, Any]]:
    text = (location / "_delta_log" / f"{version:020d}.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _versions(location: Path) -> list[int]:
    return sorted(int(p.stem) for p in (location / "_delta_log").glob("*.json"))


def _run_folders(location: Path) -> list[str]:
    return sorted(p.name for p in location.glob("run-*"))


def _history(spark: Any, location: Path) -> list[Any]:
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, str(location)).history().collect()  # type: ignore[no-any-return]


@contextlib.contextmanager
def _path_sql(spark: Any) -> Iterator[None]:
    """Path-based table SQL (`delta.`/path``), which build sessions turn off, for one test statement."""
    spark.conf.set("spark.sql.runSQLOnFiles", "true")
    try:
        yield
    finally:
        spark.conf.set("spark.sql.runSQLOnFiles", "false")


def _rows(frame: Any, order: str = "id") -> list[Any]:
    return frame.orderBy(order).collect()  # type: ignore[no-any-return]


def test_overwrite_commits_the_staged_files_and_spark_reads_them_back(spark: Any, tmp_path: Path) -> None:
    from deltalake import DeltaTable as RustTable
    from pyspark.sql import functions as F

    location = tmp_path / "typed"
    result, lines = _build(_request(location, typed_sql(0, 100), TYPED_SCHEMA, "r1"), spark=spark)
    assert result.outcome == "Published", result.message
    assert (result.table_version, result.row_count) == (0, 100)
    assert "published version 0 (commit)" in lines

    # Version 0: one delta-rs commit adding exactly the staged files of the run folder, with their statistics.
    log = _log(location, 0)
    info = next(a["commitInfo"] for a in log if "commitInfo" in a)
    assert info["engineInfo"].startswith("delta-rs") and json.loads(info["userMetadata"])["runId"] == "r1"
    adds = [a["add"] for a in log if "add" in a]
    (folder,) = _run_folders(location)
    files = [f"{folder}/{Path(p).name}" for p in staged_files(str(location / folder))]
    assert sorted(a["path"] for a in adds) == files
    assert sum(json.loads(a["stats"])["numRecords"] for a in adds) == 100
    assert not list(location.rglob("_SUCCESS"))

    # Spark reads the declared types, the exact values and the commit metadata.
    table = spark.read.format("delta").load(str(location))
    expected = spark.sql(typed_sql(0, 100, build=False))
    assert table.dtypes == expected.dtypes
    assert dict(table.dtypes)["big"] == "decimal(30,5)" and dict(table.dtypes)["at"] == "timestamp"
    assert _rows(table) == _rows(expected)
    (entry,) = _history(spark, location)
    metadata = json.loads(entry["userMetadata"])
    assert metadata["runId"] == "r1" and metadata["qualityScore"] == 1.0 and metadata["inputVersions"] == {}
    assert [c["name"] for c in metadata["checks"]] == ["uniqueness.id"]
    # Filters on the extremes find their rows: the statistics are bounds Delta's data skipping can trust.
    newest = expected.agg(F.max("at")).first()[0]
    assert table.where(F.col("at") == F.lit(newest)).count() == 1
    assert table.where(F.col("big") == expected.agg(F.max("big")).first()[0]).count() == 1
    assert table.where(F.col("long_text") == "x" * 40 + "99").count() == 1
    assert table.where(F.col("n").isNull()).count() == 10

    # Version 1 replaces rows and schema (long_text dropped); the log removes every file of version 0.
    drop = "repeat('x', 40) || CAST(id AS STRING) AS long_text,"
    sql = typed_sql(500, 520).replace(drop, "")
    result, lines = _build(_request(location, sql, TYPED_SCHEMA[:-1], "r2"), spark=spark)
    assert result.outcome == "Published", result.message
    assert (result.table_version, result.row_count) == (1, 20)
    removed = sorted(a["remove"]["path"] for a in _log(location, 1) if "remove" in a)
    assert removed == sorted(a["path"] for a in adds)
    table = spark.read.format("delta").load(str(location))
    assert "long_text" not in table.columns
    assert _rows(table) == _rows(spark.sql(typed_sql(500, 520, build=False).replace(drop, "")))
    assert [(h["version"], json.loads(h["userMetadata"])["runId"]) for h in _history(spark, location)] == [
        (1, "r2"),
        (0, "r1"),
    ]
    # delta-rs (the catalog's REST output reads with it) sees the same version.
    rust = RustTable(str(location))
    assert rust.version() == 1 and rust.to_pyarrow_table().num_rows == 20


def test_statistics_agree_with_the_ones_sparks_delta_writer_collects(spark: Any, tmp_path: Path) -> None:
    frame = spark.sql(typed_sql(0, 300, build=False)).coalesce(1)
    frame.write.format("delta").save(str(tmp_path / "spark"))
    ours = tmp_path / "ours"
    write_staged(spark, frame, str(ours / "run-1"))
    assert commit(str(ours), str(ours / "run-1"), frame.schema.json(), "{}") == 0
    (theirs,) = [json.loads(a["add"]["stats"], parse_float=Decimal) for a in _log(tmp_path / "spark", 0) if "add" in a]
    (mine,) = [json.loads(a["add"]["stats"], parse_float=Decimal) for a in _log(ours, 0) if "add" in a]
    assert mine["numRecords"] == theirs["numRecords"] == 300
    assert mine["nullCount"] == {k: v for k, v in theirs["nullCount"].items() if k in mine["nullCount"]}
    assert set(mine["nullCount"]) == {c for c in theirs["nullCount"] if c not in ("st", "arr", "m")}
    for bound in ("minValues", "maxValues"):
        for column, value in mine[bound].items():
            if column == "at" and bound == "maxValues":
                assert value >= theirs[bound][column]  # ours rounds up to the millisecond, Delta's down
            else:
                assert value == theirs[bound][column], (bound, column)
    assert set(mine["minValues"]) == {"id", "n", "i", "d", "big", "day", "at", "long_text"}
    assert mine["minValues"]["long_text"] == "x" * 32
    assert set(mine["maxValues"]) == {"id", "n", "i", "d", "big", "day", "at"}


def test_failed_builds_leave_no_run_folder_and_no_commit(spark: Any, tmp_path: Path) -> None:
    location = tmp_path / "typed"
    sql = typed_sql(0, 10)
    assert _build(_request(location, sql, TYPED_SCHEMA, "r1"), spark=spark)[0].outcome == "Published"
    folders, before = _run_folders(location), _rows(spark.read.format("delta").load(str(location)))

    # A blocking check fails after the staged write.
    failing = [{"type": "sql", "name": "never", "expression": "id IS NULL"}]
    result, _ = _build(_request(location, sql, TYPED_SCHEMA, "r2", checks=failing), spark=spark)
    assert result.outcome == "QualityFailed" and "never failed" in (result.message or "")
    # Values that do not cast, found after the staged write.
    bad = sql.replace("CAST(id AS INT) AS i", "IF(id = 3, 'three', CAST(id AS STRING)) AS i")
    result, _ = _build(_request(location, bad, TYPED_SCHEMA, "r3"), spark=spark)
    assert (result.outcome, result.reason) == ("Failed", "SchemaViolation"), result.message
    # The transform fails while writing (a runtime error inside the job).
    boom = sql.replace("CAST(id AS INT) AS i", "CAST(IF(id = 3, raise_error('boom'), id) AS INT) AS i")
    result, _ = _build(_request(location, boom, TYPED_SCHEMA, "r4"), spark=spark)
    assert result.outcome == "Failed" and "boom" in (result.message or ""), result.message

    assert _versions(location) == [0]
    assert _run_folders(location) == folders
    assert _rows(spark.read.format("delta").load(str(location))) == before


def test_a_table_delta_rs_cannot_write_fails_the_build_and_stays_as_it_was(spark: Any, tmp_path: Path) -> None:
    from delta.tables import DeltaTable

    location = tmp_path / "featured"
    with _path_sql(spark):
        DeltaTable.create(spark).location(str(location)).addColumn("id", "STRING").property(
            "delta.feature.typeWidening", "supported"
        ).execute()
    result, _ = _build(_request(location, "SELECT 'a' AS id", TYPED_SCHEMA[:1], "r1"), spark=spark)
    assert (result.outcome, result.reason) == ("Failed", "PublishFailed"), result.message
    assert "delta-rs could not commit" in (result.message or "") and "TypeWidening" in (result.message or "")
    assert _versions(location) == [0] and _run_folders(location) == []
    assert spark.read.format("delta").load(str(location)).count() == 0


def test_constraints_and_opt_outs_publish_through_spark(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = tmp_path / "checked"
    schema = TYPED_SCHEMA[:3]
    sql = "SELECT CAST(id AS STRING) AS id, id AS n, CAST(id AS INT) AS i FROM seed WHERE id >= {0} AND id < {1}"
    assert _build(_request(location, sql.format(0, 5), schema, "r1"), spark=spark)[0].outcome == "Published"
    with _path_sql(spark):
        spark.sql(f"ALTER TABLE delta.`{location}` ADD CONSTRAINT small CHECK (i < 100)")
    # A CHECK constraint is enforced by Spark's writer: rows breaking it fail the build, others publish.
    result, lines = _build(_request(location, sql.format(0, 200), schema, "r2"), spark=spark)
    assert (result.outcome, result.reason) == ("Failed", "PublishFailed"), result.message
    assert "small" in (result.message or "") and _versions(location) == [0, 1]  # 1: the ALTER
    result, lines = _build(_request(location, sql.format(10, 20), schema, "r3"), spark=spark)
    assert result.outcome == "Published" and "published version 2 (copy)" in lines
    assert len(_run_folders(location)) == 1, "the files Spark copied are not left in run folders"

    # timestamp_ntz needs a table feature: Spark writes it. DATAMESH_PUBLISH_METHOD=copy forces Spark.
    ntz = tmp_path / "ntz"
    ntz_schema = [*schema, {"name": "at", "type": "timestamp_ntz"}]
    ntz_sql = sql.format(0, 3).replace(" FROM", ", TIMESTAMP_NTZ'2024-01-01 10:00:00' AS at FROM")
    result, lines = _build(_request(ntz, ntz_sql, ntz_schema, "r1"), spark=spark)
    assert result.outcome == "Published" and "published version 0 (copy)" in lines, result.message
    assert dict(spark.read.format("delta").load(str(ntz)).dtypes)["at"] == "timestamp_ntz"
    monkeypatch.setenv("DATAMESH_PUBLISH_METHOD", "copy")
    forced = tmp_path / "forced"
    result, lines = _build(_request(forced, sql.format(0, 3), schema, "r1"), spark=spark)
    assert result.outcome == "Published" and "published version 0 (copy)" in lines
    assert _run_folders(forced) == [] and _history(spark, forced)[0]["operation"] == "WRITE"


def test_vacuum_removes_the_files_of_replaced_versions(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAMESH_VACUUM_RETAIN_HOURS", "0")
    location = tmp_path / "events"
    now = datetime(2026, 6, 1, tzinfo=UTC)
    schema = [{"name": "id", "type": "string", "primaryKey": True}, {"name": "at", "type": "timestamp"}]
    sql = "SELECT CAST(id AS STRING) AS id, TIMESTAMP'2026-05-31' - make_interval(0, 0, 0, CAST(id AS INT)) AS at"
    sql += " FROM seed WHERE id < 5"
    governance = {"retention": "3 days", "retentionColumn": "at"}
    first, _ = _build(_request(location, sql, schema, "r1", **governance), spark=spark, now=now)
    assert first.outcome == "Published" and first.retention is not None and first.retention.rows_removed == 2
    (old,) = _run_folders(location)
    assert list((location / old).glob("*.parquet"))
    second, _ = _build(_request(location, sql, schema, "r2", **governance), spark=spark, now=now + timedelta(days=1))
    assert second.outcome == "Published" and second.table_version == 1 and second.row_count == 2
    assert not list((location / old).glob("*.parquet")), "vacuum removes the replaced version's files"
    (new,) = [f for f in _run_folders(location) if f != old]
    assert list((location / new).glob("*.parquet"))
    assert sorted(r["id"] for r in spark.read.format("delta").load(str(location)).collect()) == ["0", "1"]


def test_arrow_and_spark_count_the_same_duplicates(spark: Any, tmp_path: Path) -> None:
    frame = spark.sql(
        """
        SELECT IF(id % 7 = 0, NULL, CAST(id % 50 AS STRING)) AS s,
               id % 3 AS n,
               CAST(id % 4 AS DECIMAL(10,2)) AS d,
               DATE'2024-01-01' + CAST(id % 5 AS INT) AS day,
               IF(id % 11 = 0, NULL, TIMESTAMP'2024-01-01 00:00:00.000001' + make_interval(0,0,0,0,0,0, id % 6)) AS at,
               id % 2 = 0 AS flag,
               CAST(CAST(id % 9 AS STRING) AS BINARY) AS bin,
               CAST(id AS STRING) AS unique_key
        FROM range(1000)
        """
    ).repartition(3)
    staged = tmp_path / "staged"
    write_staged(spark, frame, str(staged))
    files = staged_files(str(staged))
    assert len(files) == 3
    data = spark.read.parquet(str(staged))
    for keys in (["s"], ["S", "n"], ["d"], ["day", "at"], ["at"], ["flag", "bin"], ["unique_key"], ["s", "unique_key"]):
        columns = quality.arrow_key_columns(keys, frame.dtypes)
        assert columns is not None, keys
        assert quality.duplicate_rows_arrow(files, columns) == quality.duplicate_rows(data, keys), keys
    assert quality.duplicate_rows_arrow(files, ["unique_key"]) == 0


def test_both_uniqueness_engines_give_the_build_the_same_result(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = "SELECT IF(id % 10 = 0, NULL, CAST(id % 90 AS STRING)) AS id FROM seed WHERE id < 200"
    schema = [{"name": "id", "type": "string", "nullable": True}]
    checks = [{"type": "uniqueness", "column": "id", "threshold": 0.5}]
    results = []
    for limit in ("0", "1000"):  # 0: Spark; 1000 rows: pyarrow
        monkeypatch.setenv(quality.ARROW_MAX_ROWS_ENV, limit)
        result, _ = _build(_request(tmp_path / f"t{limit}", sql, schema, "r1", checks=checks), spark=spark)
        results.append([c.model_dump() for c in result.checks])
    assert results[0] == results[1]
    keys = [None if i % 10 == 0 else str(i % 90) for i in range(200)]
    assert results[0][0]["message"] == f"{200 - len(set(keys))} duplicate row(s) on id"


def test_a_check_that_cannot_be_measured_fails_the_build_with_its_reason(spark: Any, tmp_path: Path) -> None:
    sql = "SELECT CAST(id AS STRING) AS id FROM seed WHERE id < 50"
    schema = [{"name": "id", "type": "string"}]
    bad = {"type": "format", "name": "digits", "column": "id", "pattern": "[0-9"}
    location = tmp_path / "bad-pattern"
    result, _ = _build(_request(location, sql, schema, "r1", checks=[{"type": "rowCount", "min": 1}, bad]), spark=spark)
    assert result.outcome == "QualityFailed", result.message
    reason = "not measured: Java cannot compile the pattern: Unclosed character class near index 3 [0-9 ^"
    assert [(c.name, c.passed, c.value, c.message) for c in result.checks] == [
        ("rowCount", True, 50, None),
        ("digits", False, None, reason),
    ]
    assert result.message == f"not published: digits failed: None vs threshold 1.0 ({reason})"
    assert not (location / "_delta_log").exists() and _run_folders(location) == []
    # As a warning it is reported and scores 0 (here the SLA's 0.5 still holds), and the build publishes.
    checks = [{"type": "rowCount", "min": 1}, {**bad, "severity": "warn"}]
    warned, _ = _build(_request(location, sql, schema, "r2", checks=checks), spark=spark)
    assert warned.outcome == "Published" and warned.row_count == 50 and warned.quality_score == 0.5
    assert [(c.passed, c.message) for c in warned.checks] == [(True, None), (False, reason)]
