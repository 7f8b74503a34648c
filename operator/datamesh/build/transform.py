"""Running the product's transform: Spark SQL over the input views, or a Python entry point."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from datamesh import settings
from datamesh.api.dataproduct import Transform
from datamesh.api.entrypoints import entry_point_problems, parse_prefixes
from datamesh.build import sqlguard
from datamesh.build.errors import BuildError, classify

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from datamesh.build.backend import Backend


def guarded_transform_sql(spark: SparkSession, sql: str, inputs: Mapping[str, DataFrame]) -> DataFrame:
    """`sqlguard.guarded_sql` with every failure a BuildError: what a local build and the warm engine both run."""
    try:
        return sqlguard.guarded_sql(spark, sql, inputs)
    except BuildError:
        raise
    except Exception as error:
        found = classify(error, "SqlError")
        raise BuildError(found.reason, f"transform SQL: {found.message}") from error


def run_transform(
    spark: SparkSession, transform: Transform, inputs: dict[str, DataFrame], backend: Backend | None = None
) -> DataFrame:
    """The (lazy) result frame. Parsing and analysis happen here, so SQL errors surface before any job runs.

    SQL runs only after the build's own check (`sqlguard`) proved it a query over `inputs` (view name ->
    frame) alone; what it refuses is a BuildError with reason SqlRefused. With a warm engine (`backend`) the
    engine runs that check on the build's own session."""
    from pyspark.sql import DataFrame

    if transform.sql is not None:
        if backend is not None:
            return backend.guarded_sql(transform.sql, inputs)
        return guarded_transform_sql(spark, transform.sql, inputs)
    entry = str(transform.python)
    # The platform's allow-list again, before any import runs module code (the operator passes it to the Job).
    refused = entry_point_problems(entry, parse_prefixes(settings.PYTHON_TRANSFORMS.get()), "transform")
    if refused:
        raise BuildError("TransformNotAllowed", refused[0])
    module_name, _, function_name = entry.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise BuildError("TransformError", f"transform {entry}: cannot load entry point: {error}") from error
    try:
        result = function(spark, inputs)
    except Exception as error:
        found = classify(error, "TransformError")
        raise BuildError(found.reason, f"transform {entry}: {found.message}") from error
    if not isinstance(result, DataFrame):
        raise BuildError("TransformError", f"transform {entry} returned {type(result).__name__}, not a DataFrame")
    return result
