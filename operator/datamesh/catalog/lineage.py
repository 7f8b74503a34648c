"""OpenLineage run events of product builds: START when a build begins, COMPLETE or FAIL when it ends.

Job: namespace `datamesh`, name `<namespace>.<product>`. Inputs: the resolved input tables; output: the product's
Delta table, with schema, output statistics, data quality metrics and its table version. The run carries the
quality checks of the build in a `datamesh_quality` facet.

Transport, from the environment: `OPENLINEAGE_URL` (HTTP; `OPENLINEAGE_ENDPOINT`, default api/v1/lineage, and
`OPENLINEAGE_API_KEY`), else `DATAMESH_LINEAGE_FILE` (one JSON event per line, appended), else none. Emitting never
fails a build: transport errors are logged."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_metrics_dataset,
    dataset_version_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    ownership_job,
    processing_engine_run,
    schema_dataset,
    sql_job,
    symlinks_dataset,
)
from openlineage.client.generated.base import DatasetFacet, JobFacet, RunFacet
from openlineage.client.transport import Transport
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport

from datamesh import __version__, settings
from datamesh.api.dataproduct import CheckResult
from datamesh.mesh.contract import BuildRequest, BuildResult, ResolvedInput

log = logging.getLogger(__name__)

JOB_NAMESPACE = "datamesh"
PRODUCER = f"https://datamesh.dev/datamesh-operator/{__version__}"
URL_ENV = "OPENLINEAGE_URL"
FILE_ENV = settings.LINEAGE_FILE.name


@attr.define
class DatameshQualityRunFacet(RunFacet):
    """The build's quality score and per-check results (datamesh's own run facet)."""

    qualityScore: float | None  # camelCase: OpenLineage facets are camelCase on the wire
    checks: list[dict[str, Any]] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return "https://datamesh.dev/spec/facets/1-0-0/DatameshQualityRunFacet.json"


def transport_from_env(env: Mapping[str, str] | None = None) -> Transport | None:
    """HTTP when OPENLINEAGE_URL is set, else a file when DATAMESH_LINEAGE_FILE is, else None (no emission)."""
    env = os.environ if env is None else env
    url = env.get(URL_ENV)
    if url:
        params: dict[str, Any] = {"url": url, "endpoint": env.get("OPENLINEAGE_ENDPOINT", "api/v1/lineage")}
        if env.get("OPENLINEAGE_API_KEY"):
            params["auth"] = {"type": "api_key", "apiKey": env["OPENLINEAGE_API_KEY"]}
        return HttpTransport(HttpConfig.from_dict(params))
    path = settings.LINEAGE_FILE.get(env)
    if path:
        return FileTransport(FileConfig(log_file_path=path, append=True))
    return None


def dataset_identity(location: str) -> tuple[str, str]:
    """(namespace, name) of a table location per the OpenLineage naming spec: `file` + absolute path for local
    paths, `<scheme>://<authority>` + path for object stores (s3a/s3n are reported as s3)."""
    parsed = urlparse(location)
    if not parsed.scheme or parsed.scheme == "file" or len(parsed.scheme) == 1:
        return "file", os.path.abspath(parsed.path if parsed.scheme == "file" else location)
    scheme = "s3" if parsed.scheme in ("s3a", "s3n") else parsed.scheme
    return f"{scheme}://{parsed.netloc}", parsed.path.lstrip("/")


def job_name(request: BuildRequest) -> str:
    return f"{request.namespace}.{request.name}"


def run_uuid(run_id: str) -> str:
    """OpenLineage run ids are UUIDs; the operator's are already, anything else is mapped to a stable UUID."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"datamesh-run:{run_id}"))


def _symlink(name: str) -> symlinks_dataset.SymlinksDatasetFacet:
    return symlinks_dataset.SymlinksDatasetFacet(
        identifiers=[symlinks_dataset.Identifier(namespace=JOB_NAMESPACE, name=name, type="TABLE")]
    )


def _input_dataset(item: ResolvedInput, versions: Mapping[str, int]) -> InputDataset:
    namespace, name = dataset_identity(item.location)
    logical = item.ref.replace("/", ".") if item.kind == "product" else f"{item.domain}.{item.ref}"
    facets: dict[str, DatasetFacet] = {"symlinks": _symlink(logical)}
    version = versions.get(item.view, versions.get(item.ref))
    if version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(version))
    return InputDataset(namespace=namespace, name=name, facets=facets)


