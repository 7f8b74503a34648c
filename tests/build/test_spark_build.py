"""Real Spark, real Delta: customer-360 end to end, failed checks leave the table alone, bad input, retention."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from datamesh.api.dataproduct import QualityCheck
from datamesh.build.local import build_request
from datamesh.build.runner import run_build
from datamesh.manifests import load_mesh
from datamesh.mesh.contract import BuildRequest, BuildResult, ResolvedInput

from .conftest import DemoLake

pytestmark = pytest.mark.spark


def _request(lake: DemoLake, output: Path, **spec_changes: Any) -> BuildRequest:
    request = build_request(load_mesh([lake.manifests]), "customer-360", run_id=f"test-{output.name}")
    request.output_location = str(output)
    for key, value in spec_changes.items():
        setattr(request.spec, key, value)
    return request


def _history(spark: Any, location: Any) -> Any:
    """The table's history (newest first); path-based SQL is off in build sessions (runSQLOnFiles=false)."""
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, str(location)).history()


def _run_folders(location: Path) -> list[str]:
    return sorted(p.name for p in location.glob("run-*"))


def _table(spark: Any, location: Path) -> pd.DataFrame:
    return spark.read.format("delta").load(str(location)).toPandas()


def _expected_customer_360(root: Path) -> pd.DataFrame:
    """The seed's numbers, computed independently with pandas from the files the demo wrote."""
    customers = pd.read_parquet(root / "sales/bronze/crm/customers")
    sessions = pd.read_parquet(root / "marketing/bronze/web/sessions")
    tickets = pd.read_csv(root / "customer-success/bronze/support/tickets/part-00000.csv", dtype={"customer_id": str})
    s = sessions.groupby("customer_id").agg(
        session_count=("session_id", "size"),
        total_page_views=("page_views", "sum"),
        last_session=("session_timestamp", "max"),
    )
    t = tickets.groupby("customer_id").agg(
        support_tickets=("ticket_id", "size"), avg_satisfaction=("satisfaction_score", "mean")
    )
    out = customers.set_index("customer_id").join(s).join(t)
    out["session_count"] = out["session_count"].fillna(0).astype("int64")
    out["total_page_views"] = out["total_page_views"].fillna(0).astype("int64")
    out["support_tickets"] = out["support_tickets"].fillna(0).astype("int64")
    return out.sort_index()


