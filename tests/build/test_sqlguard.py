"""The build's second wall: tenant SQL checked with Spark's own parser before anything runs.

Hostile transforms of every class (commands, script transformations, reflection, table functions, path reads,
undeclared tables, hints), many of which sqlglot (the first wall) cannot even parse, are refused with reason
SqlRefused, and a lake's files are byte for byte the same afterwards; legitimate analytical SQL passes and
returns exactly what Spark returns without the guard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot.errors import ParseError

from datamesh.api.dataproduct import Column, DataProductSpec, QualityCheck, Transform
from datamesh.build import quality, sqlguard
from datamesh.build.errors import SQL_REFUSED, BuildError
from datamesh.build.inputs import register
from datamesh.build.local import build_request
from datamesh.build.runner import run_build
from datamesh.build.sqlguard import Node
from datamesh.build.transform import run_transform
from datamesh.manifests import load_mesh
from datamesh.mesh.contract import BuildRequest, ResolvedInput
from tests.build.connect_client import tiny_inputs

from .conftest import DemoLake

spark_test = pytest.mark.spark

VIEWS = ("customers", "orders", "bronze.crm.customers")
EVIL = "java.lang.System', 'getenv', 'HOME'"


@dataclass(frozen=True)
class Hostile:
    sql: str
    fragment: str
    """What the refusal message must name."""
    sqlglot_gap: bool = False
    """sqlglot's Spark dialect cannot parse it: only this wall sees it."""


