"""What a SQL transform may do: one query that reads only the product's declared inputs.

Checked without a JVM (sqlglot's Spark dialect), so admission, `datamesh validate` and the operator refuse a
transform that writes, drops, runs several statements or reads anything but its inputs (other tables,
files through `parquet.`/path``, table functions such as read_files) before a build ever starts. The build
session also disables SQL on files, as a second line.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError


def _name(table: exp.Table) -> str:
    return ".".join(part for part in (table.catalog, table.db, table.name) if part)


def problems(sql: str, views: Iterable[str]) -> list[str]:
    """Why `sql` is not an acceptable transform over `views`; empty when it is."""
    return list(_problems(sql, tuple(sorted(views))))


@functools.lru_cache(maxsize=4096)
def _problems(sql: str, views: tuple[str, ...]) -> tuple[str, ...]:
    # Every watch event re-validates a product; parsing its SQL once per distinct (sql, inputs) is enough.
    return tuple(_check(sql, views))


def _check(sql: str, views: tuple[str, ...]) -> list[str]:
    try:
        statements = [s for s in sqlglot.parse(sql, read="spark") if s is not None]
    except ParseError:
        # Spark is the authority on its own syntax, and sqlglot's grammar has gaps: a query it cannot parse is
        # left to the build, which reports Spark's own SqlError. Only what parses is held to the rules below.
        return []
    if len(statements) != 1:
        return [f"transform.sql must be a single query, found {len(statements)} statements"]
    query = statements[0]
    if not isinstance(query, exp.Query):
        return [f"transform.sql must be a query (SELECT or WITH), not {query.key.upper()}"]
    allowed = {v.lower() for v in views} | {cte.alias.lower() for cte in query.find_all(exp.CTE)}
    found = []
    for table in query.find_all(exp.Table):
        if isinstance(table.this, exp.Func):
            found.append(f"transform.sql calls table function {table.this.sql(dialect='spark')!r}; read inputs only")
            continue
        name = _name(table)
        if name.lower() not in allowed:
            found.append(f"transform.sql reads {name!r}, which is not one of the inputs ({', '.join(sorted(views))})")
    return sorted(set(found))
