"""deletionPolicy Delete: the Job that removes a product's table where the data is, and the finalizer's plan.

The operator process does not see the lake (it is mounted in build pods, or is an object store whose credentials
belong to the builds), so deleting from the operator silently did nothing while the finalizer went. Instead the
finalizer runs `python -m datamesh.build` with a DeleteRequest in a Job of the domain namespace: the build pods'
image, service account and security context, and storage access to the product's own table only. The
finalizer stays until such a Job succeeded; a failed one is shown (Ready=False, reason DeletionFailed, a Warning
Event) and retried with backoff. Everything here is pure; runtime.py lists the Jobs and carries out the plan.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from datamesh import settings
from datamesh.api import DataProduct, reasons
from datamesh.api.dataproduct import Consumer
from datamesh.api.domain import Domain
from datamesh.controller import conditions as cond
from datamesh.controller.config import PASSED_TO_BUILDS, OperatorConfig
from datamesh.controller.jobs import (
    ANNOTATION_ATTEMPT,
    BUILD_UID,
    IMAGE_HOME,
    LABEL_PRODUCT,
    MANAGED_BY,
    SCRATCH,
    _resources,
    build_storage,
)
from datamesh.mesh.contract import REQUEST_ENV, BuildRequest, DeleteRequest

#: Marks a deletion Job and names the product (by uid) it deletes. Not LABEL_PRODUCT: the build-Job cache and
#: the build planner must never take a deletion Job for a build.
LABEL_DELETES = "datamesh.dev/deletes"
COMPONENT = "delete"
FORCE_DELETE_ANNOTATION = "datamesh.dev/force-delete"
#: Poll interval while a deletion Job runs (deletion Jobs are not in the watched build-Job cache).
POLL_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 600.0

EventType = Literal["Normal", "Warning"]
LOCATION_ANNOTATION = "datamesh.dev/location"


def deletion_job_name(product: str, uid: str, attempt: int, table: str = "") -> str:
    """`<product>-del-<hash of uid>[-<attempt>]`: a product recreated under the same name gets new Jobs. `table`:
    the location of a table other than the product's first (an older major's), which then goes into the hash."""
    digest = hashlib.sha256((uid + (f"\0{table}" if table else "")).encode()).hexdigest()[:6]
    name = f"{product}-del-{digest}"
    return name if attempt <= 1 else f"{name}-{attempt}"


Volumes = list[dict[str, Any]]


def table_storage(
    product: DataProduct, domain: Domain, location: str, config: OperatorConfig
) -> tuple[Volumes, Volumes]:
    """(volumes, volumeMounts) of the product's own table folder, read-write, exactly as its build pods mount it
    (jobs.py), with no input of it and nothing else of the lake. An object store needs none."""
    request = BuildRequest(namespace=domain.namespace_name, name=product.name, domain=domain.name, run_id="delete",
                           spec=product.spec, inputs=[], output_location=location)  # fmt: skip
    storage = build_storage(request, domain, config)
    # Not storage.create: the build's init container creates a missing table folder; a deletion must not.
    return storage.volumes, storage.mounts


def deletion_job(
    product: DataProduct, domain: Domain, location: str, config: OperatorConfig, *, attempt: int, keyed: bool = False
) -> dict[str, Any]:
    """The batch/v1 Job running `python -m datamesh.build` with a DeleteRequest for the product's table."""
    namespace = domain.namespace_name
    uid = str(product.metadata.get("uid", ""))
    request = DeleteRequest(
        namespace=namespace,
        name=product.name,
        domain=domain.name,
        product_uid=uid,
        location=location,
        storage_root=domain.spec.storage.location,
    )
    labels = {"app.kubernetes.io/managed-by": MANAGED_BY, "app.kubernetes.io/component": COMPONENT,
              LABEL_DELETES: uid}  # fmt: skip
    volumes, mounts = table_storage(product, domain, location, config)
    # Scratch space as in build pods (read-only root filesystem): Spark needs it for an object-store deletion.
    volumes = [*volumes, {"name": "scratch", "emptyDir": {}}, {"name": "home", "emptyDir": {}}]
    mounts = [*mounts, {"name": "scratch", "mountPath": SCRATCH}, {"name": "home", "mountPath": IMAGE_HOME}]
    env = [
        {"name": REQUEST_ENV, "value": request.to_json()},
        # Only an object-store deletion starts Spark: a local session, whatever the product's executors are.
        {"name": settings.SPARK_CONF.name, "value": json.dumps({**config.spark_defaults, "spark.master": "local[1]"})},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "TMPDIR", "value": SCRATCH},
        {"name": "SPARK_LOCAL_DIRS", "value": SCRATCH},
        *({"name": k, "value": v} for k, v in sorted(config.build_env.items()) if k in PASSED_TO_BUILDS),
    ]
    # The build container's security context (jobs.build_job).
    security = {"runAsNonRoot": True, "runAsUser": BUILD_UID, "runAsGroup": BUILD_UID, "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": deletion_job_name(product.name, uid, attempt, location if keyed else ""),
            "namespace": namespace,
            "labels": labels,
            # The product's name as an annotation, not a label: see LABEL_DELETES.
            "annotations": {ANNOTATION_ATTEMPT: str(attempt), LABEL_PRODUCT: product.name,
                            LOCATION_ANNOTATION: location},  # fmt: skip
            # No ownerReference to the product: a foreground deletion of the product would delete this Job before
            # it ran. ttlSecondsAfterFinished cleans it up instead.
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": config.default_build_timeout_seconds,
            "ttlSecondsAfterFinished": config.ttl_seconds_after_finished,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": config.builder_service_account,
                    # A deletion talks to no Kubernetes API (its Spark, if any, runs in local mode).
                    "automountServiceAccountToken": False,
                    "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": BUILD_UID, "runAsGroup": BUILD_UID,
                                        "fsGroup": BUILD_UID, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "delete",
                            "image": config.image,
                            "imagePullPolicy": config.image_pull_policy,
                            "command": ["python", "-m", "datamesh.build"],
                            "env": env,
                            "resources": _resources(domain.spec.compute.driver),
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "volumeMounts": mounts,
                            "securityContext": security,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }  # fmt: skip