HOSTILE: dict[str, list[Hostile]] = {
    "command": [
        Hostile("INSERT OVERWRITE DIRECTORY '/tmp/x' USING parquet SELECT * FROM orders", "InsertIntoDir", True),
        Hostile("FROM orders INSERT OVERWRITE DIRECTORY '/tmp/x' USING csv SELECT *", "InsertIntoDir", True),
        Hostile(
            "WITH x AS (SELECT * FROM orders) INSERT OVERWRITE DIRECTORY '/tmp/x' USING json SELECT * FROM x",
            "InsertIntoDir",
            True,
        ),
        Hostile("INSERT OVERWRITE LOCAL DIRECTORY '/tmp/x' ROW FORMAT DELIMITED SELECT * FROM orders", "InsertIntoDir"),
        Hostile("INSERT INTO orders SELECT * FROM orders", "InsertIntoStatement"),
        Hostile("CREATE TABLE evil USING parquet LOCATION '/tmp/x' AS SELECT * FROM orders", "CreateTableAsSelect"),
        Hostile("CREATE TABLE evil (a INT) USING delta LOCATION '/tmp/x'", "CreateTable"),
        Hostile("REPLACE TABLE evil USING delta LOCATION '/tmp/x' AS SELECT 1 AS a", "ReplaceTableAsSelect", True),
        Hostile("SET spark.sql.runSQLOnFiles=true", "SetCommand"),
        Hostile("ADD JAR /tmp/evil.jar", "AddJarsCommand"),
        Hostile("CACHE TABLE orders", "CacheTable"),
        Hostile("CACHE LAZY TABLE c AS SELECT * FROM orders", "CacheTableAsSelect"),
        Hostile("BEGIN SELECT 1; END", "CompoundBody (SQL scripting", True),
        Hostile("BEGIN DECLARE v INT; SET v = 1; SELECT v; END", "CompoundBody (SQL scripting", True),
        Hostile("DROP TABLE orders", "DropTable"),
        Hostile("MERGE INTO orders USING customers ON orders.id = customers.id WHEN MATCHED THEN DELETE", "MergeInto"),
        Hostile("VACUUM '/tmp/x' RETAIN 0 HOURS", "VacuumTableCommand"),
        Hostile("EXECUTE IMMEDIATE 'DROP TABLE orders'", "UnresolvedExecuteImmediate"),
        Hostile("DECLARE OR REPLACE VARIABLE v STRING DEFAULT 'x'", "CreateVariable"),
        Hostile("CREATE TEMPORARY FUNCTION f AS 'evil.Udf'", "CreateFunctionCommand"),
    ],
    "script": [
        Hostile("SELECT TRANSFORM(id) USING 'cat' AS (x) FROM orders", "ScriptTransformation (SELECT TRANSFORM"),
        Hostile("FROM orders MAP id USING '/bin/sh -c id'", "ScriptTransformation", True),
        Hostile("FROM orders REDUCE id USING 'cat' AS x", "ScriptTransformation", True),
        Hostile(
            "WITH c AS (SELECT TRANSFORM(*) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' USING 'id' FROM orders)"
            " SELECT * FROM c",
            "ScriptTransformation",
        ),
    ],
    "reflection": [
        Hostile(f"SELECT reflect('{EVIL}) FROM orders", "function reflect"),
        Hostile("SELECT java_method('java.lang.Runtime', 'getRuntime') FROM orders", "function java_method"),
        Hostile("SELECT try_reflect('java.lang.System', 'exit', '0') FROM orders", "function try_reflect"),
        Hostile(f"SELECT CASE WHEN id > 0 THEN REFLECT('{EVIL}) END FROM orders", "function REFLECT"),
        Hostile(
            "SELECT transform(array(id), x -> java_method('java.lang.String', 'valueOf', x)) FROM orders", "java_method"
        ),
        Hostile(f"SELECT * FROM orders WHERE id IN (SELECT length(reflect('{EVIL})) FROM customers)", "reflect"),
        Hostile(f"SELECT id FROM orders WINDOW w AS (PARTITION BY reflect('{EVIL}))", "function reflect"),
        Hostile(f"SELECT IDENTIFIER('reflect')('{EVIL}) FROM orders", "ExpressionWithUnresolvedIdentifier", True),
        Hostile(f"SELECT system.builtin.reflect('{EVIL})", "qualified function name system.builtin.reflect"),
        Hostile(f"SELECT /*+ REPARTITION(reflect('{EVIL})) */ * FROM orders", "function reflect"),
    ],
    "table-function": [
        Hostile("SELECT * FROM range(10)", "table-valued function range"),
        Hostile("SELECT * FROM read_files('/etc/passwd', format => 'text')", "table-valued function read_files"),
        Hostile("SELECT * FROM explode(array(1, 2))", "table-valued function explode"),
        Hostile("SELECT * FROM customers, LATERAL explode(tags)", "table-valued function explode"),
        Hostile("SELECT * FROM orders JOIN range(3) r ON r.id = orders.id", "table-valued function range"),
    ],
    "path": [
        Hostile("SELECT * FROM parquet.`/tmp/x`", "reading files through parquet.`/tmp/x`"),
        Hostile("SELECT * FROM delta.`/tmp/x`", "reading files through delta.`/tmp/x`"),
        Hostile("SELECT * FROM `csv`.`/etc/passwd`", "reading files through csv.`/etc/passwd`"),
        Hostile("SELECT * FROM orders WHERE id IN (SELECT id FROM json.`/tmp/x`)", "json.`/tmp/x`"),
    ],
    "undeclared": [
        Hostile("SELECT * FROM secret", "table secret (not one of the inputs"),
        Hostile("SELECT * FROM default.orders", "table default.orders"),
        Hostile("SELECT * FROM global_temp.orders", "table global_temp.orders"),
        Hostile("SELECT * FROM bronze.crm.customers", "table bronze.crm.customers"),
        Hostile("SELECT * FROM orders WHERE EXISTS (SELECT 1 FROM secret)", "table secret"),
        Hostile("SELECT * FROM (WITH secret AS (SELECT 1) SELECT * FROM secret) JOIN secret", "table secret"),
        Hostile("WITH secret AS (SELECT * FROM secret) SELECT * FROM secret", "table secret"),
        Hostile("SELECT * FROM IDENTIFIER('sec' || 'ret')", "PlanWithUnresolvedIdentifier"),
        Hostile("SELECT * FROM STREAM orders", "NamedStreamingRelation"),
        Hostile("SELECT * FROM orders VERSION AS OF 0", "RelationTimeTravel"),
        Hostile("TABLE secret", "table secret"),
    ],
    "hint": [
        Hostile("SELECT /*+ EVIL */ * FROM orders", "hint EVIL"),
        Hostile("SELECT /*+ SKEW('orders') */ * FROM orders", "hint SKEW"),
        Hostile("SELECT /*+ BROADCAST(customers), RANGE_JOIN(orders, 10) */ * FROM orders", "hint RANGE_JOIN"),
        Hostile("SELECT * FROM (SELECT /*+ NO_SUCH_HINT(1) */ * FROM orders)", "hint NO_SUCH_HINT"),
    ],
}
CASES = [(f"{kind}-{i}", case) for kind, cases in HOSTILE.items() for i, case in enumerate(cases)]

