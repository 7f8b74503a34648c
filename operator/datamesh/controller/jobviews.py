"""Reading build Jobs and their pods into the planner's JobView."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from datamesh.build.contract import BuildResult
from datamesh.controller.jobs import (
    ANNOTATION_ATTEMPT,
    ANNOTATION_TOKEN,
    ANNOTATION_UPSTREAM,
    LABEL_GENERATION,
    LABEL_TRIGGER,
)
from datamesh.controller.product_plan import JobView


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


def view(job: dict[str, Any], *, pod_message: str | None = None, unschedulable: bool = False, now: datetime) -> JobView:
    meta = job.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    status = job.get("status") or {}
    failed = job_condition(job, "Failed")
    try:
        upstream = {str(k): int(v) for k, v in json.loads(annotations.get(ANNOTATION_UPSTREAM, "{}")).items()}
    except (ValueError, TypeError, AttributeError):
        upstream = {}
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
        failure_reason=(failed or {}).get("reason"),
        upstream_versions=upstream,
        started_at=parse_time(status.get("startTime")),
        finished_at=parse_time(status.get("completionTime")) or parse_time((failed or {}).get("lastTransitionTime")),
        result=parse_result(pod_message),
        pod_message=pod_message,
        unschedulable=unschedulable,
    )


def lost(job: dict[str, Any], *, now: datetime) -> JobView:
    """A build Job deleted before it finished: a failure with a distinct, retryable reason."""
    return dataclasses.replace(
        view(job, now=now), active=False, finished=True, failure_reason="JobDeleted", finished_at=now,
        pod_message="the build Job was deleted before it finished",
    )  # fmt: skip
