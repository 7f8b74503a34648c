"""A SQL transform is one query over the declared inputs, checked without Spark."""

import pytest

from datamesh.api.sqlcheck import problems

VIEWS = ["customers", "sessions", "bronze.crm.customers"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM customers",
        "SELECT c.*, s.n FROM customers c LEFT JOIN (SELECT customer_id, count(*) AS n FROM sessions GROUP BY 1) s "
        "ON c.customer_id = s.customer_id",
        "WITH s AS (SELECT * FROM sessions) SELECT * FROM s JOIN `bronze.crm.customers` b ON s.id = b.id",
        "SELECT * FROM bronze.crm.customers UNION ALL SELECT * FROM customers",
        "SELECT * FROM CUSTOMERS",
    ],
)
def test_queries_over_the_inputs_pass(sql: str) -> None:
    assert problems(sql, VIEWS) == []


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("DROP TABLE customers", "must be a query (SELECT or WITH), not DROP"),
        ("INSERT INTO customers SELECT * FROM sessions", "not INSERT"),
        ("SELECT 1; DROP TABLE customers", "single query, found 2 statements"),
        ("SELECT * FROM parquet.`/etc/passwd`", "reads 'parquet./etc/passwd'"),
        ("SELECT * FROM read_files('/data')", "table function"),
        ("SELECT * FROM other_domain_table", "reads 'other_domain_table', which is not one of the inputs"),
        ("SELECT (SELECT max(x) FROM secrets) FROM customers", "reads 'secrets'"),
    ],
)
def test_writes_and_reads_outside_the_inputs_are_refused(sql: str, expected: str) -> None:
    found = problems(sql, VIEWS)
    assert any(expected in p for p in found), found


def test_unparseable_sql_is_left_to_spark() -> None:
    assert problems("SELECT * FROM customers WHERE (", VIEWS) == []


def test_something_that_is_not_a_query_is_refused() -> None:
    assert problems("SELEC oops", VIEWS) == ["transform.sql must be a query (SELECT or WITH), not ALIAS"]