LEGIT = [
    "SELECT c.id, c.name, sum(o.amount) AS total, count(*) AS n FROM customers c LEFT JOIN orders o"
    " ON c.id = o.customer_id GROUP BY c.id, c.name HAVING sum(o.amount) > 1 ORDER BY total DESC NULLS LAST",
    "SELECT id, amount, row_number() OVER (PARTITION BY customer_id ORDER BY ts DESC) AS rn, lag(amount, 1) OVER w"
    " AS prev FROM orders WINDOW w AS (PARTITION BY customer_id ORDER BY ts)",
    "SELECT product, customer_id, sum(amount) AS s FROM orders GROUP BY GROUPING SETS ((product, customer_id),"
    " (product), ())",
    "SELECT product, sum(amount) FROM orders GROUP BY ROLLUP(product) UNION ALL SELECT product, sum(amount)"
    " FROM orders GROUP BY CUBE(product)",
    "SELECT id, tag FROM customers LATERAL VIEW OUTER explode(tags) t AS tag",
    "SELECT * FROM (SELECT customer_id, product, amount FROM orders) PIVOT (sum(amount) AS s FOR product IN"
    " ('a' AS a, 'b' AS b))",
    "SELECT id, transform(tags, x -> upper(x)) AS up, filter(tags, t -> t <> 'x') AS kept,"
    " aggregate(array(1, 2, 3), 0, (acc, v) -> acc + v) AS total, exists(tags, t -> t = 'vip') AS vip FROM customers",
    "WITH big AS (SELECT customer_id, sum(amount) AS s FROM orders GROUP BY customer_id), top AS (SELECT * FROM big"
    " WHERE s > 1) SELECT c.*, t.s FROM customers c JOIN top t ON c.id = t.customer_id",
    "SELECT * FROM customers c LEFT SEMI JOIN orders o ON c.id = o.customer_id",
    "SELECT * FROM customers c LEFT ANTI JOIN orders o ON c.id = o.customer_id",
    "SELECT * FROM VALUES (1, 'a'), (2, 'b') AS v(id, code)",
    "SELECT v.* FROM VALUES (1, current_date()), (2, date_add(current_date(), 1)) AS v(id, d)",
    "SELECT * FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.amount > 5)",
    "SELECT * FROM customers c WHERE c.id NOT IN (SELECT customer_id FROM orders WHERE customer_id IS NOT NULL)",
    "SELECT id, (SELECT max(amount) FROM orders o WHERE o.customer_id = c.id) AS biggest FROM customers c",
    "SELECT CASE WHEN amount > 10 THEN 'big' WHEN amount > 1 THEN 'mid' ELSE 'small' END AS size,"
    " CAST(amount AS DECIMAL(10, 2)) AS a2, amount::int AS a3, coalesce(note, '') AS n1, nvl(note, 'x') AS n2,"
    " if(amount IS NULL, 0, amount) AS a4 FROM orders",
    "SELECT * EXCEPT (note) FROM orders",
    "SELECT customer_id, count(DISTINCT id) FILTER (WHERE amount > 0) AS n, percentile_cont(0.5) WITHIN GROUP"
    " (ORDER BY amount) AS med, first(note) IGNORE NULLS AS f FROM orders GROUP BY ALL ORDER BY ALL",
    "SELECT date_trunc('MONTH', ts) AS m, extract(YEAR FROM ts) AS y, ts + INTERVAL 1 DAY AS t1,"
    " timestampadd(HOUR, 1, ts) AS t2, trim(BOTH ' ' FROM note) AS t3, substring(note FROM 1 FOR 2) AS t4 FROM orders",
    "SELECT named_struct('a', id, 'b', name) AS s, map('k', id) AS m, array(1, 2)[0] AS e FROM customers",
    "SELECT /*+ BROADCAST(o), REPARTITION(2) */ c.id, o.amount FROM customers c JOIN orders o ON c.id = o.customer_id",
    "SELECT * FROM customers c, LATERAL (SELECT count(*) AS n FROM orders o WHERE o.customer_id = c.id)",
    "SELECT customer_id, k, v FROM orders UNPIVOT (v FOR k IN (amount, qty_d))",
    "SELECT id FROM customers INTERSECT SELECT customer_id FROM orders EXCEPT ALL SELECT 3",
    "SELECT `bronze.crm.customers`.id, region FROM `bronze.crm.customers` WHERE region IS NOT NULL",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
    "SELECT * FROM orders |> WHERE amount > 1 |> AGGREGATE sum(amount) AS s GROUP BY customer_id",
    "SELECT explode(tags) AS tag FROM customers",
    "SELECT id FROM customers DISTRIBUTE BY id SORT BY id",
    "SELECT DISTINCT customer_id FROM orders ORDER BY customer_id LIMIT 3 OFFSET 1",
]

