"""The SQL wall: a transform is one read-only query over the declared inputs, everything else is refused.

Each hostile class is tried in several spellings; every refusal must name the construct, so a test that
passes because of some unrelated refusal (a typo, an unknown table) does not count.
"""

from __future__ import annotations

import re

import pytest

from datamesh.api import spark_functions
from datamesh.api.sqlcheck import MAX_NESTING, expression_problems, problems

VIEWS = ["customers", "sessions", "bronze.crm.customers"]


def refused(sql: str, *expected: str) -> list[str]:
    found = problems(sql, VIEWS)
    assert found, f"accepted: {sql!r}"
    text = " | ".join(found)
    for fragment in expected:
        assert fragment.lower() in text.lower(), (fragment, found)
    for message in found:
        assert "\n" not in message and message.startswith("transform.sql"), message
    return found


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM customers",
        "SELECT c.*, s.n FROM customers c LEFT JOIN (SELECT customer_id, count(*) AS n FROM sessions GROUP BY 1) s "
        "ON c.customer_id = s.customer_id",
        "WITH s AS (SELECT * FROM sessions) SELECT * FROM s JOIN `bronze.crm.customers` b ON s.id = b.id",
        "SELECT * FROM `bronze.crm.customers` UNION ALL SELECT * FROM customers",
        "SELECT * FROM CUSTOMERS",
        "SELECT * FROM customers /* a comment; DROP TABLE x */ WHERE id = 1 -- trailing",
        "WITH a AS (SELECT * FROM customers), b AS (SELECT * FROM a) SELECT * FROM b",
        "SELECT * FROM customers WHERE city = 'München' AND note <> '€'",
        "SELECT 1;",
    ],
)
def test_queries_over_the_inputs_pass(sql: str) -> None:
    assert problems(sql, VIEWS) == []


# ------------------------------------------------------------------------------------- statements, scripts

STATEMENTS = [
    ("INSERT INTO customers SELECT * FROM sessions", "not INSERT"),
    ("INSERT OVERWRITE TABLE customers SELECT * FROM sessions", "not INSERT"),
    ("INSERT OVERWRITE DIRECTORY '/tmp/x' SELECT * FROM customers", "not INSERT"),
    ("INSERT OVERWRITE LOCAL DIRECTORY '/tmp/x' STORED AS TEXTFILE SELECT * FROM customers", "INSERT"),
    ("CREATE TABLE x AS SELECT * FROM customers", "not CREATE"),
    ("CREATE OR REPLACE TABLE x USING delta LOCATION '/lake/x' AS SELECT 1", "CREATE"),
    ("REPLACE TABLE x USING delta LOCATION '/x' AS SELECT 1", "REPLACE"),
    ("CREATE TEMPORARY FUNCTION f AS 'com.x.F' USING JAR '/tmp/x.jar'", "not CREATE"),
    ("CREATE FUNCTION f AS 'com.x.F'", "not CREATE"),
    ("CREATE TEMPORARY VIEW v AS SELECT * FROM customers", "not CREATE"),
    ("ADD JAR /tmp/x.jar", "ADD JAR"),
    ("ADD FILE /etc/passwd", "ADD FILE"),
    ("ADD ARCHIVE /tmp/x.zip", "ADD"),
    ("SET spark.sql.runSQLOnFiles=true", "not SET"),
    ("SET", "SET"),
    ("RESET", "RESET"),
    ("RESET spark.sql.runSQLOnFiles", "RESET"),
    ("CACHE TABLE c AS SELECT * FROM customers", "CACHE"),
    ("CACHE LAZY TABLE customers", "CACHE"),
    ("UNCACHE TABLE customers", "UNCACHE"),
    ("CLEAR CACHE", "CLEAR"),
    ("REFRESH TABLE customers", "REFRESH"),
    ("REFRESH '/lake/x'", "REFRESH"),
    ("MSCK REPAIR TABLE customers", "MSCK"),
    ("ANALYZE TABLE customers COMPUTE STATISTICS", "ANALYZE"),
    ("LOAD DATA INPATH '/x' INTO TABLE customers", "LOAD"),
    ("LOAD DATA LOCAL INPATH '/etc/passwd' OVERWRITE INTO TABLE customers", "LOAD"),
    ("DELETE FROM customers WHERE 1=1", "not DELETE"),
    ("UPDATE customers SET name = 'x'", "not UPDATE"),
    ("MERGE INTO customers c USING sessions s ON c.id = s.id WHEN MATCHED THEN DELETE", "not MERGE"),
    ("DROP TABLE customers", "not DROP"),
    ("DROP VIEW IF EXISTS customers", "DROP"),
    ("TRUNCATE TABLE customers", "TRUNCATE"),
    ("ALTER TABLE customers SET LOCATION '/x'", "not ALTER"),
    ("ALTER TABLE customers ADD COLUMNS (x INT)", "ALTER"),
    ("USE other_db", "not USE"),
    ("USE CATALOG other", "USE"),
    ("SHOW TABLES", "SHOW"),
    ("SHOW CREATE TABLE customers", "SHOW"),
    ("DESCRIBE customers", "DESCRIBE"),
    ("DESC EXTENDED customers", "DESC"),
    ("EXPLAIN SELECT * FROM customers", "EXPLAIN"),
    ("EXPLAIN EXTENDED SELECT * FROM customers", "EXPLAIN"),
    ("CALL sys.proc()", "CALL"),
    ("EXECUTE IMMEDIATE 'SELECT 1'", "EXECUTE"),
    ("EXECUTE IMMEDIATE 'DROP TABLE ' || 'customers'", "EXECUTE"),
    ("DECLARE x INT DEFAULT 1", "DECLARE"),
    ("DECLARE OR REPLACE VARIABLE v STRING", "DECLARE"),
    ("BEGIN SELECT 1; END", "BEGIN"),
    ("BEGIN DECLARE x INT; SELECT 1; END", "BEGIN"),
    ("BEGIN\n  SET VAR x = 1;\n  SELECT * FROM customers;\nEND", "BEGIN"),
    ("SELEC oops", "SELEC"),
    ("SELECT * INTO x FROM customers", "SELECT INTO"),
]


