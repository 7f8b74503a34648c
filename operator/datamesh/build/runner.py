"""One build: request in, result out. Bad input never raises; it becomes a result with a reason.

Spark jobs per build: one runs the transform, conforms it and writes the staged parquet into the table's run
folder, observing the quality metrics as it writes; row counts, null counts and integer/time extremes come from
the staged files' footers, and uniqueness from one grouping of the key columns (see `measure`). When the checks
pass, the staged files are committed
to the Delta table as they are (a metadata-only commit) or, where that is not possible, through Spark (see
`publish`). Caching is deliberately absent: each step reads what it needs once.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from datamesh import settings
from datamesh.build import confine, conform, measure, quality
from datamesh.build.backend import Backend, LocalBackend
from datamesh.build.errors import BuildError, classify
from datamesh.build.inputs import register
from datamesh.build.publish import (
    Staging,
    commit_metadata,
    metastore_name,
    publish,
    register_table,
    remove,
    staging_path,
    vacuum,
    write_staged,
)
from datamesh.build.retention import RetentionRule, retention_rule
from datamesh.build.shares import write_share_copy
from datamesh.build.transform import run_transform
from datamesh.mesh.contract import BuildRequest, BuildResult, RetentionResult
from datamesh.placement import is_local
from datamesh.sharing_copy import CopyMode

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Observation, SparkSession

Progress = Callable[[str], None]
#: The OpenLineage transports of `datamesh.catalog.lineage` (URL_ENV, FILE_ENV). Checked before importing it:
#: the catalog package costs about a second of imports, which a build without a transport need not pay.
LINEAGE_ENVS = ("OPENLINEAGE_URL", "DATAMESH_LINEAGE_FILE")


def _quiet(_: str) -> None:
    return None


@dataclass
class Timings:
    """Seconds per phase, for progress output and the benchmark."""

    phases: dict[str, float] = field(default_factory=dict)
    _mark: float = field(default_factory=time.monotonic)

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._mark
        self._mark = now


def run_build(
    request: BuildRequest,
    spark: SparkSession | None = None,
    progress: Progress = _quiet,
    timings: Timings | None = None,
    now: datetime | None = None,
) -> BuildResult:
    """Build, check and (if the checks pass) publish one product."""
    _lineage(request, None)
    started = datetime.now(UTC)
    clock = time.monotonic()
    result = BuildResult(outcome="Failed", run_id=request.run_id, started_at=started, location=request.output_location)
    laps = timings or Timings()
    if request.no_op:
        result.outcome = "NoOp"
    elif request.spec.transform is None:
        result.reason, result.message = "NoTransform", "the product has no transform; nothing to build"
    else:
        staging = Staging(staging_path(request.output_location, request.run_id))
        backend: Backend | None = None
        try:
            confine.check(request)  # before Spark starts, and before anything is written
            backend = LocalBackend(spark) if spark is not None else _backend(request, progress)
            laps.lap("session")
            _build(backend, request, staging, result, progress, laps, now or started)
        except BuildError as error:
            result.reason, result.message = error.reason, error.message
        except Exception as error:
            found = classify(error, "BuildFailed")
            result.reason, result.message = found.reason, found.message
        finally:
            if backend is not None:
                if not staging.keep:
                    _cleanup(backend, staging.path)
                backend.close()
    result.finished_at = datetime.now(UTC)
    result.duration_seconds = round(time.monotonic() - clock, 3)
    _lineage(request, result)
    return result


def _lineage(request: BuildRequest, result: BuildResult | None) -> None:
    """OpenLineage START/COMPLETE/FAIL events, when a transport is configured (OPENLINEAGE_URL or
    DATAMESH_LINEAGE_FILE). Lineage is optional: without the catalog extra installed nothing is emitted."""
    if request.no_op or not (os.environ.get("OPENLINEAGE_URL") or settings.LINEAGE_FILE.get()):
        return
    try:
        from datamesh.catalog.lineage import emit_build_events
    except ImportError:
        return
    emit_build_events(request, result, started=result is None)


def _backend(request: BuildRequest, progress: Progress) -> Backend:
    """The domain's warm engine when the operator named one (DATAMESH_ENGINE_URL), else Spark in this process."""
    if settings.ENGINE_URL.get():
        from datamesh.build.connect import open_backend

        return open_backend(request, progress)
    from datamesh.build.session import create_session

    try:
        return LocalBackend(create_session())
    except Exception as error:
        raise BuildError("SparkUnavailable", f"cannot start Spark: {error}") from error


