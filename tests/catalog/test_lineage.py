"""OpenLineage events of builds, written through the file transport and checked as JSON."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from datamesh.catalog.lineage import dataset_identity, emit_build_events, run_uuid, transport_from_env
from datamesh.mesh.contract import BuildRequest, BuildResult, ResolvedInput
from tests.catalog.conftest import make_product

RUN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "uid/orders-1"))


def request() -> BuildRequest:
    product = make_product("orders", "sales", inputs=[{"source": "bronze.sales.raw"}, {"product": "customers"}])
    return BuildRequest(
        namespace="sales",
        name="orders",
        domain="sales",
        run_id=RUN_ID,
        spec=product.spec,
        inputs=[
            ResolvedInput(view="raw", kind="source", ref="bronze.sales.raw", domain="sales", location="/lake/raw"),
            ResolvedInput(
                view="customers", kind="product", ref="sales/customers", domain="sales", location="s3a://lake/c"
            ),
        ],
        output_location="/lake/sales/orders",
    )


def result(outcome: str = "Published") -> BuildResult:
    return BuildResult.model_validate(
        {
            "outcome": outcome,
            "runId": RUN_ID,
            "qualityScore": 0.98 if outcome != "Failed" else None,
            "checks": [
                {"name": "notNull.email", "type": "notNull", "value": 0.9, "threshold": 1.0, "passed": False},
                {"name": "rowCount", "type": "rowCount", "value": 100, "threshold": 1, "passed": True},
            ],
            "rowCount": 100,
            "tableVersion": 7,
            "location": "/lake/sales/orders",
            "startedAt": datetime(2026, 1, 1, 10, tzinfo=UTC).isoformat(),
            "finishedAt": datetime(2026, 1, 1, 10, 5, tzinfo=UTC).isoformat(),
            "inputVersions": {"customers": 3},
            "message": "SQL failed" if outcome == "Failed" else None,
        }
    )


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_build_emits_start_and_complete_through_the_file_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lineage.jsonl"
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    monkeypatch.setenv("DATAMESH_LINEAGE_FILE", str(path))
    assert emit_build_events(request(), started=True) is not None
    assert emit_build_events(request(), result(), started=False) is not None

    start, complete = events(path)
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    assert start["run"]["runId"] == complete["run"]["runId"] == RUN_ID
    assert complete["job"]["namespace"] == "datamesh" and complete["job"]["name"] == "sales.orders"
    assert complete["job"]["facets"]["jobType"]["integration"] == "DATAMESH"
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [("file", "/lake/raw"), ("s3://lake", "c")]
    assert complete["inputs"][1]["facets"]["version"]["datasetVersion"] == "3"
    assert complete["inputs"][1]["facets"]["symlinks"]["identifiers"][0]["name"] == "sales.customers"
    (output,) = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("file", "/lake/sales/orders")
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == ["id", "email", "amount"]
    assert output["facets"]["version"]["datasetVersion"] == "7"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 100
    metrics = output["facets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == 100 and metrics["columnMetrics"]["email"]["nullCount"] == 10
    quality = complete["run"]["facets"]["datamesh_quality"]
    assert quality["qualityScore"] == 0.98 and [c["name"] for c in quality["checks"]] == ["notNull.email", "rowCount"]
    assert complete["eventTime"].startswith("2026-01-01T10:05")
    assert "_producer" in output["facets"]["schema"] and complete["producer"].startswith("https://")


def test_a_failed_build_emits_fail_with_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lineage.jsonl"
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    monkeypatch.setenv("DATAMESH_LINEAGE_FILE", str(path))
    emit_build_events(request(), result("Failed"), started=False)
    (fail,) = events(path)
    assert fail["eventType"] == "FAIL"
    assert fail["run"]["facets"]["errorMessage"]["message"] == "SQL failed"
    assert "outputStatistics" not in fail["outputs"][0].get("outputFacets", {})


def test_no_transport_configured_emits_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    monkeypatch.delenv("DATAMESH_LINEAGE_FILE", raising=False)
    assert transport_from_env() is None
    assert emit_build_events(request(), started=True) is None
    assert transport_from_env({"OPENLINEAGE_URL": "http://127.0.0.1:1"}) is not None


def test_an_unreachable_http_backend_does_not_fail_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = transport_from_env({"OPENLINEAGE_URL": "http://127.0.0.1:1", "OPENLINEAGE_API_KEY": "k"})
    assert transport is not None
    transport.config.retry = {"total": 0}  # type: ignore[attr-defined]
    assert emit_build_events(request(), result(), started=False, transport=transport) is None


def test_naming() -> None:
    assert dataset_identity("/a/b") == ("file", "/a/b")
    assert dataset_identity("file:///a/b") == ("file", "/a/b")
    assert dataset_identity("s3a://bucket/x/y") == ("s3://bucket", "x/y")
    assert dataset_identity("abfss://c@acct.dfs.core.windows.net/p") == ("abfss://c@acct.dfs.core.windows.net", "p")
    assert run_uuid("not-a-uuid") == run_uuid("not-a-uuid") != "not-a-uuid"
