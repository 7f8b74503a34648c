"""A Spark Connect client process for tests/build/test_connect_build.py (not a test module).

A process that opened a Connect session is marked as a Connect client for good (pyspark's functions then build
Connect columns), so it cannot share the test process with the local session: the tests run this script with
the engine's settings in its environment and a JSON list of calls on stdin, and read one JSON answer per call
from the last line of stdout. Every call goes through the build's own client code (datamesh.build.connect).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from typing import Any

RESULT_MARK = "CONNECT-CLIENT-RESULT "


def tiny_inputs(spark: Any) -> dict[str, Any]:
    """The input frames of tests/build/test_sqlguard.py, registered as views the way inputs.register does."""
    customers = spark.createDataFrame(
        [
            (1, "Ann", "north", ["vip", "x"], date(2024, 1, 1)),
            (2, "Bob", None, [], date(2024, 2, 1)),
            (3, "Cy", "south", None, None),
        ],
        "id INT, name STRING, region STRING, tags ARRAY<STRING>, created DATE",
    )
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    orders = spark.createDataFrame(
        [
            (10, 1, 12.5, 2, 2.0, t0, "a", " hi "),
            (11, 1, 3.0, 1, 1.0, t0.replace(month=2), "b", None),
            (12, 2, 7.25, 5, 5.0, t0.replace(month=3), "a", "note"),
            (13, 9, 0.5, None, None, t0.replace(month=4), "c", "x"),
        ],
        "id INT, customer_id INT, amount DOUBLE, qty INT, qty_d DOUBLE, ts TIMESTAMP, product STRING, note STRING",
    )
    frames = {"customers": customers, "orders": orders, "bronze.crm.customers": customers}
    for view, frame in frames.items():
        frame.createOrReplaceTempView(f"`{view}`" if "." in view else view)
    return frames


def outcome(run: Any) -> dict[str, Any]:
    """{"ok": value} or {"reason": ..., "message": ...} of a BuildError, or {"error": ...} of anything else."""
    from datamesh.build.errors import BuildError

    try:
        return {"ok": run()}
    except BuildError as error:
        return {"reason": error.reason, "message": error.message}
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


def _rows(frame: Any) -> list[str]:
    return sorted(repr(tuple(row)) for row in frame.collect())


def _raw_session(url: str, token: str | None) -> Any:
    from pyspark.sql.connect.client import DefaultChannelBuilder
    from pyspark.sql.connect.session import SparkSession

    if token is None:
        return SparkSession.builder.channelBuilder(DefaultChannelBuilder(url)).create()
    from datamesh.build.connect import _channel_builder

    return SparkSession.builder.channelBuilder(_channel_builder(url, token)).create()


def run(call: dict[str, Any]) -> Any:
    from datamesh import settings
    from datamesh.build.connect import open_session
    from datamesh.build.inputs import register
    from datamesh.mesh.contract import ResolvedInput

    kind = call["kind"]
    if kind == "grpc":  # a session with another (or no) token: the first call must fail
        session = _raw_session(settings.ENGINE_URL.get(), call["token"])
        return outcome(lambda: session.range(3).count())
    backend = open_session(lambda _: None)
    try:
        if kind == "transforms":
            frames = tiny_inputs(backend.spark)
            return [outcome(lambda sql=sql: _rows(backend.guarded_sql(sql, frames))) for sql in call["sqls"]]
        if kind == "expressions":
            return [outcome(lambda e=e, c=c: backend.check_expression(e, "c", c)) for e, c in call["items"]]
        if kind == "patterns":
            return outcome(lambda: backend.pattern_problems(call["patterns"]))
        if kind == "foreign":  # name another live session (or none) with this caller's own nonce
            other = open_session(lambda _: None)
            tiny_inputs(other.spark)
            fields = other._session_fields()
            answers = []
            for session_id in (fields["session_id"], call["unknown_session"]):
                body = {**backend._session_fields(), "session_id": session_id, "user_id": fields["user_id"]}
                body.update(sql="SELECT * FROM orders", views=["orders"])
                answers.append(outcome(lambda body=body: backend._call("/v1/transform", body)))
            # The other session's nonce is what proves ownership; its own call still works.
            answers.append(outcome(lambda: _rows(other.guarded_sql("SELECT id FROM orders", {"orders": None}))))
            other.close()
            return answers
        if kind == "masking":
            item = ResolvedInput.model_validate(call["input"])
            frame = register(backend.spark, [item], call["env"], backend).frames[item.view]
            return outcome(lambda: {str(r["id"]): r["email"] for r in frame.collect()})
        raise ValueError(f"unknown call {kind}")
    finally:
        backend.close()


def main() -> int:
    calls = json.load(sys.stdin)
    answers = [run(call) for call in calls]
    sys.stdout.write(RESULT_MARK + json.dumps(answers) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