@pytest.mark.parametrize(("sql", "construct"), STATEMENTS)
def test_statements_and_scripts_are_refused(sql: str, construct: str) -> None:
    refused(sql, construct)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; SELECT 2",
        "SELECT * FROM customers; DROP TABLE customers",
        "SELECT * FROM customers;\nINSERT INTO customers SELECT * FROM sessions;",
    ],
)
def test_several_statements_are_refused(sql: str) -> None:
    refused(sql, "single query", "statements")


@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM customers WHERE (", "SELECT FROM WHERE", "SELECT * FROM customers WHERE a = 'unterminated"],
)
def test_unparseable_sql_is_refused_not_left_to_spark(sql: str) -> None:
    found = refused(sql)
    assert any("cannot be" in message for message in found), found


# ----------------------------------------------------------------------------------------- script transforms


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT TRANSFORM(a) USING 'sh -c ls' FROM customers",
        "SELECT TRANSFORM(a, b) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' USING '/bin/sh -c id' AS (c) "
        "FROM customers",
        "FROM customers SELECT TRANSFORM(a) USING 'cat'",
        "SELECT transform (a) using 'python3 x.py' AS (b STRING) FROM customers",
    ],
)
def test_script_transforms_are_refused_by_name(sql: str) -> None:
    refused(sql, "SCRIPT TRANSFORM (USING '")


@pytest.mark.parametrize(
    "sql",
    [
        "MAP a USING 'cat' AS b FROM customers",
        "FROM customers MAP a USING 'cat' AS b",
        "FROM customers REDUCE a USING 'cat' AS b",
        "FROM (FROM customers MAP a USING 'cat' AS b) x SELECT b",
    ],
)
def test_map_and_reduce_script_transforms_are_refused(sql: str) -> None:
    refused(sql, "script transforms (MAP/REDUCE/TRANSFORM)")


# ---------------------------------------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("sql", "function"),
    [
        ("SELECT reflect('java.lang.System','exit','0')", "reflect()"),
        ("SELECT REFLECT('java.lang.Runtime', 'getRuntime') FROM customers", "reflect()"),
        ("SELECT ReFlEcT('java.util.UUID', 'randomUUID') FROM customers", "reflect()"),
        ("SELECT CASE WHEN a > 0 THEN java_method('java.lang.System','exit','0') END FROM customers", "java_method()"),
        ("SELECT transform(arr, x -> try_reflect('java.lang.System', 'exit', '0')) FROM customers", "try_reflect()"),
        ("SELECT * FROM customers WHERE a IN (SELECT Reflect('a','b') FROM sessions)", "reflect()"),
        ("SELECT * FROM customers WHERE EXISTS (SELECT 1 FROM sessions WHERE JAVA_METHOD('a','b') = 'x')",
         "java_method()"),
        ("SELECT a /* hidden */, reflect('java.lang.Runtime','getRuntime') FROM customers", "reflect()"),
        ("SELECT a -- comment\n, java_method('a','b') FROM customers", "java_method()"),
        ("SELECT a -- comment\r, java_method('a','b') FROM customers", "java_method()"),
        ("SELECT coalesce(NULL, concat('x', reflect('a', 'b'))) FROM customers", "reflect()"),
    ],
)
def test_reflection_is_refused_wherever_it_hides(sql: str, function: str) -> None:
    refused(sql, function, "reflection")