LEGIT_CHECKS = [
    "amount > 0",
    "amount > 0 AND note IS NOT NULL",
    "coalesce(qty, 0) BETWEEN 0 AND 100",
    "product IN ('a', 'b') OR product LIKE 'c%'",
    "length(trim(note)) < 10",
    "CASE WHEN amount > 10 THEN qty > 1 ELSE true END",
    "exists(array(amount, qty_d), x -> x >= 0)",
    "ts < timestamp'2100-01-01 00:00:00'",
]
HOSTILE_CHECKS = [
    ("amount IN (SELECT 1)", "subquery"),
    ("EXISTS (SELECT * FROM secret)", "subquery"),
    ("(SELECT max(amount) FROM orders) > 0", "subquery"),
    ("sum(amount) > 0", "aggregate function sum"),
    ("count(*) > 0", "aggregate function count"),
    ("row_number() OVER (ORDER BY amount) = 1", "window function"),
    ("explode(array(1)) IS NULL", "generator function explode"),
    ("json_tuple(note, 'a') IS NULL", "generator function json_tuple"),
    (f"reflect('{EVIL}) IS NULL", "function reflect"),
    (f"amount > 0 AND java_method('{EVIL}) IS NOT NULL", "function java_method"),
    (f"IDENTIFIER('reflect')('{EVIL}) IS NULL", "ExpressionWithUnresolvedIdentifier"),
    ("secret_column > 0", "column secret_column"),
]
RESULT_COLUMNS = ["id", "customer_id", "amount", "qty", "qty_d", "ts", "product", "note"]


@pytest.fixture(scope="module")
def inputs(spark: Any) -> dict[str, Any]:
    """Tiny input frames registered as views the way inputs.register does (a dotted name is ONE identifier); the
    Connect tests register the very same ones in their client process."""
    return tiny_inputs(spark)


def _refused(run: Any) -> BuildError:
    with pytest.raises(BuildError) as caught:
        run()
    assert caught.value.reason == SQL_REFUSED, caught.value.message
    assert "\n" not in caught.value.message
    return caught.value


@spark_test
@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_hostile_transforms_are_refused_naming_the_construct(spark: Any, inputs: dict[str, Any], case: Hostile) -> None:
    error = _refused(lambda: sqlguard.guarded_sql(spark, case.sql, inputs))
    assert error.message.startswith("transform SQL refused by the build: "), error.message
    assert case.fragment in error.message, error.message


def test_the_corpus_covers_what_sqlglot_cannot_parse() -> None:
    """The cases flagged as sqlglot gaps really are: the first wall never sees them, so only this one does."""
    gaps = [case for _, case in CASES if case.sqlglot_gap]
    assert len(gaps) >= 8
    for case in gaps:
        with pytest.raises(ParseError):
            sqlglot.parse(case.sql, read="spark")


