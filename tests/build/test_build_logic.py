"""Pure build logic, no Spark: check planning and scoring, schema conformance planning, request resolution,
termination-message compaction, error compaction and demo-data shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamesh.api.dataproduct import CheckResult, Column, QualityCheck
from datamesh.build import conform, demodata, quality
from datamesh.build.__main__ import emit, load_request, main
from datamesh.build.errors import one_line
from datamesh.build.inputs import quoted
from datamesh.build.local import build_request
from datamesh.manifests import load_mesh
from datamesh.mesh.contract import TERMINATION_MESSAGE_LIMIT, BuildResult

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCHEMA = [
    Column(name="id", type="string"),
    Column(name="email", type="string"),
    Column(name="score", type="double", nullable=True),
    Column(name="at", type="timestamp"),
]


def _check(**kwargs: object) -> QualityCheck:
    return QualityCheck.model_validate(kwargs)


def test_plan_shares_metrics_and_exempts_nullable_columns() -> None:
    checks = [
        _check(type="completeness"),
        _check(type="notNull", column="email"),
        _check(type="uniqueness", columns=["id", "email"]),
        _check(type="range", column="score", min=1, max=5),
        _check(type="freshness", column="at", maxAge="1 hour"),
    ]
    plan = quality.plan_checks(checks, SCHEMA)
    names = [m.name for m in plan.metrics]
    assert names == ["rows", "nulls.id", "nulls.email", "nulls.at", "violations.3", "min.score", "max.score", "max.at"]
    assert plan.checks[0].columns == ("id", "email", "at")  # score is nullable: exempt
    assert [c.columns for c in plan.uniqueness] == [("id", "email")]


def test_evaluate_and_score() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    checks = [
        _check(type="completeness", threshold=0.99),
        _check(type="uniqueness", column="id"),
        _check(type="format", column="email", pattern="@", threshold=0.9),
        _check(type="rowCount", min=10),
        _check(type="freshness", column="at", maxAge="1 hour", severity="warn"),
    ]
    plan = quality.plan_checks(checks, SCHEMA)
    values = {
        "rows": 100,
        "nulls.id": 0,
        "nulls.email": 2,
        "nulls.at": 0,
        "duplicates.1": 5,
        "violations.2": 20,
        "max.at": now - timedelta(hours=2),
    }
    results = quality.evaluate(plan, values, now)
    by_name = {r.name: r for r in results}
    assert by_name["completeness"].value == 0.98 and not by_name["completeness"].passed
    assert by_name["completeness"].message == "worst column email: 2.00% nulls"
    assert by_name["uniqueness.id"].value == 0.95 and not by_name["uniqueness.id"].passed
    assert by_name["format.email"].value == 0.8 and by_name["format.email"].threshold == 0.9
    assert by_name["rowCount"].passed and by_name["rowCount"].value == 100
    fresh = by_name["freshness.at"]
    assert (fresh.value, fresh.threshold, fresh.passed, fresh.severity) == (7200, 3600, False, "warn")
    # Scores: 0.98/0.99, 0.95, 0.8/0.9, 1, 0 (failed freshness).
    expected = (0.98 / 0.99 + 0.95 + 0.8 / 0.9 + 1 + 0) / 5
    assert quality.quality_score(results) == pytest.approx(expected, abs=1e-6)
    assert [r.name for r in quality.blocking_failures(results)] == ["completeness", "uniqueness.id", "format.email"]


def test_completeness_at_exactly_the_threshold_passes() -> None:
    plan = quality.plan_checks([_check(type="completeness")], SCHEMA)
    results = quality.evaluate(plan, {"rows": 100, "nulls.email": 1})
    assert results[0].passed and results[0].value == 0.99


def test_empty_result_fails_row_count_and_freshness() -> None:
    plan = quality.plan_checks(
        [_check(type="rowCount", min=1), _check(type="freshness", column="at", maxAge="1h")], SCHEMA
    )
    results = quality.evaluate(plan, {"rows": 0})
    assert [r.passed for r in results] == [False, False]
    assert results[0].threshold == 1


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1), st.sampled_from(["format", "rowCount"])), max_size=20))
def test_quality_score_is_a_mean_between_0_and_1(items: list[tuple[bool, float, str]]) -> None:
    results = [
        CheckResult(name=f"c{i}", type=kind, value=v, threshold=0.5, passed=p)  # type: ignore[arg-type]
        for i, (p, v, kind) in enumerate(items)
    ]
    score = quality.quality_score(results)
    assert 0 <= score <= 1
    if all(r.passed for r in results):
        assert score == 1.0


def test_conform_plan_names_every_problem() -> None:
    actual = [("ID", "string"), ("email", "int"), ("at", "array<int>"), ("surplus", "int")]
    plan = conform.plan_conform(actual, SCHEMA, allow_extra=False)
    assert plan.problems == [
        "column 'score' (declared double) is missing from the transform result",
        "column 'at' has type array<int>, which cannot be cast to timestamp",
        "undeclared column(s) 'surplus' in the transform result (declare or set allowExtraColumns)",
    ]
    assert [(c.name, c.source, c.needs_cast) for c in plan.columns] == [("id", "ID", False), ("email", "email", True)]
    kept = conform.plan_conform([("id", "string"), ("x", "int")], SCHEMA[:1], allow_extra=True)
    assert kept.ok and kept.extras == ["x"]


@pytest.mark.parametrize(
    ("source", "target", "ok"),
    [
        ("bigint", "long", True),
        ("int", "decimal(18,2)", True),
        ("string", "timestamp", True),
        ("timestamp_ntz", "timestamp", True),
        ("void", "double", True),
        ("date", "int", False),
        ("boolean", "date", False),
        ("struct<a:int>", "string", False),
    ],
)
def test_castable(source: str, target: str, ok: bool) -> None:
    assert conform.castable(source, target) is ok


def test_cast_failure_message() -> None:
    plan = conform.plan_conform([("id", "string"), ("score", "string")], SCHEMA[:1] + SCHEMA[2:3], False)
    assert conform.cast_failure_message({"score": 0}, plan) is None
    assert conform.cast_failure_message({"score": 3}, plan) == (
        "schema violation: column 'score': 3 string value(s) cannot be cast to double"
    )


def test_termination_message_fits_and_keeps_failures() -> None:
    checks = [
        CheckResult(name=f"check-{i}", type="sql", value=0.5, threshold=1, passed=i % 10 == 0, message="x" * 200)
        for i in range(100)
    ]
    result = BuildResult(outcome="QualityFailed", message="m" * 2000, checks=checks, input_versions={"a": 1})
    text = result.to_termination_message()
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT
    parsed = json.loads(text)
    assert parsed["outcome"] == "QualityFailed" and all(not c["passed"] for c in parsed["checks"])
    warned = BuildResult(outcome="Published", checks=checks, warnings=["w" * 512] * 8)
    text = warned.to_termination_message()
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT and json.loads(text)["warnings"] == ["w" * 200] * 4


def test_one_line_drops_stack_traces_and_sql_echo() -> None:
    text = "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'.\n\n== SQL ==\nSELEC 1\n^^^\n\tat org.apache.X"
    assert one_line(text) == "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'."
    assert len(one_line("y" * 5000)) == 1000


def test_view_names() -> None:
    assert quoted("customers") == "customers"
    assert quoted("bronze.crm.customers") == "`bronze.crm.customers`"


def test_local_request_resolves_examples() -> None:
    request = build_request(load_mesh([EXAMPLES]), "sales/customer-360", run_id="r1")
    assert request.output_location == "/var/lib/datamesh/lake/sales/gold/customer-360"
    by_view = {i.view: i for i in request.inputs}
    assert set(by_view) == {"customers", "sessions", "tickets"}
    assert by_view["customers"].location == "/var/lib/datamesh/lake/sales/bronze/crm/customers"
    assert (by_view["customers"].pii, by_view["customers"].pii_columns) == ("clear", ["email", "name"])
    assert by_view["tickets"].format == "csv" and by_view["tickets"].options["header"] == "true"
    assert by_view["sessions"].domain == "marketing"
    with pytest.raises(LookupError, match="no DataProduct 'nope'"):
        build_request(load_mesh([EXAMPLES]), "nope")


def test_demo_data_shape_and_determinism() -> None:
    tables = demodata.generate(scale=0.001, seed=3)
    again = demodata.generate(scale=0.001, seed=3)
    assert tables.customers.equals(again.customers) and tables.sessions.equals(again.sessions)
    customers, sessions, tickets = (t.to_pandas() for t in (tables.customers, tables.sessions, tables.tickets))
    assert (len(customers), len(sessions), len(tickets)) == (1000, 5000, 500)
    assert list(customers) == ["customer_id", "email", "name", "created_at", "lifetime_value"]
    assert list(sessions) == ["customer_id", "session_id", "session_timestamp", "page_views"]
    assert list(tickets) == ["customer_id", "ticket_id", "opened_at", "satisfaction_score"]
    assert customers["customer_id"].is_unique
    assert customers["email"].isna().mean() < 0.01
    valid = customers["email"].dropna().str.fullmatch(r"[^@\s]+@[^@\s]+")
    assert valid.sum() / len(customers) >= 0.99
    assert sessions.duplicated().sum() > 0  # re-delivered sessions
    assert sessions["customer_id"].isna().any() and sessions["page_views"].isna().any()
    assert tickets["satisfaction_score"].dropna().between(1, 5).all()
    assert tickets["satisfaction_score"].isna().mean() > 0.1
    per_customer = sessions["customer_id"].value_counts()
    assert per_customer.max() > 10 * per_customer.median()  # skew: heavy users


def test_entry_point_without_spark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "termination-log"
    assert main(["--termination-log", str(log)]) == 1
    result = BuildResult.from_json(log.read_text())
    assert (result.outcome, result.reason) == ("Failed", "InvalidRequest")
    request = build_request(load_mesh([EXAMPLES]), "customer-360", run_id="noop")
    request.no_op = True
    path = tmp_path / "request.json"
    path.write_text(request.to_json())
    assert load_request(str(path)).no_op
    assert main(["--request", str(path), "--termination-log", str(log)]) == 0
    assert BuildResult.from_json(log.read_text()).outcome == "NoOp"
    with (tmp_path / "out").open("w") as stream:
        assert emit(BuildResult(outcome="Failed", message="x"), stream, str(tmp_path / "t")) == 1


def test_the_operators_spark_settings_win_over_the_defaults() -> None:
    from datamesh.build.session import spark_settings

    settings = spark_settings(
        environ={"DATAMESH_SPARK_CONF": '{"spark.master": "local[1]", "spark.executor.instances": "3"}'}
    )
    assert settings["spark.master"] == "local[1]"
    assert settings["spark.executor.instances"] == "3"
    assert settings["spark.sql.runSQLOnFiles"] == "false"
    assert (
        spark_settings("local[4]", environ={"DATAMESH_SPARK_CONF": '{"spark.master": "local[1]"}'})["spark.master"]
        == "local[4]"
    )


def test_executors_as_pods_are_resolved_inside_the_build_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datamesh.build.session import IN_CLUSTER_MASTER, in_cluster_settings, spark_settings

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443", "POD_IP": "10.244.0.12",
           "POD_NAME": "p-1-abc-xyz", "DATAMESH_EXECUTOR_POD_TEMPLATE": '{"kind": "Pod"}'}  # fmt: skip
    found = in_cluster_settings(IN_CLUSTER_MASTER, pod)
    # The API server by the kubelet's address (no cluster DNS needed), executors calling back to this pod.
    assert found["spark.master"] == "k8s://https://10.0.0.1:443"
    assert (found["spark.driver.host"], found["spark.kubernetes.driver.pod.name"]) == ("10.244.0.12", "p-1-abc-xyz")
    template = Path(found["spark.kubernetes.executor.podTemplateFile"])
    assert template.parent == tmp_path and template.read_text() == '{"kind": "Pod"}'
    assert found["spark.kubernetes.executor.podTemplateContainerName"] == "executor"
    explicit = in_cluster_settings("k8s://https://10.9.9.9:6443", pod)
    assert "spark.master" not in explicit, "an explicit API server address is kept"
    assert in_cluster_settings(IN_CLUSTER_MASTER, {**pod, "KUBERNETES_SERVICE_HOST": "fd00::1"})[
        "spark.master"
    ] == "k8s://https://[fd00::1]:443"
    # Local mode is left alone, whatever the pod's environment.
    assert in_cluster_settings("local[1]", pod) == {}
    local = spark_settings(environ={**pod, "DATAMESH_SPARK_CONF": '{"spark.master": "local[1]"}'})
    assert "spark.driver.host" not in local
