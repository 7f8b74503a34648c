"""Reading build Jobs and their pods into the planner's JobView.

Only what the operator can check is believed: a Job's pod is one the Job controller created for that very Job
(`build_pods`), and a claimed publish becomes a result only once the table's own log confirmed it
(`verified_result`, with `controller.verify`).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from datamesh.api.dataproduct import BuildInfo
from datamesh.api.reasons import JOB_DELETED, RESULT_MISMATCH
from datamesh.controller.jobs import (
    ANNOTATION_ATTEMPT,
    ANNOTATION_TOKEN,
    ANNOTATION_UPSTREAM,
    LABEL_GENERATION,
    LABEL_TRIGGER,
)
from datamesh.controller.product_plan import JobView
from datamesh.controller.verify import Mismatch, Verification, Verified
from datamesh.mesh.contract import BuildResult

#: Labels the Job controller puts on its pods (the first since Kubernetes 1.27, the second before and since).
CONTROLLER_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def job_condition(job: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_ and condition.get("status") == "True":
            found: dict[str, Any] = condition
            return found
    return None


def is_finished(job: dict[str, Any]) -> bool:
    return job_condition(job, "Complete") is not None or job_condition(job, "Failed") is not None


def build_pods(pods: list[dict[str, Any]], job_uid: str) -> list[dict[str, Any]]:
    """The pods of one Job: those whose controlling owner is the Job with this uid. Labels alone prove nothing:
    anyone who may create pods in the namespace can label one `job-name=<job>`."""
    if not job_uid:
        return []
    return [
        pod
        for pod in pods
        if any(
            ref.get("controller") is True and ref.get("uid") == job_uid and ref.get("kind") == "Job"
            for ref in (pod.get("metadata") or {}).get("ownerReferences") or []
        )
    ]


def termination_message(pod: dict[str, Any]) -> str | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated:
            message = terminated.get("message")
            return str(message) if message else f"exit code {terminated.get('exitCode')}: {terminated.get('reason')}"
    return None


def parse_result(message: str | None) -> BuildResult | None:
    if not message:
        return None
    text = message.strip()
    start = text.find("{")
    if start < 0:
        return None
    try:
        return BuildResult.model_validate(json.loads(text[start:]))
    except (ValueError, ValidationError):
        return None


def claims_publish(result: BuildResult | None) -> bool:
    return result is not None and result.outcome == "Published"


def verified_result(
    result: BuildResult | None, verification: Verification | None, *, accept_noop: bool
) -> BuildResult | Mismatch | None:
    """The result to believe: a claimed publish with its version, rows, time and location replaced by what the
    log shows (the checks and score stay: they are the build's own report), or the Mismatch that refutes it.
    Without a verification a claimed publish is refuted too (fail closed). `NoOp` is a publish only for an
    operator configured for no-op builds."""
    if result is None:
        return None
    if result.outcome == "NoOp" and not accept_noop:
        return Mismatch(RESULT_MISMATCH, "the build reported a no-op publish, but this operator runs real builds")
    if not claims_publish(result):
        return result
    if not isinstance(verification, Verified):
        return verification or Mismatch(RESULT_MISMATCH, "the build claimed a publish that was not verified")
    return result.model_copy(
        update={
            "table_version": verification.version,
            "row_count": verification.row_count,
            "location": verification.location,
            "data_updated_at": verification.committed_at,
        }
    )


def view(
    job: dict[str, Any],
    *,
    pod_message: str | None = None,
    unschedulable: bool = False,
    now: datetime,
    verification: Verification | None = None,
    accept_noop: bool = False,
) -> JobView:
    meta = job.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    status = job.get("status") or {}
    failed = job_condition(job, "Failed")
    try:
        upstream = {str(k): int(v) for k, v in json.loads(annotations.get(ANNOTATION_UPSTREAM, "{}")).items()}
    except (ValueError, TypeError, AttributeError):
        upstream = {}
    result = verified_result(parse_result(pod_message), verification, accept_noop=accept_noop)
    refuted = result if isinstance(result, Mismatch) else None
    return JobView(
        name=meta.get("name", ""),
        generation=int(labels.get(LABEL_GENERATION, "0") or 0),
        token=annotations.get(ANNOTATION_TOKEN, ""),
        attempt=int(annotations.get(ANNOTATION_ATTEMPT, "1") or 1),
        trigger=labels.get(LABEL_TRIGGER, ""),
        run_id=annotations.get("datamesh.dev/run-id", ""),
        created_at=parse_time(meta.get("creationTimestamp")) or now,
        active=not is_finished(job),
        finished=is_finished(job),
        failure_reason=refuted.reason if refuted else (failed or {}).get("reason"),
        upstream_versions=upstream,
        started_at=parse_time(status.get("startTime")),
        finished_at=parse_time(status.get("completionTime")) or parse_time((failed or {}).get("lastTransitionTime")),
        result=result if isinstance(result, BuildResult) else None,
        pod_message=refuted.message if refuted else pod_message,
        unschedulable=unschedulable,
    )


def lost(job: dict[str, Any], *, now: datetime) -> JobView:
    """A build Job deleted before it finished: a failure with a distinct, retryable reason."""
    return dataclasses.replace(
        view(job, now=now), active=False, finished=True, failure_reason=JOB_DELETED, finished_at=now,
        pod_message="the build Job was deleted before it finished",
    )  # fmt: skip


def vanished(last: BuildInfo, *, now: datetime, message: str) -> JobView:
    """The build the status says is running, whose Job is confirmed gone (deleted while no one watched)."""
    started = last.started_at or now
    return JobView(
        name=last.job or "", generation=last.generation or 0, token=last.token or "", attempt=last.attempt or 1,
        trigger=last.trigger or "", run_id=last.run_id or "", created_at=started, active=False, finished=True,
        failure_reason=JOB_DELETED, started_at=started, finished_at=now, pod_message=message,
    )  # fmt: skip
