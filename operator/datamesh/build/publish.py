"""Staging the result and publishing it to the product's Delta table in one atomic commit.

The result is written once, as parquet, by the job that runs the transform, into a run folder
inside the table's root: `<location>/run-<run id>-<random>/` (`staging_path`). Delta reads only the files its log
names, so until they are committed these files are invisible to every reader. The folder name deliberately
does not start with `_` or `.`: Delta's vacuum skips such folders, whereas files in `run-*` that no version
references (those of replaced versions, or of a build killed before it could delete its folder) are removed
by vacuum like any other unreferenced file, once they are older than the retention window. (As with any
Delta writer, a vacuum with a zero-hour window can delete the files of a build still in flight.)

Only when every blocking check passed is the result published, in ONE Delta commit whose `userMetadata`
holds the run id, quality results and input versions (`commit_metadata`):

- `overwrite` (the default), and the first publish of a `merge` product: the staged files are committed as
  they are (`datamesh.build.commit`, delta-rs): a metadata-only commit, no data read or rewritten. The first
  publish creates the table at version 0. Where that is not possible (`commit.eligibility`: object stores,
  schemas needing Delta table features, no `deltalake`, or `DATAMESH_PUBLISH_METHOD=copy`; an existing table with
  CHECK constraints, generated or identity columns or column mapping, which only a writer reading the data can
  honour) Spark re-reads the staged files and overwrites the table with them, replacing its schema.
- `merge` (output `mode: merge`) into an existing table: Spark's MERGE on the primary key reads the staged
  files; with retention, the same commit deletes the table's expired rows.

After a Spark publish (copy or merge) and after any failed build the run folder is deleted; after a
metadata-only commit its files are the table's data. A failed build never touches the table's log, so the
published version and its rows stay exactly as they were.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datamesh import settings
from datamesh.build.commit import NeedsSpark, commit, eligibility, latest_commit
from datamesh.build.errors import BuildError, classify
from datamesh.build.retention import RetentionRule

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from datamesh.build.backend import Backend

RUN_PREFIX = "run-"
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
#: Delta's data files carry INT64 microsecond timestamps (Spark's default, INT96, is deprecated in parquet and has
#: no statistics); set for the staged write only, so the session's other writes keep their settings.
TIMESTAMP_TYPE_CONF = "spark.sql.parquet.outputTimestampType"
#: Hadoop's `_SUCCESS` marker would be left behind in the table's folder: the commit (or its absence) is the marker.
SUCCESS_MARKER_OPTION = "mapreduce.fileoutputcommitter.marksuccessfuljobs"


def staging_path(location: str, run_id: str) -> str:
    """A new folder `<location>/run-<run id>-<random>` for one build attempt.

    The random part makes it unique even when a run id comes back (a re-created Job, a manual rebuild with a
    fixed id): a build must never write into a folder whose files a published version references. The run id
    is reduced to characters that need no escaping in a Delta log path.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", run_id)
    return f"{location.rstrip('/')}/{RUN_PREFIX}{safe}-{uuid.uuid4().hex[:8]}"


@dataclass
class Staging:
    """The run folder of one build and whether its files must survive the build."""

    path: str
    keep: bool = False
    """True once a metadata-only commit of the files was attempted and may have landed: they may be table data."""


def commit_metadata(
    run_id: str, score: float, checks: list[dict[str, Any]], versions: dict[str, int], *, product_uid: str
) -> str:
    """The commit's `userMetadata`. The operator trusts a publish only when the table's log holds a commit with
    this run id and product uid (controller/verify.py), and deletes only tables whose commits carry the uid."""
    return json.dumps(
        {"runId": run_id, "productUid": product_uid, "qualityScore": score, "checks": checks, "inputVersions": versions}
    )


def write_staged(spark: SparkSession, frame: DataFrame, path: str) -> None:
    """Write the result as Delta-compatible parquet files into the run folder (the quality checks read them)."""
    previous = spark.conf.get(TIMESTAMP_TYPE_CONF, None)  # None: not set in this session (Spark's default)
    spark.conf.set(TIMESTAMP_TYPE_CONF, "TIMESTAMP_MICROS")
    try:
        # `error`: never replace an existing folder (it could hold a published version's files).
        frame.write.mode("error").option(SUCCESS_MARKER_OPTION, "false").parquet(path)
    finally:
        if previous is None:
            spark.conf.unset(TIMESTAMP_TYPE_CONF)
        else:
            spark.conf.set(TIMESTAMP_TYPE_CONF, previous)