@pytest.mark.parametrize(
    ("sql", "function"),
    [
        ("SELECT input_file_name() FROM customers", "input_file_name()"),
        ("SELECT input_file_block_start() FROM customers", "input_file_block_start()"),
        ("SELECT xpath_string(a, '//x') FROM customers", "xpath_string()"),
        ("SELECT from_xml(a, 'x INT') FROM customers", "from_xml()"),
        ("SELECT from_protobuf(a, 'M', '/etc/desc') FROM customers", "from_protobuf()"),
        ("SELECT to_avro(a) FROM customers", "to_avro()"),
        ("SELECT a FROM customers LATERAL VIEW range(3) r AS x", "range()"),
        ("SELECT measure(a) FROM customers", "measure()"),
    ],
)
def test_denied_functions_are_refused_with_the_reason(sql: str, function: str) -> None:
    refused(sql, function, "not allowed (it ")


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT udf_thing(a) FROM customers", "udf_thing"),
        ("SELECT my_catalog.fn(a) FROM customers", ""),
        # fullwidth letters
        ("SELECT \uff52\uff45\uff46\uff4c\uff45\uff43\uff54('a','b') FROM customers", "\uff52\uff45\uff46"),
        ("SELECT r\u0435flect('a','b') FROM customers", "r\u0435flect"),  # Cyrillic e
        ("SELECT identifier('customers') FROM customers", "identifier"),
    ],
)
def test_unknown_functions_are_refused(sql: str, name: str) -> None:
    refused(sql, name)


@pytest.mark.parametrize("name", sorted(n for n in spark_functions.DENIED_FUNCTIONS if re.fullmatch(r"\w+", n)))
@pytest.mark.parametrize("args", ["", "a", "a, 'b'", "a, 'b', 'c'"])
def test_every_denied_function_is_refused_whatever_sqlglot_makes_of_it(name: str, args: str) -> None:
    # sqlglot maps some names onto typed classes; whichever class it picks, the denied name must not pass.
    for spelled in (name, name.upper(), name.capitalize()):
        assert problems(f"SELECT {spelled}({args}) FROM customers", VIEWS), spelled


# Keyword syntax rather than calls (`a BETWEEN b AND c`, `CASE`, `CAST(x AS t)`): the corpus covers them.
KEYWORDS = {"between", "case", "cast", "try_cast", "when"}


@pytest.mark.parametrize(
    "name", sorted(n for n in spark_functions.ALLOWED_FUNCTIONS - KEYWORDS if re.fullmatch(r"[a-z_]\w*", n))
)
def test_every_allowed_function_is_callable(name: str) -> None:
    calls = [f"SELECT {name}({args}) FROM customers" for args in ("a", "a, 'b'", "a, 'b', 'c'", "")]
    assert any(problems(sql, VIEWS) == [] for sql in calls), problems(calls[0], VIEWS)