@pytest.fixture(scope="module")
def published(spark: Any, demo_lake: DemoLake, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
    output = tmp_path_factory.mktemp("c360") / "customer-360"
    result = run_build(_request(demo_lake, output), spark=spark)
    return output, result


def test_customer_360_equals_an_independent_computation(spark: Any, demo_lake: DemoLake, published: Any) -> None:
    output, result = published
    assert result.outcome == "Published", result.message
    assert result.table_version == 0 and result.location == str(output)
    assert {c.name: c.passed for c in result.checks} == {
        "completeness": True,
        "uniqueness": True,
        "format.email": True,
        "range.avg_satisfaction": True,
        "rowCount": True,
        "no-negative-activity": True,
        "freshness.updated_at": True,
    }
    assert result.quality_score == 1.0
    actual = _table(spark, output).set_index("customer_id").sort_index()
    expected = _expected_customer_360(demo_lake.root)
    assert result.row_count == len(expected) == len(actual)
    assert list(actual.index) == list(expected.index)
    for column in ("session_count", "total_page_views", "support_tickets"):
        assert actual[column].astype("int64").tolist() == expected[column].tolist(), column
    assert actual["email"].equals(expected["email"])
    for mine, theirs in zip(actual["avg_satisfaction"], expected["avg_satisfaction"], strict=True):
        assert (pd.isna(mine) and pd.isna(theirs)) or math.isclose(mine, theirs, rel_tol=1e-9)
    last = pd.to_datetime(actual["last_session"], utc=True)
    assert last.equals(pd.to_datetime(expected["last_session"], utc=True).rename("last_session"))
    ltv = actual["lifetime_value"].astype(float).round(2)
    assert ltv.tolist() == expected["lifetime_value"].round(2).tolist()
    # Commit info carries the run id and quality results for lineage.
    info = _history(spark, output).collect()[0]["userMetadata"]
    assert f'"runId": "{result.run_id}"' in info and '"qualityScore": 1.0' in info


def test_failing_checks_leave_the_published_version_untouched(spark: Any, demo_lake: DemoLake, published: Any) -> None:
    output, first = published
    before = _table(spark, output)
    published_folders = _run_folders(output)
    request = _request(demo_lake, output)
    assert request.spec.transform is not None
    # Duplicate keys (uniqueness) and an email column that is mostly null (completeness).
    sql = request.spec.transform.sql
    request.spec.transform.sql = (
        f"SELECT customer_id, IF(session_count > 0, NULL, email) AS email, name, created_at, lifetime_value,"
        f" session_count, total_page_views, last_session, support_tickets, avg_satisfaction, updated_at"
        f" FROM ({sql}) UNION ALL SELECT * FROM ({sql}) LIMIT 2500"
    )
    result = run_build(request, spark=spark)
    assert result.outcome == "QualityFailed" and result.reason == "QualityFailed"
    failed = {c.name for c in result.checks if not c.passed}
    assert {"uniqueness", "completeness"} <= failed
    assert "uniqueness failed" in (result.message or "") and "completeness failed" in (result.message or "")
    assert result.table_version is None
    history = _history(spark, output).collect()
    assert [r["version"] for r in history] == [first.table_version]
    after = _table(spark, output)
    assert len(after) == len(before) == first.row_count
    assert _run_folders(output) == published_folders, "the failed build's run folder must be deleted"


@pytest.mark.parametrize(
    ("sql", "reason", "fragment"),
    [
        ("SELEC 1", "SqlError", "PARSE_SYNTAX_ERROR"),
        ("SELECT * FROM no_such_view", "SqlRefused", "table no_such_view"),
        ("SELECT no_such_column FROM customers", "SqlError", "no_such_column"),
        ("SELECT customer_id FROM customers", "SchemaViolation", "column 'email' (declared string) is missing"),
        (
            "SELECT *, 1 AS session_count, 2L AS total_page_views, NULL AS last_session, 0L AS support_tickets,"
            " 4.0D AS avg_satisfaction, current_timestamp() AS updated_at, 'x' AS surplus FROM customers",
            "SchemaViolation",
            "undeclared column(s) 'surplus'",
        ),
        (
            "SELECT customer_id, email, name, created_at, lifetime_value, array(1) AS session_count, 1L AS"
            " total_page_views, NULL AS last_session, 0L AS support_tickets, 4.0D AS avg_satisfaction,"
            " current_timestamp() AS updated_at FROM customers",
            "SchemaViolation",
            "column 'session_count' has type array<int>, which cannot be cast to long",
        ),
        (
            "SELECT customer_id, email, name, created_at, lifetime_value, IF(rand() < 2, 'many', '1') AS"
            " session_count, 1L AS total_page_views, NULL AS last_session, 0L AS support_tickets,"
            " 4.0D AS avg_satisfaction, current_timestamp() AS updated_at FROM customers",
            "SchemaViolation",
            "column 'session_count': 2000 string value(s) cannot be cast to bigint",
        ),
    ],
    ids=[
        "syntax", "undeclared-table", "analysis", "missing-column", "extra-column", "uncastable-type",
        "uncastable-values",
    ],  # fmt: skip
)
def test_bad_transforms_are_reported_in_one_line(
    spark: Any, demo_lake: DemoLake, tmp_path: Path, sql: str, reason: str, fragment: str
) -> None:
    request = _request(demo_lake, tmp_path / "out")
    assert request.spec.transform is not None
    request.spec.transform.sql = sql
    result = run_build(request, spark=spark)
    assert (result.outcome, result.reason) == ("Failed", reason), result.message
    assert fragment in (result.message or "") and "\n" not in (result.message or "")
    assert not (tmp_path / "out" / "_delta_log").exists()
    assert not list((tmp_path / "out").glob("run-*")), "a failed build deletes its run folder"


def test_missing_input_and_unwritable_storage(spark: Any, demo_lake: DemoLake, tmp_path: Path) -> None:
    request = _request(demo_lake, tmp_path / "out")
    request.inputs[1] = request.inputs[1].model_copy(update={"location": str(tmp_path / "nowhere")})
    result = run_build(request, spark=spark)
    assert (result.outcome, result.reason) == ("Failed", "InputMissing")
    assert result.message == f"input bronze.web.sessions (source of marketing): no data at {tmp_path / 'nowhere'}"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_build(_request(demo_lake, blocker / "table"), spark=spark)
    assert (result.outcome, result.reason) == ("Failed", "StorageError"), result.message


def test_a_declared_source_schema_is_read_as_declared(spark: Any, demo_lake: DemoLake, tmp_path: Path) -> None:
    from datamesh.build.inputs import register

    request = _request(demo_lake, tmp_path / "out")
    tickets = next(i for i in request.inputs if i.ref == "bronze.support.tickets")
    assert tickets.read_schema, "the example Domain declares the tickets' schema"
    declared = tickets.model_copy(
        update={"read_schema": "customer_id STRING, ticket_id STRING, opened_at STRING, n INT"}
    )
    frame = register(spark, [declared]).frames[declared.view]
    assert frame.dtypes == [("customer_id", "string"), ("ticket_id", "string"), ("opened_at", "string"), ("n", "int")]

    request.inputs = [i if i.ref != tickets.ref else tickets.model_copy(update={"read_schema": "id STRNG,"})
                      for i in request.inputs]  # fmt: skip
    result = run_build(request, spark=spark)
    assert (result.outcome, result.reason) == ("Failed", "InputError"), result.message
    assert (result.message or "").startswith("input bronze.support.tickets: schema 'id STRNG,': ")
    assert "\n" not in (result.message or "")


def test_retention_removes_exactly_the_expired_rows(spark: Any, tmp_path: Path) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    ages = [1, 10, 29, 31, 45, 400]  # the last three are older than 30 days
    events = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(ages))] + ["e-null"],
            "happened_at": [now - timedelta(days=d) for d in ages] + [None],
        }
    )
    source = tmp_path / "events"
    source.mkdir()
    events.to_parquet(source / "part-0.parquet")
    spec = {
        "domain": "ops",
        "owner": "ops",
        "description": "events",
        "sla": {"freshness": "1 day", "qualityScore": 0.5},
        "schema": [
            {"name": "event_id", "type": "string", "primaryKey": True},
            {"name": "happened_at", "type": "timestamp", "nullable": True},
        ],
        "inputs": [{"source": "bronze.ops.events"}],
        "transform": {"sql": "SELECT event_id, happened_at FROM `bronze.ops.events`"},
        "outputs": [{"name": "events", "format": "delta"}],
        "governance": {
            "retention": "30 days",
            "retentionColumn": "happened_at",
            "qualityChecks": [QualityCheck(type="uniqueness", column="event_id").to_wire()],
        },
    }
    request = BuildRequest.model_validate(
        {
            "namespace": "ops",
            "name": "events",
            "domain": "ops",
            "runId": "r1",
            "spec": spec,
            "inputs": [
                ResolvedInput(
                    view="bronze.ops.events",
                    kind="source",
                    ref="bronze.ops.events",
                    domain="ops",
                    location=str(source),
                    format="parquet",
                ).to_wire()
            ],
            "outputLocation": str(tmp_path / "gold" / "events"),
        }
    )
    result = run_build(request, spark=spark, now=now)
    assert result.outcome == "Published", result.message
    assert result.retention is not None
    assert result.retention.rows_removed == 3 and result.retention.column == "happened_at"
    assert result.retention.cutoff == now - timedelta(days=30)
    kept = _table(spark, tmp_path / "gold" / "events")
    assert sorted(kept["event_id"]) == ["e-null", "e0", "e1", "e2"]
    assert result.row_count == 4
    folders = _run_folders(tmp_path / "gold" / "events")
    assert len(folders) == 1  # the first publish of a merge product commits its staged files as they are

    # A merge build five days later: upserts on the key and deletes the rows that expired meanwhile (e2).
    later = now + timedelta(days=5)
    (source / "part-0.parquet").unlink()
    pd.DataFrame({"event_id": ["e0", "e7"], "happened_at": [later, later - timedelta(days=1)]}).to_parquet(
        source / "part-1.parquet"
    )
    request.spec.outputs[0].mode = "merge"
    request.run_id = "r2"
    result = run_build(request, spark=spark, now=later)
    assert result.outcome == "Published", result.message
    assert result.retention is not None and result.retention.rows_removed == 1
    kept = _table(spark, tmp_path / "gold" / "events").set_index("event_id").sort_index()
    assert list(kept.index) == ["e-null", "e0", "e1", "e7"]
    assert pd.Timestamp(kept.loc["e0", "happened_at"]).tz_localize(None) == pd.Timestamp(later).tz_localize(None)
    assert result.table_version == 1 and result.row_count == 4
    history = _history(spark, tmp_path / "gold" / "events").collect()
    assert history[0]["operation"] == "MERGE" and '"runId": "r2"' in history[0]["userMetadata"]
    assert _run_folders(tmp_path / "gold" / "events") == folders, "the merge's staged files are deleted"


def test_published_table_is_registered_in_the_metastore_when_configured(
    spark: Any, demo_lake: DemoLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAMESH_METASTORE_TABLE", "gold_{domain}.{product}")
    request = _request(demo_lake, tmp_path / "registered")
    result = run_build(request, spark=spark)
    assert result.outcome == "Published", result.message
    assert spark.table("gold_sales.customer_360").count() == result.row_count
    assert result.warnings == []

    # A registration that fails after the commit leaves the new version published, with a warning.
    monkeypatch.setenv("DATAMESH_METASTORE_TABLE", "one.two.{product}")  # the session catalog has no nesting
    again = run_build(_request(demo_lake, tmp_path / "registered"), spark=spark)
    assert (again.outcome, again.table_version) == ("Published", 1), again.message
    assert len(again.warnings) == 1 and again.warnings[0].startswith("registering one.two.customer_360 in the")
    assert int(_history(spark, tmp_path / "registered").collect()[0]["version"]) == 1