def _schema_facet(request: BuildRequest) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name=column.name, type=column.type, description=column.description)
            for column in request.spec.schema_
        ]
    )


def _column_metrics(checks: list[CheckResult], row_count: int | None) -> dict[str, Any]:
    """Null counts where a notNull check measured a column (value = share of non-null rows)."""
    metrics: dict[str, Any] = {}
    if row_count is None:
        return metrics
    for check in checks:
        column = check.name.split(".", 1)[1] if check.type == "notNull" and "." in check.name else None
        if column and check.value is not None:
            null_count = round((1 - check.value) * row_count)
            metrics[column] = data_quality_metrics_dataset.ColumnMetrics(nullCount=null_count)
    return metrics


def _output_dataset(request: BuildRequest, result: BuildResult | None) -> OutputDataset:
    namespace, name = dataset_identity(result.location if result and result.location else request.output_location)
    facets: dict[str, DatasetFacet] = {
        "schema": _schema_facet(request),
        "symlinks": _symlink(job_name(request)),
    }
    output_facets: dict[str, Any] = {}
    if result is not None and result.published:
        if result.row_count is not None:
            output_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=result.row_count
            )
        if result.table_version is not None:
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=str(result.table_version)
            )
    if result is not None and result.checks:
        updated = result.data_updated_at or result.finished_at
        facets["dataQualityMetrics"] = data_quality_metrics_dataset.DataQualityMetricsDatasetFacet(
            columnMetrics=_column_metrics(result.checks, result.row_count),
            rowCount=result.row_count,
            lastUpdated=updated.isoformat() if updated else None,
        )
    return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets)


def _job(request: BuildRequest) -> Job:
    spec = request.spec
    facets: dict[str, JobFacet] = {
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="DATAMESH", jobType="JOB"),
        "documentation": documentation_job.DocumentationJobFacet(description=spec.description),
        "ownership": ownership_job.OwnershipJobFacet(owners=[ownership_job.Owner(name=spec.owner, type="OWNER")]),
    }
    if spec.transform and spec.transform.sql:
        facets["sql"] = sql_job.SQLJobFacet(query=spec.transform.sql)
    return Job(namespace=JOB_NAMESPACE, name=job_name(request), facets=facets)


def _moment(value: datetime | None) -> str:
    return (value or datetime.now(UTC)).isoformat()


def build_event(request: BuildRequest, result: BuildResult | None, *, started: bool) -> RunEvent:
    """START (started=True) or the terminal event of a build: COMPLETE when it published, FAIL otherwise."""
    run_facets: dict[str, RunFacet] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__, name="datamesh", openlineageAdapterVersion=__version__
        )
    }
    if started:
        state = RunState.START
        moment = _moment(result.started_at if result else None)
    else:
        if result is None:
            raise ValueError("the terminal event of a build needs its BuildResult")
        state = RunState.COMPLETE if result.published else RunState.FAIL
        moment = _moment(result.finished_at)
        run_facets["datamesh_quality"] = DatameshQualityRunFacet(
            qualityScore=result.quality_score, checks=[check.to_wire() for check in result.checks]
        )
        if not result.published:
            message = result.message or result.reason or result.outcome
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=message, programmingLanguage="python"
            )
    versions = result.input_versions if result else {}
    return RunEvent(
        eventType=state,
        eventTime=moment,
        run=Run(runId=run_uuid(request.run_id), facets=run_facets),
        job=_job(request),
        inputs=[_input_dataset(item, versions) for item in request.inputs],
        outputs=[_output_dataset(request, None if started else result)],
        producer=PRODUCER,
    )


def emit_build_events(
    request: BuildRequest,
    result: BuildResult | None = None,
    *,
    started: bool,
    transport: Transport | None = None,
) -> RunEvent | None:
    """Emit the START (started=True) or COMPLETE/FAIL event of a build through `transport` (default: from the
    environment). Returns the event, or None when no transport is configured or emission failed (logged)."""
    transport = transport or transport_from_env()
    if transport is None:
        return None
    event = build_event(request, result, started=started)
    try:
        OpenLineageClient(transport=transport).emit(event)
    except Exception as error:  # lineage must never fail a build
        log.warning("could not emit the OpenLineage %s event of %s: %s", event.eventType, job_name(request), error)
        return None
    return event
