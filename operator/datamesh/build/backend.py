"""Where a build's Spark runs: the one seam between a local session and a domain's warm engine (Spark Connect).

Why a module of our own: most of a build is the DataFrame API, which pyspark runs the same in a local session and
over Spark Connect. A few steps reach into Spark's JVM through py4j (Spark's SQL parser and analyser for the SQL
guard, Java's regular expressions, Delta's and Hadoop's Java APIs), and a Spark Connect client has no JVM. Those
steps, and only those, go through a `Backend`:

- `LocalBackend`: today's calls on the session's own JVM;
- `datamesh.build.connect.ConnectBackend`: the warm engine's guard (the same checks, run by the engine on the
  build's own Connect session) and pure-Python equivalents on the build pod's mounts (delta-rs, shutil).

Every other module takes an optional backend and falls back to `LocalBackend(spark)`, so a caller with a plain
session (the tests, the benchmark) sees no difference.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from datamesh.api import reasons
from datamesh.build.errors import BuildError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The reason of a build step the warm engine cannot run: the operator sends such products to pod builds.
ENGINE_UNSUPPORTED = reasons.ENGINE_UNSUPPORTED


class Backend(Protocol):
    """The steps of a build that need more than the DataFrame API."""

    @property
    def spark(self) -> SparkSession: ...

    def guarded_sql(self, sql: str, inputs: Mapping[str, DataFrame]) -> DataFrame:
        """The transform's lazy frame once `sqlguard` proved it a query over the input views (BuildError else)."""
        ...

    def check_expression(self, expression: str, check: str, columns: Collection[str] | None) -> None:
        """`sqlguard.check_expression`: raises BuildError for a quality check's refused `sql` expression."""
        ...

    def pattern_problems(self, patterns: Sequence[str]) -> list[str | None]:
        """Per pattern, why `java.util.regex` cannot compile it (None: it compiles)."""
        ...

    def delta_version(self, location: str) -> int | None:
        """The newest version of the Delta table at `location`; None when there is no Delta table there."""
        ...

    def remove(self, path: str) -> None:
        """Delete the folder `path` and everything in it."""
        ...

    def vacuum(self, location: str, hours: float) -> None:
        """Delete the table's data files that no version of the last `hours` references, committing nothing."""
        ...

    def require_table_api(self, why: str) -> None:
        """Raise BuildError(EngineUnsupported) when Delta's Spark API (DeltaTable, the catalog) is out of reach."""
        ...

    def close(self) -> None:
        """Release what the backend opened for this build."""
        ...


class LocalBackend:
    """The session's own JVM: what every build did before the warm engine."""

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark

    @property
    def spark(self) -> SparkSession:
        return self._spark

    def guarded_sql(self, sql: str, inputs: Mapping[str, DataFrame]) -> DataFrame:
        from datamesh.build.transform import guarded_transform_sql

        return guarded_transform_sql(self._spark, sql, inputs)

    def check_expression(self, expression: str, check: str, columns: Collection[str] | None) -> None:
        from datamesh.build.sqlguard import check_expression

        check_expression(self._spark, expression, check, columns)

    def pattern_problems(self, patterns: Sequence[str]) -> list[str | None]:
        from datamesh.build.measure import java_pattern_problems

        return java_pattern_problems(self._spark, patterns)

    def delta_version(self, location: str) -> int | None:
        from delta.tables import DeltaTable

        if not DeltaTable.isDeltaTable(self._spark, location):
            return None
        return int(DeltaTable.forPath(self._spark, location).history(1).collect()[0]["version"])

    def remove(self, path: str) -> None:
        # PySpark has no public call that deletes a path; Hadoop's FileSystem is what Spark itself uses, so object
        # stores work as well as local disks.
        jvm: Any = self._spark._jvm
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        fs = hadoop_path.getFileSystem(self._spark._jsc.hadoopConfiguration())
        fs.delete(hadoop_path, True)

    def vacuum(self, location: str, hours: float) -> None:
        from delta.tables import DeltaTable

        from datamesh.build.retention import DEFAULT_VACUUM_HOURS

        if hours < DEFAULT_VACUUM_HOURS:
            # A shorter window is an explicit operator decision (env), which Delta otherwise refuses.
            self._spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        DeltaTable.forPath(self._spark, location).vacuum(hours)

    def require_table_api(self, why: str) -> None:
        return None

    def close(self) -> None:
        return None  # the session outlives the build: the caller (or the pod's end) stops it


def unsupported(why: str) -> BuildError:
    return BuildError(ENGINE_UNSUPPORTED, f"the domain's warm engine cannot run this build: {why}")