@dataclass(frozen=True)
class Published:
    version: int
    row_count: int
    rows_deleted: int
    """Rows of the previous table removed by retention (merge writes)."""
    method: str = "commit"
    """How: `commit` (metadata-only, delta-rs), `copy` (Spark rewrites the files) or `merge` (Spark MERGE)."""


def publish(
    spark: SparkSession,
    staging: Staging,
    location: str,
    mode: str,
    keys: list[str],
    user_metadata: str,
    rule: RetentionRule | None,
    staged_rows: int,
    schema_json: str,
    backend: Backend | None = None,
) -> Published:
    """Publish the staged files in one commit (see the module docstring for which way)."""
    from datamesh.build.backend import LocalBackend

    using = backend or LocalBackend(spark)
    if mode == "merge" and using.delta_version(location) is not None:
        using.require_table_api("a merge into the existing table needs Delta's MERGE (DeltaTable API)")
        deleted = _merge(spark, spark.read.parquet(staging.path), location, keys, user_metadata, rule)
        row_count = spark.read.format("delta").load(location).count()
        return Published(_spark_version(using, location), row_count, deleted, "merge")
    if eligibility(location, schema_json) is None:
        try:
            return Published(_commit(staging, location, schema_json, user_metadata), staged_rows, 0, "commit")
        except NeedsSpark:
            pass  # the table's own rules need Spark's writer: copy below
    (
        spark.read.parquet(staging.path)
        .write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .option("userMetadata", user_metadata)
        .save(location)
    )
    return Published(_spark_version(using, location), staged_rows, 0, "copy")


def _spark_version(backend: Backend, location: str) -> int:
    version = backend.delta_version(location)
    if version is None:
        raise BuildError("PublishFailed", f"no Delta table at {location} after Spark wrote it")
    return version


def _commit(staging: Staging, location: str, schema_json: str, user_metadata: str) -> int:
    """The metadata-only commit; on failure, whether it landed anyway decides if the files may be deleted."""
    staging.keep = True
    try:
        return commit(location, staging.path, schema_json, user_metadata)
    except NeedsSpark:
        staging.keep = False
        raise
    except Exception as error:
        found = classify(error, "PublishFailed")
        failed = BuildError(found.reason, f"delta-rs could not commit the staged files to {location}: {found.message}")
        try:
            newest = latest_commit(location)
        except Exception:  # unknown outcome: keep the files (vacuum removes them if no version references them)
            raise failed from error
        if newest is not None and newest[1] == user_metadata:
            return newest[0]  # the commit landed (a post-commit step failed): the build is published
        staging.keep = False
        raise failed from error


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


def vacuum(spark: SparkSession, location: str, backend: Backend | None = None) -> None:
    """Drop data files no version within the retention window needs (deleted rows leave storage with them)."""
    from datamesh.build.backend import LocalBackend

    (backend or LocalBackend(spark)).vacuum(location, float(settings.VACUUM_RETAIN_HOURS.get()))


def remove(spark: SparkSession, path: str, backend: Backend | None = None) -> None:
    """Delete a folder (through Hadoop's filesystem layer in a local session, so object stores work too)."""
    from datamesh.build.backend import LocalBackend

    (backend or LocalBackend(spark)).remove(path)


#: Set to a name template such as `gold_{domain}.{product}` (or `gold.{domain}.{product}` with a three-level
#: catalog) to register every published table in the session's catalog, as the seed's
#: `CREATE TABLE IF NOT EXISTS gold.<domain>.<product> USING DELTA LOCATION ...` does. Useful where Spark is
#: configured with a persistent metastore (spark.sql.catalogImplementation=hive and its URIs).
METASTORE_TABLE_ENV = settings.METASTORE_TABLE.name


def metastore_name(template: str, domain: str, product: str) -> str:
    """The table name for a product, with '-' (not allowed in unquoted SQL names) turned into '_'."""
    return template.format(domain=domain.replace("-", "_"), product=product.replace("-", "_"))


def register_table(spark: SparkSession, name: str, location: str, backend: Backend | None = None) -> None:
    """`CREATE TABLE IF NOT EXISTS name USING DELTA LOCATION location`, creating its namespace first."""
    if backend is not None:
        backend.require_table_api(f"registering {name} needs the session catalog of the build's own Spark")
    parts = name.split(".")
    quoted = ".".join(f"`{part}`" for part in parts)
    if len(parts) > 1:
        spark.sql("CREATE NAMESPACE IF NOT EXISTS " + ".".join(f"`{part}`" for part in parts[:-1]))
    escaped = location.replace("'", "\\'")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {quoted} USING DELTA LOCATION '{escaped}'")