@spark_test
def test_a_syntax_error_stays_spark_s_own_sql_error(spark: Any, inputs: dict[str, Any]) -> None:
    for sql in ("SELEC 1", "SELECT * FROM orders; DROP TABLE orders"):
        with pytest.raises(BuildError) as caught:
            sqlguard.guarded_sql(spark, sql, inputs)
        assert caught.value.reason == "SqlError" and "PARSE_SYNTAX_ERROR" in caught.value.message


@spark_test
def test_what_cannot_be_inspected_is_refused(
    spark: Any, inputs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed: a JVM error, a plan beyond the bounds, a parser that overflows its stack."""
    from py4j.protocol import Py4JError

    sql = "SELECT id, upper(name) FROM customers WHERE id IN (SELECT customer_id FROM orders)"
    error = _refused(lambda: sqlguard.check_transform(spark, "SELECT " + "(" * 3000 + "1" + ")" * 3000, VIEWS))
    assert "cannot inspect it" in error.message
    with monkeypatch.context() as patch:
        patch.setattr(sqlguard, "MAX_DEPTH", 5)
        assert "nesting deeper than 5 levels" in _refused(lambda: sqlguard.guarded_sql(spark, sql, inputs)).message
    with monkeypatch.context() as patch:
        patch.setattr(sqlguard, "MAX_NODES", 20)
        assert "more than 20 nodes" in _refused(lambda: sqlguard.guarded_sql(spark, sql, inputs)).message

    def broken(*args: Any) -> str:
        raise Py4JError("the gateway went away")

    with monkeypatch.context() as patch:
        patch.setattr(sqlguard._Jvm, "category", broken)
        for run in (
            lambda: sqlguard.check_transform(spark, sql, VIEWS),
            lambda: sqlguard.check_analyzed(spark, inputs["orders"], inputs),
            lambda: sqlguard.check_expression(spark, "amount > 0", "positive", RESULT_COLUMNS),
        ):
            assert "cannot inspect it (the gateway went away)" in _refused(run).message
    sqlguard.guarded_sql(spark, sql, inputs).collect()  # and without the faults, it passes


@spark_test
@pytest.mark.parametrize("sql", LEGIT, ids=[f"legit-{i}" for i in range(len(LEGIT))])
def test_legitimate_queries_pass_and_return_what_spark_returns(spark: Any, inputs: dict[str, Any], sql: str) -> None:
    guarded = sqlguard.guarded_sql(spark, sql, inputs)
    expected = spark.sql(sql)
    assert guarded.schema == expected.schema
    assert sorted(map(repr, guarded.collect())) == sorted(map(repr, expected.collect()))


@spark_test
def test_analysed_plans_must_read_only_the_inputs(spark: Any, inputs: dict[str, Any], tmp_path: Path) -> None:
    """The second check holds whatever the parser let through: another relation, or a denied function class."""
    spark.range(3).write.parquet(str(tmp_path / "other"))
    other = spark.read.parquet(str(tmp_path / "other"))
    cases = [
        (spark.range(3), "relation Range"),
        (other, "relation LogicalRelation"),
        (inputs["orders"].join(other, "id"), "relation LogicalRelation"),
        (inputs["orders"].selectExpr(f"reflect('{EVIL}) AS home"), "CallMethodViaReflection"),
        (inputs["orders"].selectExpr("try_reflect('java.lang.String', 'valueOf', id) AS v"), "TryReflect"),
        (inputs["orders"].selectExpr("input_file_name() AS f"), "InputFileName"),
    ]
    for frame, fragment in cases:
        error = _refused(lambda f=frame: sqlguard.check_analyzed(spark, f, inputs))
        assert fragment in error.message, error.message
    # The inputs' own plans (a Python UDF masking PII, a denied function) are the build's, not the tenant's.
    from pyspark.sql import functions as F

    masked = inputs["customers"].withColumn("name", F.udf(lambda v: v and "***", "string")(F.col("name")))
    masked.createOrReplaceTempView("masked")
    sql = "SELECT m.name, o.amount FROM masked m JOIN orders o ON m.id = o.customer_id"
    assert sqlguard.guarded_sql(spark, sql, {**inputs, "masked": masked}).columns == ["name", "amount"]
    tagged = inputs["customers"].selectExpr("id", "java_method('java.lang.String', 'valueOf', id) AS tag")
    tagged.createOrReplaceTempView("tagged")
    frame = sqlguard.guarded_sql(spark, "SELECT tag FROM tagged WHERE id = 2", {**inputs, "tagged": tagged})
    assert [r["tag"] for r in frame.collect()] == ["2"]


@spark_test
def test_check_expressions(spark: Any, inputs: dict[str, Any]) -> None:
    frame = inputs["orders"]
    for expression in LEGIT_CHECKS:
        sqlguard.check_expression(spark, expression, "fine", RESULT_COLUMNS)
        frame.where(expression).collect()
    for expression, fragment in HOSTILE_CHECKS:
        error = _refused(lambda e=expression: sqlguard.check_expression(spark, e, "positive", RESULT_COLUMNS))
        assert error.message.startswith('quality check "positive" refused by the build: '), error.message
        assert fragment in error.message, error.message
    with pytest.raises(BuildError) as caught:
        sqlguard.check_expression(spark, "amount > 0; DROP TABLE orders", "positive", RESULT_COLUMNS)
    assert caught.value.reason == "SqlError"


@spark_test
def test_the_quality_hook_refuses_before_any_column_exists(spark: Any, inputs: dict[str, Any]) -> None:
    columns = [Column(name=n, type="string", nullable=True) for n in RESULT_COLUMNS]
    good = QualityCheck(type="sql", name="positive", expression="amount >= 0")
    plan = quality.plan_checks([good], columns)
    values = inputs["orders"].agg(*quality.aggregates(plan, result_columns=RESULT_COLUMNS)).collect()[0].asDict()
    assert values[quality.violations_metric(0)] == 0
    bad = QualityCheck(type="sql", name="positive", expression=f"reflect('{EVIL}) IS NOT NULL")
    error = _refused(lambda: quality.aggregates(quality.plan_checks([bad], columns)))
    assert 'quality check "positive"' in error.message and "function reflect" in error.message


# ---------------------------------------------------------------------------------------------------------
# A lake whose bytes must not change, whatever a refused transform asked for.


def _tree_hash(root: Path, skip: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and skip not in p.parents):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Lake:
    root: Path
    output: Path
    inputs: list[ResolvedInput]


@pytest.fixture(scope="module")
def lake(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("lake")
    sales, marketing = root / "sales", root / "marketing"
    spark.createDataFrame([(1, "Ann"), (2, "Bob")], "id INT, name STRING").write.format("delta").save(
        str(sales / "bronze" / "customers")
    )
    spark.createDataFrame([(1, 3)], "customer_id INT, views INT").write.parquet(str(sales / "bronze" / "visits"))
    spark.createDataFrame([(1, 9.5)], "customer_id INT, spend DOUBLE").write.format("delta").save(
        str(marketing / "gold" / "campaigns")
    )
    spark.createDataFrame([(7,)], "x INT").write.parquet(str(marketing / "bronze" / "raw"))
    inputs = [
        ResolvedInput(view="customers", kind="source", ref="crm.customers", domain="sales",
                      location=str(sales / "bronze" / "customers"), format="delta"),
        ResolvedInput(view="visits", kind="source", ref="web.visits", domain="sales",
                      location=str(sales / "bronze" / "visits"), format="parquet"),
    ]  # fmt: skip
    yield Lake(root, sales / "customer-profile", inputs)


def _request(lake: Lake, sql: str) -> BuildRequest:
    spec = DataProductSpec.model_construct(
        domain="sales", transform=Transform.model_construct(sql=sql, python=None, allow_extra_columns=False)
    )
    return BuildRequest.model_construct(
        namespace="sales", name="customer-profile", domain="sales", generation=1, run_id="run-guard",
        trigger="test", spec=spec, inputs=lake.inputs, output_location=str(lake.output), no_op=False,
    )  # fmt: skip


def _writes(lake: Lake) -> list[tuple[str, str]]:
    campaigns = lake.root / "marketing" / "gold" / "campaigns"
    raw = lake.root / "marketing" / "bronze" / "raw"
    customers = lake.root / "sales" / "bronze" / "customers"
    return [
        (f"INSERT OVERWRITE DIRECTORY '{campaigns}' USING parquet SELECT * FROM customers", "InsertIntoDir"),
        (f"INSERT OVERWRITE LOCAL DIRECTORY '{raw}' SELECT * FROM visits", "InsertIntoDir"),
        (f"CREATE TABLE stolen USING delta LOCATION '{campaigns}' AS SELECT * FROM customers", "CreateTableAsSelect"),
        (f"CREATE OR REPLACE TABLE t USING parquet LOCATION '{raw}' AS SELECT 1 AS x", "ReplaceTableAsSelect"),
        (f"INSERT INTO delta.`{campaigns}` SELECT 1, 1.0", "InsertIntoStatement"),
        (f"DELETE FROM delta.`{campaigns}`", "DeleteFromTable"),
        (
            f"MERGE INTO delta.`{customers}` t USING visits v ON t.id = v.customer_id WHEN MATCHED THEN DELETE",
            "MergeInto",
        ),
        (f"VACUUM '{campaigns}' RETAIN 0 HOURS", "VacuumTableCommand"),
        (f"CONVERT TO DELTA parquet.`{raw}`", "ConvertToDeltaCommand"),
        (f"RESTORE TABLE delta.`{campaigns}` TO VERSION AS OF 0", "RestoreTable"),
        (f"TRUNCATE TABLE delta.`{campaigns}`", "TruncateTable"),
        (f"DROP TABLE delta.`{campaigns}`", "DropTable"),
        (f"FROM customers INSERT OVERWRITE DIRECTORY '{raw}' USING csv SELECT *", "InsertIntoDir"),
        (f"SELECT TRANSFORM(id) USING 'rm -rf {campaigns}' AS (x) FROM customers", "ScriptTransformation"),
    ]


@spark_test
def test_refused_writes_leave_every_file_of_the_lake_as_it_was(spark: Any, lake: Lake) -> None:
    before = _tree_hash(lake.root, lake.output)
    for sql, fragment in _writes(lake):
        result = run_build(_request(lake, sql), spark=spark)
        assert (result.outcome, result.reason) == ("Failed", SQL_REFUSED), (sql, result.message)
        assert fragment in (result.message or ""), result.message
        assert _tree_hash(lake.root, lake.output) == before, f"{sql!r} changed the lake"
    # The same path runs what it may, over the inputs as the build reads them (Delta pinned to a version, parquet).
    loaded = register(spark, lake.inputs)
    sql = "SELECT c.name, v.views FROM customers c JOIN visits v ON c.id = v.customer_id"
    frame = run_transform(spark, Transform(sql=sql), loaded.frames)
    assert [tuple(r) for r in frame.collect()] == [("Ann", 3)]
    assert _tree_hash(lake.root, lake.output) == before


@spark_test
def test_run_build_reports_a_refused_quality_check(spark: Any, demo_lake: DemoLake, tmp_path: Path) -> None:
    """End to end with the real example: its own transform and checks pass the guard, a hostile check does not."""
    request = build_request(load_mesh([demo_lake.manifests]), "customer-360", run_id="guard")
    request.output_location = str(tmp_path / "out")
    evil = QualityCheck.model_construct(
        type="sql", name="evil", expression=f"reflect('{EVIL}) IS NOT NULL", severity="error", threshold=None,
        column=None, columns=None, values=None, min=None, max=None, pattern=None, max_age=None,
    )  # fmt: skip
    request.spec.governance.quality_checks = [*request.spec.governance.quality_checks, evil]
    result = run_build(request, spark=spark)
    assert (result.outcome, result.reason) == ("Failed", SQL_REFUSED), result.message
    assert 'quality check "evil" refused by the build: function reflect' in (result.message or "")
    assert not (tmp_path / "out" / "_delta_log").exists()


# ---------------------------------------------------------------------------------------------------------
# The decisions are pure: trees built by hand, no Spark.

_L = "org.apache.spark.sql.catalyst.plans.logical."
_A = "org.apache.spark.sql.catalyst.analysis."


def _relation(*parts: str) -> Node:
    return Node("plan", _A + "UnresolvedRelation", name=parts)


def _with(ctes: dict[str, Node], main: Node, recursive: bool = False) -> Node:
    defs = [Node("plan", _L + "SubqueryAlias", [body]) for body in ctes.values()]
    return Node("plan", _L + "UnresolvedWith", [*defs, main], ctes=tuple(ctes), recursive=recursive)


def _project(child: Node) -> Node:
    return Node("plan", _L + "Project", [child])


def test_cte_names_count_only_where_they_are_in_scope() -> None:
    allow = lambda name: True  # noqa: E731
    views = ["orders"]
    assert sqlguard.transform_refusal(_with({"a": _relation("orders")}, _project(_relation("a"))), views, allow) is None
    # A definition does not see itself unless the WITH is recursive; then it does.
    assert "table a" in str(sqlguard.transform_refusal(_with({"a": _relation("a")}, _relation("a")), views, allow))
    assert (
        sqlguard.transform_refusal(_with({"a": _relation("a")}, _relation("a"), recursive=True), views, allow) is None
    )
    # A later definition sees the earlier ones, not the other way round.
    tree = _with({"a": _relation("b"), "b": _relation("orders")}, _relation("a"))
    assert "table b" in str(sqlguard.transform_refusal(tree, views, allow))
    # A CTE inside a subquery is not in scope outside it.
    inner = _with({"s": _relation("orders")}, _relation("s"))
    tree = Node("plan", _L + "Join", [inner, _relation("s")])
    assert "table s" in str(sqlguard.transform_refusal(tree, views, allow))


def test_view_names_are_one_identifier_compared_without_case() -> None:
    allow = lambda name: True  # noqa: E731
    views = ["bronze.crm.customers"]
    assert sqlguard.transform_refusal(_relation("BRONZE.CRM.Customers"), views, allow) is None
    assert sqlguard.transform_refusal(_relation("bronze", "crm", "customers"), views, allow) is not None


def test_unknown_plan_classes_and_denied_functions_are_refused() -> None:
    def allow(name: str) -> bool:
        return name != "reflect"

    assert "SomethingNew" in str(sqlguard.transform_refusal(Node("plan", _L + "SomethingNew"), [], allow))
    call = Node("expression", _A + "UnresolvedFunction", name=("reflect",))
    assert "function reflect" in str(
        sqlguard.transform_refusal(_project(Node("plan", _L + "OneRowRelation", [call])), [], allow)
    )
    udf = Node("expression", "org.apache.spark.sql.catalyst.expressions.ScalaUDF")
    assert sqlguard.transform_refusal(Node("plan", _L + "Project", [udf]), [], allow) == "ScalaUDF"


def test_analysed_plan_decisions() -> None:
    def never(node: Node) -> bool:
        return False

    view = Node("plan", _L + "View", name=("orders",), opaque=True)
    ok = Node("plan", _L + "Project", [view, Node("plan", _L + "LocalRelation", leaf=True)])
    assert sqlguard.analyzed_refusal(ok, set(), never) is None
    rng = Node("plan", _L + "Range", leaf=True)
    assert "relation Range" in str(sqlguard.analyzed_refusal(Node("plan", _L + "Project", [rng]), set(), never))
    assert sqlguard.analyzed_refusal(Node("plan", _L + "Project", [rng]), set(), lambda node: True) is None
    command = Node("plan", "org.apache.spark.sql.execution.command.SetCommand", command=True)
    assert "SetCommand" in str(sqlguard.analyzed_refusal(command, set(), never))
    xpath = Node("expression", "org.apache.spark.sql.catalyst.expressions.xml.XPathString")
    assert "XPathString" in str(
        sqlguard.analyzed_refusal(Node("plan", _L + "Project", [xpath]), {"XPathString"}, never)
    )
