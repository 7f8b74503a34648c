"""Staging the result and publishing it to the product's Delta table in one atomic commit.

The result is written once, as parquet under `<location>/_staging/<run id>`, by the job that also gathers the
quality metrics. Only when every blocking check passed is it published: one Delta commit (overwrite, or merge
on the primary key) whose commit info carries the run id, quality results and input versions. A failed build
never touches the table's log, so the published version and its rows stay exactly as they were.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datamesh.build.retention import DEFAULT_VACUUM_HOURS, VACUUM_HOURS_ENV, RetentionRule

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGING_DIR = "_staging"
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


def staging_path(location: str, run_id: str) -> str:
    # A leading underscore hides the folder from Delta (and from vacuum) inside the table's own location.
    return f"{location.rstrip('/')}/{STAGING_DIR}/{run_id}"


def current_version(spark: SparkSession, location: str) -> int | None:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, location):
        return None
    return int(DeltaTable.forPath(spark, location).history(1).collect()[0]["version"])


def commit_metadata(run_id: str, score: float, checks: list[dict[str, Any]], versions: dict[str, int]) -> str:
    return json.dumps({"runId": run_id, "qualityScore": score, "checks": checks, "inputVersions": versions})


@dataclass(frozen=True)
class Published:
    version: int
    row_count: int
    rows_deleted: int
    """Rows of the previous table removed by retention (merge writes)."""


def publish(
    spark: SparkSession,
    staged: str,
    location: str,
    mode: str,
    keys: list[str],
    user_metadata: str,
    rule: RetentionRule | None,
    staged_rows: int,
) -> Published:
    from delta.tables import DeltaTable

    data = spark.read.parquet(staged)
    exists = DeltaTable.isDeltaTable(spark, location)
    deleted = 0
    if mode == "merge" and exists:
        deleted = _merge(spark, data, location, keys, user_metadata, rule)
        row_count = spark.read.format("delta").load(location).count()
    else:
        (
            data.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("userMetadata", user_metadata)
            .save(location)
        )
        row_count = staged_rows
    version = int(DeltaTable.forPath(spark, location).history(1).collect()[0]["version"])
    return Published(version, row_count, deleted)


def _merge(
    spark: SparkSession, data: DataFrame, location: str, keys: list[str], user_metadata: str, rule: RetentionRule | None
) -> int:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    target = DeltaTable.forPath(spark, location)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    merge = target.alias("t").merge(data.alias("s"), condition).whenMatchedUpdateAll().whenNotMatchedInsertAll()
    if rule is not None:
        merge = merge.whenNotMatchedBySourceDelete(F.col(f"t.`{rule.column}`") < F.lit(rule.cutoff))
    # MERGE has no userMetadata option; the session setting applies to the next commit only while it is set.
    spark.conf.set(USER_METADATA_CONF, user_metadata)
    try:
        merge.execute()
    finally:
        spark.conf.unset(USER_METADATA_CONF)
    metrics = target.history(1).collect()[0]["operationMetrics"] or {}
    return int(metrics.get("numTargetRowsDeleted", 0) or 0)


def vacuum(spark: SparkSession, location: str) -> None:
    """Drop data files no version within the retention window needs (deleted rows leave storage with them)."""
    from delta.tables import DeltaTable

    hours = float(os.environ.get(VACUUM_HOURS_ENV) or DEFAULT_VACUUM_HOURS)
    if hours < DEFAULT_VACUUM_HOURS:
        # A shorter window is an explicit operator decision (env), which Delta otherwise refuses.
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    DeltaTable.forPath(spark, location).vacuum(hours)


def remove(spark: SparkSession, path: str) -> None:
    """Delete a folder through Hadoop's filesystem layer, so object stores work as well as local disks."""
    # PySpark has no public call that deletes a path; Hadoop's FileSystem is what Spark itself uses.
    jvm: Any = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration())
    fs.delete(hadoop_path, True)


#: Set to a name template such as `gold_{domain}.{product}` (or `gold.{domain}.{product}` with a three-level
#: catalog) to register every published table in the session's catalog, as the seed's
#: `CREATE TABLE IF NOT EXISTS gold.<domain>.<product> USING DELTA LOCATION ...` does. Useful where Spark is
#: configured with a persistent metastore (spark.sql.catalogImplementation=hive and its URIs).
METASTORE_TABLE_ENV = "DATAMESH_METASTORE_TABLE"


def metastore_name(template: str, domain: str, product: str) -> str:
    """The table name for a product, with '-' (not allowed in unquoted SQL names) turned into '_'."""
    return template.format(domain=domain.replace("-", "_"), product=product.replace("-", "_"))


def register_table(spark: SparkSession, name: str, location: str) -> None:
    """`CREATE TABLE IF NOT EXISTS name USING DELTA LOCATION location`, creating its namespace first."""
    parts = name.split(".")
    quoted = ".".join(f"`{part}`" for part in parts)
    if len(parts) > 1:
        spark.sql("CREATE NAMESPACE IF NOT EXISTS " + ".".join(f"`{part}`" for part in parts[:-1]))
    escaped = location.replace("'", "\\'")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {quoted} USING DELTA LOCATION '{escaped}'")
