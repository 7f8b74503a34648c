"""The corpus is real Spark SQL, and the function lists match Spark's registry.

Spark analyses (resolves names, functions and types of) every corpus query against empty temp views with the
corpus schemas; nothing runs. Together with tests/api/test_sql_corpus.py this shows the wall accepts what
teams write and that what it accepts is valid Spark SQL.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datamesh.api.spark_functions import registry_differences
from tests.api.sql_corpus import CORPUS, SCHEMAS

pytestmark = pytest.mark.spark

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "spark_functions.py"


@pytest.fixture(scope="module")
def views(spark: Any) -> Iterator[Any]:
    names = [f"`{name}`" if "." in name else name for name in SCHEMAS]
    for (name, schema), quoted in zip(SCHEMAS.items(), names, strict=True):
        spark.createDataFrame([], schema).createOrReplaceTempView(quoted)
        assert name in {t.name for t in spark.catalog.listTables()} or "." in name
    yield spark
    for name in SCHEMAS:
        spark.catalog.dropTempView(name)


@pytest.mark.parametrize("sql", [sql for _, _, sql in CORPUS], ids=[c[0] for c in CORPUS])
def test_spark_analyses_every_corpus_query(views: Any, sql: str) -> None:
    schema = views.sql(sql).schema
    assert len(schema.fields) >= 1


def test_the_function_lists_cover_the_spark_registry_exactly(spark: Any) -> None:
    spec = importlib.util.spec_from_file_location("spark_functions_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    registry = script.registry(spark)
    assert len(registry) > 500
    assert registry_differences(registry) == []