def _cleanup(backend: Backend, staged: str) -> None:
    try:
        remove(backend.spark, staged, backend)
    except Exception:  # a leftover must not fail a finished build; vacuum removes unreferenced files later
        return


def _observe(frame: DataFrame, name: str, columns: list[Any]) -> tuple[DataFrame, Observation | None]:
    from pyspark.sql import Observation

    if not columns:
        return frame, None
    observation = Observation(name)
    return frame.observe(observation, *columns), observation


def _stage(
    backend: Backend,
    request: BuildRequest,
    df: DataFrame,
    plan: conform.ConformPlan,
    checks: quality.CheckPlan,
    rule: RetentionRule | None,
    staged: str,
) -> tuple[DataFrame, measure.MeasurePlan, Observation | None, Observation | None, Observation | None]:
    """The frame to write: cast failures observed on the raw result, then the conformed, retained rows, with
    the quality metrics that the staged files' footers do not hold observed on them."""
    from pyspark.sql import functions as F

    selected, failures = conform.projection(plan)
    frame, cast_obs = _observe(df, "cast", failures)
    frame = frame.select(*selected)
    retention_obs = None
    if rule is not None:
        column = F.col(f"`{rule.column}`")
        frame, retention_obs = _observe(frame, "retention", [F.count_if(column < F.lit(rule.cutoff)).alias("expired")])
        frame = frame.where(column.isNull() | (column >= F.lit(rule.cutoff)))
    refused = measure.pattern_errors(backend.spark, checks, backend.pattern_problems)
    measuring = measure.plan_measurement(checks, frame.dtypes, is_local(staged), quality.arrow_max_rows(), refused)
    try:
        frame, quality_obs = _observe(
            frame, "quality", quality.aggregates(checks, measuring.observed, frame.columns, backend.check_expression)
        )
    except Exception as error:
        found = classify(error, "SqlError")
        raise BuildError(found.reason, f"quality checks of {request.name}: {found.message}") from error
    return frame, measuring, cast_obs, retention_obs, quality_obs


def _warm_up_arrow(measuring: measure.MeasurePlan) -> threading.Thread | None:
    """Prepare pyarrow in the background when it reads footers or groups keys (see quality.warm_up_arrow)."""
    if measuring.arrow_rows <= 0:
        return None

    def warm_up() -> None:
        try:
            quality.warm_up_arrow()
        except Exception:  # only a head start: the check itself reports any real problem
            return

    thread = threading.Thread(target=warm_up, name="arrow-warm-up", daemon=True)
    thread.start()
    return thread


