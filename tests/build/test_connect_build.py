"""Real Spark over Spark Connect: a build through the domain's warm engine equals a local build, and the engine
refuses everything hostile the way a local build does.

One engine per module (`python -m datamesh.engine` on free ports with a random token); the Connect side runs in
client processes (tests/build/connect_client.py, and `python -m datamesh.build` itself for the build), since a
process holding a Connect session cannot hold the local session too. The local side uses the session fixture.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from datamesh.build.local import build_request
from datamesh.build.measure import java_pattern_problems
from datamesh.build.runner import run_build
from datamesh.build.sqlguard import check_expression
from datamesh.build.transform import guarded_transform_sql
from datamesh.manifests import load_mesh
from datamesh.mesh.contract import MASKING_KEY_ENV, BuildResult

from .conftest import DEMO_SCALE, EXAMPLES
from .connect_client import RESULT_MARK, outcome, tiny_inputs
from .test_sqlguard import HOSTILE, HOSTILE_CHECKS, LEGIT, LEGIT_CHECKS, RESULT_COLUMNS

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]
#: The example's one column that differs between any two builds: `current_timestamp() AS updated_at`.
CLOCK_COLUMN = "updated_at"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Engine:
    env: dict[str, str]
    """The build pod's environment: the engine's addresses and token."""
    guard: str
    token: str
    lake: Path
    manifests: Path
    outputs: Path
    """The folder of this module's product tables, inside the lake."""


def _hashes(root: Path, skip: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and skip not in path.parents
    }


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    from datamesh.build import demodata

    lake = tmp_path_factory.mktemp("engine-lake")
    demodata.write(lake, scale=DEMO_SCALE, seed=7)
    manifests = tmp_path_factory.mktemp("engine-manifests")
    for path in (EXAMPLES / "domains").glob("*.yaml"):
        text = path.read_text(encoding="utf-8").replace("/var/lib/datamesh/lake", str(lake))
        (manifests / path.name).write_text(text, encoding="utf-8")
    shutil.copy(EXAMPLES / "products" / "customer-360.yaml", manifests / "customer-360.yaml")
    outputs = lake / "sales" / "gold" / "engine-tests"
    before = _hashes(lake, outputs)
    token = secrets.token_urlsafe(32)
    port, guard_port = _free_port(), _free_port()
    base = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO)])}
    base.pop("SPARK_CONNECT_MODE_ENABLED", None)
    engine_env = {**base, "DATAMESH_ENGINE_TOKEN": token, "DATAMESH_ENGINE_PORT": str(port),
                  "DATAMESH_ENGINE_GUARD_PORT": str(guard_port)}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "datamesh.engine", "--host", "127.0.0.1"],
        env=engine_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline() or "{}")
        assert ready.get("ready") is True, f"the engine did not start (exit {process.poll()})"
        guard = f"http://127.0.0.1:{guard_port}"
        env = {**base, "DATAMESH_ENGINE_URL": f"sc://127.0.0.1:{port}", "DATAMESH_ENGINE_GUARD_URL": guard,
               "DATAMESH_ENGINE_TOKEN": token, "DATAMESH_ENGINE_WAIT_SECONDS": "60"}  # fmt: skip
        yield Engine(env, guard, token, lake, manifests, outputs)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Whatever the module sent, nothing of the lake outside this module's own tables changed.
    assert _hashes(lake, outputs) == before


def _client(engine: Engine, calls: list[dict[str, Any]]) -> list[Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("connect_client.py"))],
        input=json.dumps(calls),
        env=engine.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    answers: list[Any] = json.loads(lines[-1].removeprefix(RESULT_MARK))
    return answers


def _request(engine: Engine, name: str) -> Any:
    request = build_request(load_mesh([engine.manifests]), "customer-360", run_id=f"engine-{name}")
    request.output_location = str(engine.outputs / name)
    return request


