"""Reading the inputs and registering each as a temporary view the transform can query.

View naming: an input is visible under its `alias` when it has one. Otherwise a source is visible under its
dotted name as ONE identifier, so SQL quotes it with backticks (`bronze.crm.customers`), and a product
under its name with '-' turned into '_' (customer-360 -> customer_360).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from datamesh.build.contract import ResolvedInput
from datamesh.build.errors import BuildError, classify, one_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def quoted(view: str) -> str:
    """The view name as SQL must write it."""
    return view if view.replace("_", "a").isalnum() and not view[:1].isdigit() else f"`{view}`"


def is_local(location: str) -> bool:
    scheme = urlparse(location).scheme
    return scheme in ("", "file") or len(scheme) == 1  # one letter: a Windows drive, not a scheme


def local_path(location: str) -> str:
    return urlparse(location).path if location.startswith("file:") else location


@dataclass
class LoadedInputs:
    frames: dict[str, DataFrame] = field(default_factory=dict)
    """View name -> frame, also what a Python transform receives."""
    versions: dict[str, int] = field(default_factory=dict)
    """Input ref -> Delta version read, for Delta inputs."""


def _check_exists(item: ResolvedInput) -> None:
    if is_local(item.location) and not os.path.exists(local_path(item.location)):
        raise BuildError("InputMissing", f"input {item.ref} ({item.kind} of {item.domain}): no data at {item.location}")


def _read(spark: SparkSession, item: ResolvedInput, versions: dict[str, int]) -> DataFrame:
    from delta.tables import DeltaTable

    if item.format == "delta":
        if not DeltaTable.isDeltaTable(spark, item.location):
            raise BuildError("InputMissing", f"input {item.ref}: no Delta table at {item.location}")
        version = int(DeltaTable.forPath(spark, item.location).history(1).collect()[0]["version"])
        versions[item.ref] = version
        # Pinned, so the version recorded in the commit is exactly the one read even if upstream publishes meanwhile.
        return spark.read.format("delta").options(**item.options).option("versionAsOf", version).load(item.location)
    reader = spark.read.format(item.format).options(**item.options)
    if item.read_schema:
        try:
            reader = reader.schema(item.read_schema)
        except Exception as error:
            raise BuildError(
                "InputError", f"input {item.ref}: schema {item.read_schema!r}: {one_line(str(error))}"
            ) from error
    return reader.load(item.location)


def apply_pii(df: DataFrame, item: ResolvedInput) -> DataFrame:
    """The consumer's view of the input's PII columns: dropped (exclude), sha2-256 hex (mask) or as is (clear)."""
    from pyspark.sql import functions as F

    present = {c.lower(): c for c in df.columns}
    columns = [present[c.lower()] for c in item.pii_columns if c.lower() in present]
    if item.pii == "clear" or not columns:
        return df
    if item.pii == "exclude":
        return df.drop(*columns)
    return df.withColumns({c: F.sha2(F.col(f"`{c}`").cast("string"), 256) for c in columns})


def register(spark: SparkSession, inputs: Sequence[ResolvedInput]) -> LoadedInputs:
    """Read every input and register its view; raises BuildError naming the input that failed."""
    loaded = LoadedInputs()
    for item in inputs:
        _check_exists(item)
        try:
            df = apply_pii(_read(spark, item, loaded.versions), item)
        except BuildError:
            raise
        except Exception as error:
            text = str(error)
            if "PATH_NOT_FOUND" in text or "Path does not exist" in text or "UNABLE_TO_INFER_SCHEMA" in text:
                raise BuildError("InputMissing", f"input {item.ref}: no readable data at {item.location}") from error
            found = classify(error, "InputError")
            raise BuildError(found.reason, f"input {item.ref}: {one_line(text)}") from error
        # A dotted name is one identifier here: backticks make Spark take it whole, not as db.table.
        df.createOrReplaceTempView(f"`{item.view}`" if "." in item.view else item.view)
        loaded.frames[item.view] = df
    return loaded
