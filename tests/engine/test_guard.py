"""The warm engine's decisions without Spark: who may call the guard, what a call may hold, what an error answers,
which builds the engine cannot run, and the build client's pure-Python steps (delta-rs, the staged folder)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, cast

import pytest

from datamesh.build.backend import ENGINE_UNSUPPORTED
from datamesh.build.connect import (
    UNAVAILABLE,
    ConnectBackend,
    connect_refusal,
    engine_address,
    guard_error,
    wait_for_engine,
)
from datamesh.build.errors import BuildError
from datamesh.build.local import build_request
from datamesh.engine import guard
from datamesh.engine.__main__ import TOKEN_ENV, engine_settings, main
from datamesh.manifests import load_mesh
from datamesh.mesh.contract import BuildRequest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "t" * 40
SESSION = {"user_id": "datamesh", "session_id": str(uuid.uuid4()), "nonce": "n" * 43}


def _body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def _refused(run: Any, status: int, fragment: str) -> None:
    with pytest.raises(guard.Refused) as caught:
        run()
    assert caught.value.status == status and fragment in caught.value.message, caught.value.message


# --------------------------------------------------------------------------------------------------- the token


def test_the_engine_starts_only_with_a_long_clean_token() -> None:
    assert guard.token_problem(TOKEN) is None
    assert "not set" in str(guard.token_problem(""))
    assert "shorter than 32" in str(guard.token_problem("t" * 31))
    assert "whitespace" in str(guard.token_problem(" " + "t" * 40))
    assert "control" in str(guard.token_problem("t" * 40 + "\n"))


def test_only_the_exact_bearer_header_is_authorized() -> None:
    assert guard.authorized(f"Bearer {TOKEN}", TOKEN)
    for header in (None, "", TOKEN, f"bearer {TOKEN}", f"Bearer {TOKEN} ", f"Bearer {TOKEN[:-1]}", "Bearer \udcff"):
        assert not guard.authorized(header, TOKEN), header
    assert not guard.authorized("Bearer ", "")  # an engine without a token authorizes nobody


def test_the_engine_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setenv("DATAMESH_ENGINE_TOKEN", "short")
    assert main([]) == 2
    assert "shorter than 32 characters" in capsys.readouterr().err
    monkeypatch.delenv("DATAMESH_ENGINE_TOKEN")
    assert main([]) == 2
    assert "DATAMESH_ENGINE_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("DATAMESH_ENGINE_TOKEN", TOKEN)
    monkeypatch.setenv("DATAMESH_ENGINE_GUARD_PORT", "99999")
    assert main([]) == 2
    assert "DATAMESH_ENGINE_GUARD_PORT='99999' is not a port number" in capsys.readouterr().err


def test_the_engine_runs_with_the_build_session_s_settings_and_keeps_its_token_off_them() -> None:
    found = engine_settings(15002, "0.0.0.0", {"DATAMESH_SPARK_CONF": '{"spark.master": "local[3]"}'})
    assert found["spark.sql.runSQLOnFiles"] == "false" and found["spark.sql.variable.substitute"] == "false"
    assert found["spark.sql.session.timeZone"] == "UTC" and found["spark.master"] == "local[3]"
    assert found["spark.plugins"] == "org.apache.spark.sql.connect.SparkConnectPlugin"
    assert found["spark.connect.grpc.binding.port"] == "15002"
    assert not any("token" in key for key in found) and TOKEN_ENV == "SPARK_CONNECT_AUTHENTICATE_TOKEN"


# ---------------------------------------------------------------------------------------------------- requests


def test_bodies_are_bounded_before_they_are_read() -> None:
    assert guard.body_length("12") == 12
    _refused(lambda: guard.body_length(None), 411, "Content-Length")
    _refused(lambda: guard.body_length("-1"), 411, "Content-Length")
    _refused(lambda: guard.body_length(str(guard.MAX_BODY_BYTES + 1)), 413, "larger than")


def test_a_transform_call_is_parsed_exactly() -> None:
    call = guard.parse_transform(_body(**SESSION, sql="SELECT 1", views=["orders", "bronze.crm.customers"]))
    assert call.session == guard.SessionRef(**SESSION)
    assert call.views == ("orders", "bronze.crm.customers") and call.sql == "SELECT 1"


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({**SESSION, "sql": "SELECT 1", "views": [], "extra": 1}, "unknown ['extra']"),
        ({**SESSION, "views": []}, "missing ['sql']"),
        ({**SESSION, "sql": "", "views": []}, "sql: a non-empty string"),
        ({**SESSION, "sql": 1, "views": []}, "sql: a non-empty string"),
        ({**SESSION, "session_id": "not-a-uuid", "sql": "SELECT 1", "views": []}, "session_id: not a session id"),
        ({**SESSION, "session_id": SESSION["session_id"].upper(), "sql": "x", "views": []}, "not a session id"),
        ({**SESSION, "nonce": "short", "sql": "SELECT 1", "views": []}, "nonce: shorter"),
        ({**SESSION, "user_id": "a\nb", "sql": "SELECT 1", "views": []}, "user_id: holds a control"),
        ({**SESSION, "sql": "SELECT 1", "views": ["a`b"]}, "backtick"),
        ({**SESSION, "sql": "SELECT 1", "views": ["a", "A"]}, "listed twice"),
        ({**SESSION, "sql": "SELECT 1", "views": "orders"}, "a list of at most"),
        ({**SESSION, "sql": "SELECT 1", "views": ["x" * 257]}, "at most 256"),
        ({**SESSION, "sql": "SELECT 1", "views": ["__datamesh_transform_1"]}, "never an input"),
    ],
)
def test_malformed_transform_calls_are_refused(fields: dict[str, Any], fragment: str) -> None:
    _refused(lambda: guard.parse_transform(_body(**fields)), 400, fragment)


def test_bodies_that_are_not_json_objects_are_refused() -> None:
    _refused(lambda: guard.parse_patterns(b"\xff"), 400, "not JSON")
    _refused(lambda: guard.parse_patterns(b"{"), 400, "not JSON")
    _refused(lambda: guard.parse_patterns(b"[]"), 400, "not a JSON object")


def test_expression_and_pattern_calls() -> None:
    call = guard.parse_expression(_body(expression="a > 0", check="positive", columns=None))
    assert call == guard.ExpressionCall("a > 0", "positive", None)
    assert guard.parse_expression(_body(expression="a > 0", check="c", columns=["a"])).columns == ("a",)
    _refused(lambda: guard.parse_expression(_body(expression="a", check="c", columns=[1])), 400, "names are")
    assert guard.parse_patterns(_body(patterns=["a", "["])).patterns == ("a", "[")
    _refused(lambda: guard.parse_patterns(_body(patterns=[1])), 400, "every pattern is a string")
    _refused(lambda: guard.parse_patterns(_body(patterns=["a"] * 257)), 400, "at most 256")


def test_the_nonce_must_match_exactly() -> None:
    assert guard.nonce_matches("n" * 43, "n" * 43)
    assert not guard.nonce_matches("n" * 43, "n" * 42 + "m")
    assert not guard.nonce_matches(None, "n" * 43)
    assert not guard.nonce_matches("", "n" * 43)


# ------------------------------------------------------------------------------------------------------ errors


def test_errors_map_to_the_build_s_own_reason_or_an_opaque_answer() -> None:
    assert guard.error_answer(BuildError("SqlRefused", "transform SQL refused by the build: x")) == (
        422,
        {"reason": "SqlRefused", "message": "transform SQL refused by the build: x"},
    )
    assert guard.error_answer(guard.Refused(403, "no such session")) == (
        403,
        {"reason": guard.REFUSED, "message": "no such session"},
    )
    status, body = guard.error_answer(RuntimeError("py4j says /secret/path"))
    assert status == 500 and "secret" not in body["message"] and body["reason"] == "EngineError"


def test_the_client_raises_what_the_engine_answered() -> None:
    url = "http://engine:15003/v1/transform"
    same = guard_error(422, json.dumps({"reason": "SqlRefused", "message": "m"}).encode(), url)
    assert (same.reason, same.message) == ("SqlRefused", "m")
    refused = guard_error(403, json.dumps({"reason": "EngineRefused", "message": "no such session"}).encode(), url)
    assert refused.reason == UNAVAILABLE and "(403): no such session" in refused.message and url in refused.message
    garbage = guard_error(502, b"<html>", url)
    assert garbage.reason == UNAVAILABLE and "answered 502" in garbage.message
    # A 200-looking body with another status is never taken for a check's own verdict.
    assert guard_error(500, json.dumps({"reason": "SqlRefused", "message": "m"}).encode(), url).reason == UNAVAILABLE


def test_log_lines_are_json_without_tenant_text() -> None:
    line = json.loads(guard.log_line("/v1/transform", 422, 0.0123, "SqlRefused", SESSION["session_id"]))
    assert line == {"endpoint": "/v1/transform", "status": 422, "ms": 12.3, "reason": "SqlRefused",
                    "session": SESSION["session_id"]}  # fmt: skip


# ------------------------------------------------------------------------------------------- the build client


def _example() -> BuildRequest:
    return build_request(load_mesh([EXAMPLES]), "customer-360", run_id="r1")


def test_builds_the_engine_cannot_run_are_named_before_anything_starts() -> None:
    request = _example()
    assert connect_refusal(request, "") is None
    assert "METASTORE_TABLE" in str(connect_refusal(request, "gold.{domain}.{product}"))
    merge = request.model_copy(deep=True)
    merge.spec.outputs[0].mode = "merge"
    assert "MERGE" in str(connect_refusal(merge, ""))
    remote = request.model_copy(deep=True)
    remote.output_location = "s3a://lake/sales/gold/customer-360"
    assert "not a local path" in str(connect_refusal(remote, ""))
    remote_input = request.model_copy(deep=True)
    remote_input.inputs[0].format, remote_input.inputs[0].location = "delta", "s3a://lake/x"
    assert f"input {remote_input.inputs[0].ref}" in str(connect_refusal(remote_input, ""))


@pytest.mark.parametrize(
    ("connect", "guard_url", "fragment"),
    [
        ("http://engine:15002", "http://engine:15003", "DATAMESH_ENGINE_URL"),
        ("sc://engine:15002/;token=x", "http://engine:15003", "DATAMESH_ENGINE_URL"),
        ("sc://engine:15002;user_id=x", "http://engine:15003", "DATAMESH_ENGINE_URL"),
        ("sc://engine:15002", "https://engine:15003", "DATAMESH_ENGINE_GUARD_URL"),
        ("sc://engine:15002", "http://engine:15003/elsewhere", "DATAMESH_ENGINE_GUARD_URL"),
        ("sc://engine:port", "http://engine:15003", "engine address"),
    ],
)
def test_engine_addresses_are_checked(connect: str, guard_url: str, fragment: str) -> None:
    with pytest.raises(BuildError) as caught:
        engine_address(connect, guard_url)
    assert caught.value.reason == UNAVAILABLE and fragment in caught.value.message


def test_an_engine_that_never_answers_is_named_after_the_wait() -> None:
    assert engine_address("sc://engine:15002", "http://engine:15003/").guard == "http://engine:15003"
    slept: list[float] = []
    with pytest.raises(BuildError) as caught:
        wait_for_engine("http://127.0.0.1:9", "sc://127.0.0.1:9", 0.5, sleep=slept.append)
    assert caught.value.reason == UNAVAILABLE and "sc://127.0.0.1:9" in caught.value.message
    assert "within 0.5 s" in caught.value.message


def _client() -> ConnectBackend:
    from datamesh.build.connect import Address

    # The steps below run on the build pod's own mounts: no Spark session is used.
    return ConnectBackend(cast(Any, None), Address("sc://e:1", "http://e:2"), TOKEN, "n" * 43)


def test_delta_versions_and_a_vacuum_that_commits_nothing(tmp_path: Path) -> None:
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    client = _client()
    table = tmp_path / "table"
    assert client.delta_version(str(table)) is None
    write_deltalake(str(table), pa.table({"a": [1, 2]}))
    write_deltalake(str(table), pa.table({"a": [3]}), mode="overwrite")
    assert client.delta_version(str(table)) == 1
    before = {p.name for p in table.glob("*.parquet")}
    client.vacuum(str(table), 24.0)  # within the window: nothing goes
    assert {p.name for p in table.glob("*.parquet")} == before
    client.vacuum(str(table), 0.0)
    assert {p.name for p in table.glob("*.parquet")} == {
        os.path.basename(u) for u in DeltaTable(str(table)).file_uris()
    }
    assert len(before) == 2
    assert client.delta_version(str(table)) == 1  # Spark's vacuum without its log entries: no new version
    assert DeltaTable(str(table)).to_pyarrow_table().column("a").to_pylist() == [3]


def test_the_staged_folder_is_removed_on_local_paths_only(tmp_path: Path) -> None:
    client = _client()
    staged = tmp_path / "run-1-abc"
    (staged / "sub").mkdir(parents=True)
    (staged / "sub" / "part-0.parquet").write_bytes(b"x")
    client.remove(str(staged))
    assert not staged.exists() and tmp_path.exists()
    with pytest.raises(BuildError) as caught:
        client.remove("s3a://lake/x/run-1")
    assert caught.value.reason == ENGINE_UNSUPPORTED
    with pytest.raises(BuildError):
        client.require_table_api("merge")
    assert os.path.isdir(tmp_path)


# -------------------------------------------------------------------------------------------- the bench's probe


def test_cpu_of_a_process_tree_from_proc_stat_lines() -> None:
    from datamesh.engine.probe import cpu_seconds, parse_stat, tree_ticks

    line = "4242 (python -m (x)) S 7 4242 4242 0 -1 4194304 1 0 0 0 150 25 3 4 20 0 1 0 100 0 0"
    assert parse_stat(line) == (7, 175)
    rows = [(10, 1, 100), (11, 10, 50), (12, 11, 5), (13, 1, 999)]  # 13 is not a descendant of 10
    assert tree_ticks(10, rows) == 155 and tree_ticks(11, rows) == 55 and tree_ticks(99, rows) == 0
    assert cpu_seconds(os.getpid()) > 0