@pytest.fixture(scope="module")
def builds(spark: Any, engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildResult, BuildResult]:
    """customer-360 built locally (the session fixture) and through the engine (`python -m datamesh.build`)."""
    local = run_build(_request(engine, "local"), spark=spark)
    request_file = tmp_path_factory.mktemp("engine-request") / "request.json"
    request_file.write_text(_request(engine, "connect").to_json(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "datamesh.build", "--request", str(request_file)],
        env=engine.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    remote = BuildResult.model_validate_json(done.stdout.strip().splitlines()[-1])
    return local, remote


def _delta(spark: Any, location: Path) -> tuple[str, list[tuple[Any, ...]]]:
    frame = spark.read.format("delta").load(str(location))
    rows = sorted(tuple(row) for row in frame.drop(CLOCK_COLUMN).collect())
    return frame.schema.json(), rows


def test_a_build_through_the_engine_equals_a_local_build(spark: Any, engine: Engine, builds: Any) -> None:
    local, remote = builds
    assert local.outcome == remote.outcome == "Published", (local.message, remote.message)
    schema, rows = _delta(spark, engine.outputs / "local")
    assert _delta(spark, engine.outputs / "connect") == (schema, rows)
    assert len(rows) == local.row_count == remote.row_count == 2000
    assert remote.quality_score == local.quality_score == 1.0

    def checks(result: BuildResult) -> list[tuple[Any, ...]]:  # the freshness check measures the build's clock
        return [(c.name, c.passed, c.threshold, c.severity, None if c.name.startswith("freshness") else c.value)
                for c in result.checks]  # fmt: skip

    assert checks(remote) == checks(local)
    assert remote.input_versions == local.input_versions
    for name in ("local", "connect"):  # both published by the metadata-only delta-rs commit, as version 0
        log = (engine.outputs / name / "_delta_log" / f"{0:020d}.json").read_text(encoding="utf-8")
        info = next(json.loads(line)["commitInfo"] for line in log.splitlines() if "commitInfo" in line)
        assert info["engineInfo"].startswith("delta-rs"), name
    assert remote.table_version == local.table_version == 0
    # The build cleaned up after itself: only the committed run folder is left.
    assert len(list((engine.outputs / "connect").glob("run-*"))) == 1


def test_hostile_transforms_are_refused_as_in_a_local_build(spark: Any, engine: Engine) -> None:
    lake = engine.lake
    extra = [
        f"INSERT OVERWRITE DIRECTORY '{lake}/sales/bronze/crm/customers' USING parquet SELECT * FROM orders",
        f"SELECT * FROM parquet.`{lake}/sales/bronze/crm/customers`",
        f"CREATE TABLE evil USING delta LOCATION '{lake}/sales/gold/evil' AS SELECT * FROM orders",
        f"SELECT * FROM delta.`{engine.outputs}/local`",
    ]
    sqls = [case.sql for cases in HOSTILE.values() for case in cases] + extra
    (remote,) = _client(engine, [{"kind": "transforms", "sqls": sqls + LEGIT[:6]}])
    frames = tiny_inputs(spark)
    for sql, answer in zip(sqls, remote[: len(sqls)], strict=True):
        local = outcome(lambda sql=sql: guarded_transform_sql(spark, sql, frames))
        assert answer.get("reason") == local.get("reason") == "SqlRefused", (sql, answer, local)
        assert answer["message"] == local["message"], sql
    for sql, answer in zip(LEGIT[:6], remote[len(sqls) :], strict=True):
        rows = sorted(repr(tuple(row)) for row in guarded_transform_sql(spark, sql, frames).collect())
        assert answer == {"ok": rows}, sql


def test_quality_expressions_and_patterns_are_judged_as_in_a_local_build(spark: Any, engine: Engine) -> None:
    items = [(expression, RESULT_COLUMNS) for expression, _ in HOSTILE_CHECKS] + [
        (expression, RESULT_COLUMNS) for expression in LEGIT_CHECKS
    ]
    patterns = ["^[^@]+@[^@]+$", "[a-", "(?<name>x", "\\p{IsLatin}+", "a{2,1}"]
    expressions, problems = _client(
        engine, [{"kind": "expressions", "items": items}, {"kind": "patterns", "patterns": patterns}]
    )
    for (expression, columns), answer in zip(items, expressions, strict=True):
        local = outcome(lambda e=expression, c=columns: check_expression(spark, e, "c", c))
        assert answer == local, expression
    assert [answer.get("reason") for answer in expressions[: len(HOSTILE_CHECKS)]] == ["SqlRefused"] * len(
        HOSTILE_CHECKS
    )
    local_problems = java_pattern_problems(spark, patterns)
    assert problems == {"ok": local_problems}
    assert local_problems[0] is None and local_problems[1] is not None


def test_masking_runs_in_the_engine_s_python_workers(engine: Engine, tmp_path: Path) -> None:
    import hmac

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = engine.outputs / "masking-input"  # inside this module's own folder: the lake stays untouched
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2], "email": ["ana@example.com", None]}), folder / "part-0.parquet")
    key = bytes(range(32))
    item = {"view": "crm", "kind": "source", "ref": "bronze.crm", "domain": "sales", "location": str(folder),
            "format": "parquet", "piiColumns": ["email"], "pii": "mask"}  # fmt: skip
    (answer,) = _client(engine, [{"kind": "masking", "input": item, "env": {MASKING_KEY_ENV: key.hex()}}])
    digest = hmac.new(key, b"ana@example.com", hashlib.sha256).hexdigest()
    assert answer == {"ok": {"1": digest, "2": None}}