# ------------------------------------------------------------------------------------------------ tables


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("SELECT * FROM range(10)", "table function RANGE"),
        ("SELECT * FROM read_files('/data')", "table function READ_FILES"),
        ("SELECT * FROM read_files('s3a://bucket/x', format => 'csv')", "table function READ_FILES"),
        ("SELECT * FROM explode(array(1, 2))", "table function EXPLODE"),
        ("SELECT * FROM json_tuple('{}', 'a')", "table function JSON_TUPLE"),
        ("SELECT * FROM TABLE(customers)", "table function TABLE"),
        ("SELECT * FROM IDENTIFIER('customers')", "table function IDENTIFIER"),
        ("SELECT * FROM customers c JOIN sql_keywords() k ON true", "table function SQL_KEYWORDS"),
    ],
)
def test_table_functions_are_refused(sql: str, construct: str) -> None:
    refused(sql, construct)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM parquet.`/etc/passwd`",
        "SELECT * FROM delta.`/lake/other-domain/table`",
        "SELECT * FROM csv.`file:///etc/passwd`",
        "SELECT * FROM json.`s3a://bucket/x`",
        "SELECT * FROM `file:/etc/passwd`",
        "SELECT * FROM orc.`hdfs://nn/x`",
        "SELECT * FROM text.`/proc/self/environ`",
        "SELECT * FROM customers c JOIN binaryFile.`/var/run/secrets` s ON true",
    ],
)
def test_path_reads_are_refused(sql: str) -> None:
    refused(sql, "reads files directly")


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("SELECT * FROM other_domain_table", "'other_domain_table'"),
        ("SELECT (SELECT max(x) FROM secrets) FROM customers", "'secrets'"),
        ("SELECT * FROM customers WHERE EXISTS (SELECT 1 FROM secrets)", "'secrets'"),
        ("SELECT a FROM customers CROSS JOIN secrets", "'secrets'"),
        ("SELECT * FROM spark_catalog.default.customers", "'spark_catalog.default.customers'"),
        ("SELECT * FROM default.customers", "'default.customers'"),
        ("SELECT * FROM global_temp.customers", "'global_temp.customers'"),
        ("SELECT * FROM other_catalog.sales.orders", "'other_catalog.sales.orders'"),
        # A CTE is visible after its definition only, and not outside its own subquery.
        ("WITH a AS (SELECT * FROM b), b AS (SELECT * FROM customers) SELECT * FROM a", "'b'"),
        ("SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) y, x", "'x'"),
    ],
)
def test_tables_outside_the_inputs_are_refused(sql: str, table: str) -> None:
    refused(sql, "reads", table)


def test_an_unquoted_dotted_name_is_not_the_input_view() -> None:
    # Spark reads bronze.crm.customers as catalog bronze, database crm: never the view named "bronze.crm.customers".
    refused("SELECT * FROM bronze.crm.customers", "`bronze.crm.customers` (in backticks)")


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("SELECT * FROM customers FOR VERSION AS OF 1", "time travel"),
        ("SELECT * FROM customers TIMESTAMP AS OF '2024-01-01'", "time travel"),
        ("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r", "WITH RECURSIVE"),
        ("SELECT a FROM customers WHERE a = ?", "parameter marker"),
        ("SELECT a FROM customers WHERE a = :p", "parameter marker"),
        ("SELECT a FROM customers WHERE a = @@x", "variable"),
    ],
)
def test_other_constructs_are_refused_by_name(sql: str, construct: str) -> None:
    refused(sql, construct)


# ------------------------------------------------------------------------------------------------- hints


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("SELECT /*+ FOO(customers) */ * FROM customers", "hint FOO"),
        ("SELECT /*+ BROADCAST(customers), SKEW('x') */ * FROM customers", "hint SKEW"),
        ("SELECT /*+ REPARTITION(reflect('a','b')) */ * FROM customers", "to the hint REPARTITION"),
        ("SELECT /*+ COALESCE('x') */ * FROM customers", "to the hint COALESCE"),
        ("SELECT /*+ INDEX(customers idx) */ * FROM customers", "hint"),
    ],
)
def test_hints_other_than_planner_hints_are_refused(sql: str, construct: str) -> None:
    refused(sql, construct)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT /*+ BROADCAST(c) */ * FROM customers c JOIN sessions s ON c.id = s.id",
        "SELECT /*+ MAPJOIN(s), SHUFFLE_HASH(c) */ * FROM customers c JOIN sessions s ON c.id = s.id",
        "SELECT /*+ REPARTITION(8, id) */ * FROM customers",
        "SELECT /*+ REPARTITION_BY_RANGE(id), REBALANCE */ * FROM customers",
        "SELECT /*+ COALESCE(4) */ * FROM customers",
    ],
)
def test_planner_hints_are_allowed(sql: str) -> None:
    assert problems(sql, VIEWS) == []


# ------------------------------------------------------------------------------------------ text and size


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT '${env:AWS_SECRET_ACCESS_KEY}' AS k FROM customers",
        "SELECT '${spark.hadoop.fs.s3a.secret.key}' AS k FROM customers",
        "SELECT a FROM customers -- ${system:user.home}",
        "SELECT ${hiveconf:x} FROM customers",
    ],
)
def test_variable_substitution_is_refused(sql: str) -> None:
    refused(sql, "variable substitution")