def _build(
    backend: Backend,
    request: BuildRequest,
    staging: Staging,
    result: BuildResult,
    progress: Progress,
    laps: Timings,
    now: datetime,
) -> None:
    spark = backend.spark
    spec = request.spec
    assert spec.transform is not None
    progress(f"reading {len(request.inputs)} input(s)")
    loaded = register(spark, request.inputs, backend=backend)
    result.input_versions = loaded.versions
    df = run_transform(spark, spec.transform, loaded.frames, backend)
    plan = conform.plan_conform(df.dtypes, spec.schema_, spec.transform.allow_extra_columns)
    if not plan.ok:
        raise BuildError("SchemaViolation", plan.message())
    checks = quality.plan_checks(spec.governance.quality_checks, spec.schema_)
    rule = retention_rule(spec, now)
    staged = staging.path
    frame, measuring, cast_obs, retention_obs, quality_obs = _stage(backend, request, df, plan, checks, rule, staged)
    laps.lap("plan")
    progress(f"running the transform and staging the result at {staged}")
    warming = _warm_up_arrow(measuring)
    try:
        write_staged(spark, frame, staged)
    except Exception as error:
        raise classify(error, "TransformError") from error
    finally:
        if warming is not None:
            warming.join()
    laps.lap("transform+stage")
    if cast_obs is not None:
        failures = {k.removeprefix(conform.CAST_FAILURE_PREFIX): int(v or 0) for k, v in cast_obs.get.items()}
        message = conform.cast_failure_message(failures, plan)
        if message:
            raise BuildError("SchemaViolation", message)
    progress(f"measuring {len(checks.checks)} check(s) on the staged result")
    measured = measure.collect(spark, staged, measuring, checks, quality_obs.get if quality_obs is not None else None)
    if quality.ROWS in measured.unmeasured:  # the published row count would be a guess
        raise BuildError("StorageError", f"cannot count the staged rows: {measured.unmeasured[quality.ROWS]}")
    rows = int(measured.values.get(quality.ROWS) or 0)
    laps.lap("checks")
    results = quality.evaluate(checks, measured.values, datetime.now(UTC), measured.unmeasured)
    score = quality.quality_score(results)
    result.checks, result.quality_score = results, score
    expired = int(retention_obs.get.get("expired") or 0) if retention_obs is not None else 0
    failed = quality.blocking_failures(results)
    if failed or score < spec.sla.quality_score:
        result.outcome, result.reason = "QualityFailed", "QualityFailed"
        result.message = _quality_message(failed, score, spec.sla.quality_score)
        return
    progress(f"publishing {rows} rows to {request.output_location}")
    metadata = commit_metadata(
        request.run_id,
        score,
        [c.model_dump(mode="json", exclude_none=True) for c in results],
        loaded.versions,
        product_uid=request.product_uid,
    )
    mode = next((o.mode for o in spec.outputs if o.format == "delta" and o.mode), "overwrite")
    try:
        published = publish(
            spark,
            staging,
            request.output_location,
            mode,
            spec.primary_key,
            metadata,
            rule,
            rows,
            frame.schema.json(),
            backend,
        )
    except Exception as error:
        raise classify(error, "PublishFailed") from error
    progress(f"published version {published.version} ({published.method})")
    # The new version is live from here on. A later step that fails is a warning: failing the build would deny
    # data that is there, and make the operator rebuild and publish it again.
    if rule is not None:
        _after_publish(result, progress, "vacuum", lambda: vacuum(spark, request.output_location, backend))
    template = settings.METASTORE_TABLE.get()
    if template:
        name = metastore_name(template, request.domain, request.name)
        progress(f"registering {name} in the metastore")
        _after_publish(
            result,
            progress,
            f"registering {name} in the metastore",
            lambda: register_table(spark, name, request.output_location, backend),
        )
    for copy_mode in request.share_copies:
        # Last, so each copy records the table's newest version (a vacuum may commit too). A copy that fails leaves
        # the recipients of that treatment refused by the API until the next build: never served stale or clear.
        _after_publish(
            result,
            progress,
            f"writing the {copy_mode} share copy",
            functools.partial(_share_copy, request, copy_mode, progress),
        )
    laps.lap("publish")
    if rule is not None:
        result.retention = RetentionResult(
            column=rule.column, cutoff=rule.cutoff, rows_removed=expired + published.rows_deleted
        )
    result.outcome = "Published"
    result.row_count, result.table_version = published.row_count, published.version
    result.data_updated_at = datetime.now(UTC)


def _after_publish(result: BuildResult, progress: Progress, step: str, run: Callable[[], None]) -> None:
    try:
        run()
    except Exception as error:
        warning = f"{step} failed: {classify(error, 'AfterPublish').message}"
        progress(warning)
        result.warnings.append(warning[:512])


def _share_copy(request: BuildRequest, mode: CopyMode, progress: Progress) -> None:
    progress(f"writing the {mode} share copy")
    progress(f"{mode} share copy written from version {write_share_copy(request, mode)}")


def _quality_message(failed: list[Any], score: float, required: float) -> str:
    parts = [
        f"{c.name} failed: {c.value} vs threshold {c.threshold}" + (f" ({c.message})" * bool(c.message)) for c in failed
    ]
    if score < required:
        parts.append(f"quality score {score} below the SLA's {required}")
    return "not published: " + "; ".join(parts)