@dataclass(frozen=True)
class PlannedEvent:
    type: EventType
    reason: str
    message: str


@dataclass
class DeletionPlan:
    """What the finalizer does now: finish, or start/replace a deletion Job, and what the product shows."""

    done: bool = False
    create_job: dict[str, Any] | None = None
    delete_jobs: list[str] = field(default_factory=list)
    ready: cond.Desired | None = None
    events: list[PlannedEvent] = field(default_factory=list)
    requeue_after: float | None = None


def _attempt(job: dict[str, Any]) -> int:
    try:
        return int(((job.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_ATTEMPT, "1"))
    except ValueError:
        return 0


def _state(job: dict[str, Any]) -> tuple[str, datetime | None]:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True" or condition.get("type") not in ("Complete", "Failed"):
            continue
        raw = condition.get("lastTransitionTime")
        stamp = datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
        return str(condition["type"]), stamp
    return "Running", None


def ours(jobs: list[dict[str, Any]], product: DataProduct) -> list[dict[str, Any]]:
    """The deletion Jobs of this very product: its uid's label and the name this module gives them."""
    uid = str(product.metadata.get("uid", ""))
    found = []
    for job in jobs:
        meta = job.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get(LABEL_DELETES) != uid or labels.get("app.kubernetes.io/component") != COMPONENT:
            continue
        table = str((meta.get("annotations") or {}).get(LOCATION_ANNOTATION, ""))
        names = {deletion_job_name(product.name, uid, _attempt(job), key) for key in ("", table)}
        if meta.get("name") in names:
            found.append(job)
    return found


def newest(jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The deletion Job of the highest attempt."""
    return max(jobs, key=_attempt, default=None)


def backoff(config: OperatorConfig, attempt: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, config.retry_backoff_seconds * 2 ** max(0, attempt - 1)))


#: A hold names at most this many readers (the rest are counted): a condition message is read by people.
HOLD_NAMES = 20


def plan_hold(product: DataProduct, consumers: list[Consumer]) -> cond.Desired | None:
    """Ready=False DeletionHeld naming the products that still read `product`, or None when nothing holds its
    deletion: no readers, or the force-delete annotation (which also keeps the table, see plan_deletion)."""
    annotations = product.metadata.get("annotations") or {}
    if not consumers or annotations.get(FORCE_DELETE_ANNOTATION) == "true":
        return None
    names = ", ".join(c.ref for c in consumers[:HOLD_NAMES])
    if len(consumers) > HOLD_NAMES:
        names += f" and {len(consumers) - HOLD_NAMES} more"
    message = (
        f"deletion held: still read by {names}; move them to another product (or delete them) first, or annotate "
        f"{FORCE_DELETE_ANNOTATION}=true to delete it anyway and keep its published table"
    )
    return cond.Desired(reasons.READY, "False", reasons.DELETION_HELD, message)


def plan_deletion(
    product: DataProduct,
    domain: Domain | None,
    location: str | None,
    jobs: list[dict[str, Any]],
    now: datetime,
    config: OperatorConfig,
    *,
    failure: str | None = None,
    keyed: bool = False,
) -> DeletionPlan:
    """The finalizer's next step for a product being deleted. `jobs` are its deletion Jobs (see `ours`), `failure`
    the termination message of the newest one if it failed. `keyed`: `location` is not the product's first table
    (its Jobs' names carry the location, see deletion_job_name)."""
    plan = DeletionPlan()
    status = product.status
    old_ready = cond.find(status.conditions, reasons.READY) if status else None
    annotations = product.metadata.get("annotations") or {}
    if product.spec.deletion_policy != "Delete":
        plan.done = True  # Retain: the table stays
        return plan
    if annotations.get(FORCE_DELETE_ANNOTATION) == "true":
        plan.done = True
        kept = f"{FORCE_DELETE_ANNOTATION}: the published table at {location} is kept"
        plan.events.append(PlannedEvent("Warning", "DeletionSkipped", kept))
        return plan
    if status is None or (status.last_build is None and status.table_version is None):
        plan.done = True  # no build ever ran: nothing was written
        return plan

    def show(reason: str, message: str) -> None:
        plan.ready = cond.Desired(reasons.READY, "False", reason, message)
        shown = (old_ready.reason, old_ready.message) if old_ready is not None else None
        if reason == reasons.DELETION_FAILED and shown != (reason, message):
            plan.events.append(PlannedEvent("Warning", reasons.DELETION_FAILED, message[:1024]))

    if domain is None or not location:
        show(
            reasons.DELETION_FAILED,
            f"cannot locate the published table: domain {product.spec.domain!r} not found; "
            f"restore it, or annotate {FORCE_DELETE_ANNOTATION}=true to keep the table",
        )
        plan.requeue_after = 60
        return plan
    latest = newest(jobs)
    if latest is None:
        plan.create_job = deletion_job(product, domain, location, config, attempt=1, keyed=keyed)
        job = plan.create_job["metadata"]["name"]
        show(reasons.DELETING, f"deleting the published table at {location} (job {job})")
        plan.events.append(PlannedEvent("Normal", "DeletionStarted", f"deleting the published table at {location}"))
        plan.requeue_after = POLL_SECONDS
        return plan
    name = str(latest["metadata"]["name"])
    state, finished_at = _state(latest)
    if state == "Complete":
        plan.done = True
        return plan
    if state == "Running":
        show(reasons.DELETING, f"deleting the published table at {location} (job {name})")
        plan.requeue_after = POLL_SECONDS
        return plan
    attempt = _attempt(latest)
    retry_at = (finished_at or now) + timedelta(seconds=backoff(config, attempt))
    text = (failure or "the deletion pod ended without a message").strip().splitlines()
    message = f"deletion job {name} failed: {text[-1] if text else ''}"
    show(reasons.DELETION_FAILED, f"{message}; retrying at {retry_at.isoformat(timespec='seconds')}")
    if now < retry_at:
        plan.requeue_after = max(0.5, (retry_at - now).total_seconds())
        return plan
    plan.create_job = deletion_job(product, domain, location, config, attempt=attempt + 1, keyed=keyed)
    plan.delete_jobs.append(name)
    plan.ready = cond.Desired(reasons.READY, "False", reasons.DELETING,
                              f"retrying (attempt {attempt + 1}) after {message}")  # fmt: skip
    plan.requeue_after = POLL_SECONDS
    return plan


def tables_of(product: DataProduct, computed: str | None) -> list[str]:
    """Every table the product published, the newest first: the one its status names (or, before any publish,
    the computed location, where a failed build may have left files), then the older majors it still serves and
    those it retired (docs/lifecycle.md). Only tables known to exist: a deletion pod cannot mount a missing folder."""
    status = product.status
    found = [status.location if status is not None and status.location else computed]
    found += [entry.location for entry in status.previous_versions] if status is not None else []
    found += status.retired_locations if status is not None else []
    return list(dict.fromkeys(location for location in found if location))


def of_table(jobs: list[dict[str, Any]], location: str) -> list[dict[str, Any]]:
    """The deletion Jobs of one of the product's tables."""
    return [j for j in jobs if (j.get("metadata", {}).get("annotations") or {}).get(LOCATION_ANNOTATION) == location]


def plan_deletions(
    product: DataProduct,
    domain: Domain | None,
    tables: list[str],
    jobs: list[dict[str, Any]],
    now: datetime,
    config: OperatorConfig,
    *,
    failures: dict[str, str | None] | None = None,
) -> DeletionPlan:
    """plan_deletion for each of the product's tables in turn (tables_of): the first whose deletion is not done
    decides the step; done when every one is. `failures`: the termination message of a failed newest Job, by its
    table. Without tables (no domain to locate them in) plan_deletion says why the finalizer stays."""
    if not tables:
        return plan_deletion(product, domain, None, jobs, now, config)
    plan = DeletionPlan(done=True)
    for index, location in enumerate(tables):
        mine = of_table(jobs, location)
        failure = (failures or {}).get(location)
        plan = plan_deletion(product, domain, location, mine, now, config, failure=failure, keyed=index > 0)
        if not plan.done or (index == 0 and not mine):
            # Not done yet; or done without a deletion at all (Retain, force-delete, never built): for every table.
            return plan
    return plan


def failure_text(message: str | None) -> str | None:
    """The deletion pod's termination message as one line: `reason: message` of its JSON result, else as is."""
    if not message:
        return None
    start = message.find("{")
    try:
        loaded = json.loads(message[start:]) if start >= 0 else None
    except ValueError:
        loaded = None
    if isinstance(loaded, dict) and loaded.get("message"):
        return f"{loaded.get('reason') or loaded.get('outcome')}: {loaded['message']}"
    return message