def test_tokens_are_required_on_grpc_and_on_the_guard(engine: Engine) -> None:
    wrong, missing = _client(engine, [{"kind": "grpc", "token": "x" * 43}, {"kind": "grpc", "token": None}])
    for answer in (wrong, missing):
        assert "UNAUTHENTICATED" in answer.get("error", ""), answer
    body = json.dumps({"patterns": ["a"]}).encode()
    for header in (None, "Bearer " + "x" * 43, engine.token, f"Bearer {engine.token} ", f"bearer {engine.token}"):
        request = urllib.request.Request(f"{engine.guard}/v1/patterns", data=body, method="POST")
        if header is not None:
            request.add_header("Authorization", header)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 401, header
    request = urllib.request.Request(f"{engine.guard}/v1/patterns", data=body, method="POST")
    request.add_header("Authorization", f"Bearer {engine.token}")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.loads(answer.read()) == {"problems": [None]}
    with urllib.request.urlopen(f"{engine.guard}/healthz", timeout=30) as answer:
        assert answer.status == 200


def test_a_guard_call_naming_another_session_is_refused(engine: Engine) -> None:
    (answers,) = _client(engine, [{"kind": "foreign", "unknown_session": str(uuid.uuid4())}])
    foreign, unknown, own = answers
    for answer in (foreign, unknown):
        assert answer.get("reason") == "EngineUnavailable", answer
        assert "refused the call (403): no such session of this caller" in answer["message"], answer
    assert own == {"ok": ["(10,)", "(11,)", "(12,)", "(13,)"]}


def test_an_engine_that_does_not_answer_fails_the_build_naming_it(engine: Engine, tmp_path: Path) -> None:
    port = _free_port()
    env = {**engine.env, "DATAMESH_ENGINE_URL": f"sc://127.0.0.1:{port}",
           "DATAMESH_ENGINE_GUARD_URL": f"http://127.0.0.1:{port}", "DATAMESH_ENGINE_WAIT_SECONDS": "2"}  # fmt: skip
    request_file = tmp_path / "request.json"
    request_file.write_text(_request(engine, "unavailable").to_json(), encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "datamesh.build", "--request", str(request_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = BuildResult.model_validate_json(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 1 and result.reason == "EngineUnavailable", result
    assert f"sc://127.0.0.1:{port}" in (result.message or "") and time.monotonic() - started < 60
    assert not (engine.outputs / "unavailable").exists()