@pytest.mark.parametrize(
    ("sql", "codepoint"),
    [
        ("SELECT ref\u200blect('a','b') FROM customers", "U+200B"),  # zero width space
        ("SELECT a FROM customers \u202e WHERE 1=1", "U+202E"),  # right-to-left override
        ("SELECT a FROM customers\x00 WHERE 1=1", "U+0000"),
        ("SELECT a\ufeff FROM customers", "U+FEFF"),
        ("SELECT a FROM customers WHERE b = '\u2066x\u2069'", "U+2066"),
    ],
)
def test_invisible_and_control_characters_are_refused(sql: str, codepoint: str) -> None:
    refused(sql, codepoint)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT " + "(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1) + " FROM customers",
        "SELECT * FROM " + "(SELECT * FROM " * 70 + "customers" + ") x" * 70,
        "SELECT " + "array(" * 70 + "1" + ")" * 70 + " FROM customers",
        "SELECT " + "(" * 100_00 + "1",
    ],
)
def test_deep_nesting_is_refused_before_parsing(sql: str) -> None:
    refused(sql, "deeper than 64 levels")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT " + "CASE WHEN a THEN " * 400 + "1" + " END" * 400 + " FROM customers",
        "SELECT * FROM customers WHERE " + " AND ".join(f"a{i} = {i}" for i in range(3000)),
        "SELECT " + " + ".join("1" for _ in range(15000)) + " FROM customers",
    ],
)
def test_deep_trees_without_brackets_are_refused_not_crashed(sql: str) -> None:
    found = refused(sql)
    assert any("too" in message and "nested" in message for message in found), found


def test_over_long_sql_is_refused() -> None:
    refused("SELECT 1 AS x FROM customers WHERE " + "x = 1 OR " * 8000 + "true", "longer than 65536")


# ----------------------------------------------------------------------------------- check expressions

COLUMNS = ["session_count", "email", "tags", "created_at", "amount", "status", "address"]
FIELD = "governance.qualityChecks[2].expression"


@pytest.mark.parametrize(
    "expression",
    [
        "session_count >= 0",
        "email RLIKE '^[^@]+@[^@]+$'",
        "size(tags) <= 10 AND array_contains(tags, 'x') IS NOT NULL",
        "created_at <= current_timestamp()",
        "coalesce(amount, 0) BETWEEN 0 AND 1e6",
        "status IN ('new', 'paid', 'refunded')",
        "address.city IS NOT NULL",
        "forall(tags, t -> length(t) < 64)",
        "CASE WHEN status = 'paid' THEN amount > 0 ELSE true END",
        "SESSION_COUNT >= 0 AND Email LIKE '%@%'",
        "datediff(current_date(), to_date(created_at)) < 3650",
        "NOT (amount < 0)",
    ],
)
def test_check_expressions_over_own_columns_pass(expression: str) -> None:
    assert expression_problems(expression, COLUMNS, FIELD) == []


@pytest.mark.parametrize(
    ("expression", "construct"),
    [
        ("1=1) OR (SELECT count(*) FROM secrets) > 0 OR (1=1", "cannot be parsed as one expression"),
        ("amount > 0) UNION SELECT * FROM secrets --", "comment"),
        ("amount > 0; DROP TABLE x", "cannot be parsed"),
        ("1=1 OR EXISTS (SELECT 1 FROM secrets)", "EXISTS"),
        ("amount IN (SELECT amount FROM secrets)", "subquery"),
        ("(SELECT max(amount) FROM secrets) > 0", "subquery"),
        ("SELECT 1", "cannot be parsed"),
        ("reflect('java.lang.System','exit','0') IS NULL", "reflect()"),
        ("lower(java_method('a', 'b')) = 'x'", "java_method()"),
        ("input_file_name() = ''", "input_file_name()"),
        ("count(*) > 0", "count()"),
        ("sum(amount) > 0", "sum()"),
        ("sum(amount) OVER () > 0", "window function"),
        ("row_number() OVER (ORDER BY amount) = 1", "window function"),
        ("explode(tags) IS NOT NULL", "explode()"),
        ("nope > 0", "unknown column 'nope'"),
        ("secrets.amount > 0", "unknown column 'secrets'"),
        ("amount > 0 -- ", "comment"),
        ("amount > 0 /* x */", "comment"),
        ("amount > 0 AS ok", "cannot be parsed"),
        ("amount > ${env:HOME}", "variable substitution"),
        ("amount > ?", "parameter marker"),
        ("amount > 0)", "cannot be parsed"),
        ("/*+ BROADCAST(x) */ amount > 0", ""),
    ],
)
def test_check_expressions_that_escape_a_scalar_are_refused(expression: str, construct: str) -> None:
    found = expression_problems(expression, COLUMNS, FIELD)
    assert found, expression
    assert all(message.startswith(FIELD) and "\n" not in message for message in found), found
    assert construct.lower() in " | ".join(found).lower(), found
