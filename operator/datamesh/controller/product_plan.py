"""Plan one reconcile of a DataProduct: desired status, the build to launch, events, when to look again.

Pure: everything it needs arrives as arguments (the product, a World snapshot, its build Jobs, the time),
and everything it decides comes back as a `ProductPlan` that runtime.py carries out.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from datamesh import placement
from datamesh.api import DataProduct, reasons
from datamesh.api.common import Condition
from datamesh.api.dataproduct import BuildInfo, DataProductStatus
from datamesh.api.entrypoints import entry_point_problems
from datamesh.controller import conditions as cond
from datamesh.controller import engine, scheduling
from datamesh.controller.config import OperatorConfig
from datamesh.controller.jobs import HostPathRefused, build_job, build_storage, job_name
from datamesh.mesh import lifecycle, versions
from datamesh.mesh.access import share_copies
from datamesh.mesh.contract import BuildRequest, BuildResult
from datamesh.mesh.resolve import AccessDecider, allow_all, base_location, output_location, resolve_inputs
from datamesh.mesh.world import World

REBUILD_ANNOTATION = "datamesh.dev/rebuild"
#: Failures a retry can cure (infrastructure); anything else waits for a new spec, data or request.
RETRYABLE = {
    "PodFailed",
    "StorageError",
    "DeadlineExceeded",
    "Unschedulable",
    "PodDeleted",
    reasons.JOB_DELETED,
    reasons.VERIFICATION_FAILED,
    reasons.ENGINE_UNAVAILABLE,
}

Compliance = Callable[[DataProduct, World], tuple[bool, bool, str]]
"""(product, world) -> (compliant, blocking, message): blocking when a Deny-enforced rule is violated."""


def always_compliant(product: DataProduct, world: World) -> tuple[bool, bool, str]:
    return True, False, ""


@dataclass(frozen=True)
class JobView:
    """What the planner needs to know about one build Job (and its pod)."""

    name: str
    generation: int
    token: str
    attempt: int
    trigger: str
    run_id: str
    created_at: datetime
    active: bool
    finished: bool
    failure_reason: str | None = None
    upstream_versions: dict[str, int] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: BuildResult | None = None
    pod_message: str | None = None
    unschedulable: bool = False
    result_pending: bool = False
    """Finished, but its pod's termination message is not visible yet: look again shortly."""


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class ProductPlan:
    status: DataProductStatus
    create_job: dict[str, Any] | None = None
    delete_jobs: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    uses_engine: str | None = None
    """The domain whose warm engine the new Job uses (the runtime scales it up and records the use)."""

    def wake(self, seconds: float) -> None:
        seconds = max(0.5, seconds)
        self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)


@dataclass(frozen=True)
class Trigger:
    kind: str
    token: str
    attempt: int = 1


def plan_product(
    product: DataProduct,
    world: World,
    jobs: list[JobView],
    now: datetime,
    config: OperatorConfig,
    *,
    compliance: Compliance = always_compliant,
    decide: AccessDecider = allow_all,
    engine_mounts: Mapping[str, Mapping[str, bool]] | None = None,
) -> ProductPlan:
    """`engine_mounts`: domain -> the mounts of its warm engine as last applied (absent: not deployed)."""
    generation = int(product.metadata.get("generation") or 0)
    old = product.status or DataProductStatus()
    status = old.model_copy(deep=True)
    plan = ProductPlan(status=status)
    desired: list[cond.Desired] = []

    latest = max(jobs, key=lambda j: j.created_at, default=None)
    if latest is not None and latest.result_pending:
        plan.wake(2)
    elif latest is not None and latest.finished:
        _fold_result(product, status, latest, plan, now)
    elif latest is not None and latest.unschedulable:
        plan.delete_jobs.append(latest.name)
        _record_failure(status, latest, "Unschedulable", "build pod could not be scheduled in time", now)
        plan.events.append(Event("Warning", "BuildFailed", f"job {latest.name}: pod could not be scheduled"))
    running: object = (
        latest if latest is not None and (latest.active or latest.result_pending) and not latest.unschedulable else None
    )
    if running is None and _awaiting_watch(status, jobs):
        # The Job was created (the status says so) but its watch event has not arrived yet: still building.
        # Reporting "Pending" here made every new product's status flap Building -> Pending -> Building.
        running = status.last_build

    validated = _validate(product, world, config)
    desired.append(validated)
    compliant, blocking, violations = compliance(product, world)
    desired.append(
        cond.Desired(reasons.COMPLIANT, "True", "Compliant", "satisfies every governance policy in scope")
        if compliant
        else cond.Desired(reasons.COMPLIANT, "False", "PolicyViolation", violations)
    )
    resolution = resolve_inputs(product, world, decide) if validated.status == "True" else None
    if resolution is None:
        desired.append(cond.Desired(reasons.INPUTS_READY, "Unknown", "NotValidated", "the spec is not valid"))
    elif resolution.ok:
        desired.append(cond.Desired(reasons.INPUTS_READY, "True", "Resolved", f"{len(resolution.inputs)} inputs ready"))
    else:
        desired.append(
            cond.Desired(reasons.INPUTS_READY, "False", resolution.problem_reason or "", resolution.problem_message)
        )

    desired.extend(_build_conditions(product, status, running, old.conditions))
    fresh = _freshness(product, status, now, plan)
    desired.append(fresh)
    old_fresh = cond.find(old.conditions, reasons.FRESH)
    if old_fresh is not None and old_fresh.status == "True" and fresh.status == "False":
        plan.events.append(Event("Warning", "Stale", fresh.message))
    desired.append(_lifecycle(product, world, old, plan, now))
    _previous_versions(product, world, plan, now)

    can_build = (
        validated.status == "True"
        and resolution is not None
        and resolution.ok
        and not blocking
        and product.spec.transform is not None
        and running is None
        and not plan.delete_jobs
    )
    status.next_build_at = scheduling.next_build(
        product.spec,
        data_updated_at=status.data_updated_at,
        last_started_at=status.last_build.started_at if status.last_build else None,
        last_duration=status.last_build.duration_seconds if status.last_build else None,
        created_at=_created(product, now),
    )
    if can_build and resolution is not None:
        trigger = _choose_trigger(product, status, resolution.upstream_versions, world, now, config, plan)
        if trigger is not None:
            _launch(product, world, status, trigger, resolution, generation, now, config, plan, engine_mounts or {})
            # Judged on this reconcile's conditions, not the stored ones: when the rebuild starts in the very reconcile
            # that folds in the last publish, the stored Built still says Building (and would say so for good).
            replaced = {c.type: c for c in _build_conditions(product, status, True, desired)}
            desired = [replaced.get(d.type, d) for d in desired]
    elif running is not None:
        plan.wake(running_recheck(running, now, config))

    if status.next_build_at is not None:
        plan.wake((status.next_build_at - now).total_seconds())
    summary_of = [d for d in desired if d.type in reasons.PRODUCT_SUMMARY_OF]
    if blocking is False:
        summary_of = [d for d in summary_of if d.type != reasons.COMPLIANT]
    ready = cond.summarize(summary_of, ready_message=_ready_message(status))
    status.conditions = cond.merge(old.conditions, [*desired, ready], generation=generation, now=now)
    if validated.status == "True":
        status.observed_generation = generation
    return plan


def _lifecycle(
    product: DataProduct, world: World, old: DataProductStatus, plan: ProductPlan, now: datetime
) -> cond.Desired:
    """Who reads the product (status.consumers), and whether it or an upstream is deprecated (a Warning Event when a
    consumer first learns of it)."""
    plan.status.consumers = lifecycle.consumers_of(world, product)
    plan.status.consumer_count = len(plan.status.consumers)
    deprecated = deprecation_condition(product, world, now)
    before = cond.find(old.conditions, reasons.DEPRECATED)
    if deprecated.reason == reasons.UPSTREAM_DEPRECATED and (
        before is None or (before.reason, before.message) != (deprecated.reason, deprecated.message)
    ):
        plan.events.append(Event("Warning", reasons.UPSTREAM_DEPRECATED, deprecated.message))
    return deprecated


def _previous_versions(product: DataProduct, world: World, plan: ProductPlan, now: datetime) -> None:
    """status.previousVersions: record the published table of an older major before the new one publishes
    elsewhere, and retire the entries nobody pins any more or whose sunset has passed (mesh/versions.py)."""
    status = plan.status
    steady = status.home_major is not None and versions.major_of(status.published_version) == versions.major_of(
        product.spec.version
    )
    if not status.previous_versions and (status.location is None or (steady and status.published_version)):
        return  # the steady state: nothing older is served, and what is published is the current major
    current = product.model_copy(update={"status": status})
    served = versions.plan_previous(
        current, base_location(product, world), pinned=versions.pins(world, product), today=now.date()
    )
    recorded = {p.major for p in status.previous_versions}
    for entry in served.kept:
        if entry.major not in recorded:
            plan.events.append(
                Event("Normal", "MajorVersionKept", f"major version {entry.major} stays served at {entry.location}")
            )
    for entry in served.retired:
        if entry.major in recorded:
            # The table itself is kept (docs/lifecycle.md): pinned consumers have moved, or were told of the sunset.
            # Remembered, so that deleting the product under deletionPolicy Delete deletes it too.
            if entry.location not in status.retired_locations:
                status.retired_locations = [*status.retired_locations, entry.location][-100:]
            plan.events.append(
                Event("Normal", "MajorVersionRetired", f"major version {entry.major} is no longer served; its table"
                      f" at {entry.location} is kept")
            )  # fmt: skip
    status.previous_versions = served.kept
    status.home_major = served.home


def deprecation_condition(product: DataProduct, world: World, now: datetime) -> cond.Desired:
    """Deprecated: True when the product carries spec.deprecation or reads a product that does (the message says
    which, until when, and what replaces it), so every consumer learns of a deprecation where it looks."""
    notices = []
    for item in product.spec.inputs:
        if item.product is None:
            continue
        domain = item.domain or product.spec.domain
        upstream = world.products.get((world.namespace_of(domain), item.product))
        if upstream is not None and upstream.spec.deprecation is not None:
            notices.append(f"input {domain}/{item.product} {_notice(upstream, now)}")
    if product.spec.deprecation is not None:
        message = "; ".join([f"this product {_notice(product, now)}", *notices])
        return cond.Desired(reasons.DEPRECATED, "True", reasons.PRODUCT_DEPRECATED, message)
    if notices:
        return cond.Desired(reasons.DEPRECATED, "True", reasons.UPSTREAM_DEPRECATED, "; ".join(notices))
    return cond.Desired(reasons.DEPRECATED, "False", reasons.NOT_DEPRECATED, "")


def _notice(product: DataProduct, now: datetime) -> str:
    deprecation = product.spec.deprecation
    assert deprecation is not None
    when = "sunset passed on" if now.date() > deprecation.sunset_date else "sunset on"
    text = f"is deprecated since {deprecation.since}, {when} {deprecation.sunset}"
    replacement = deprecation.replacement
    if replacement is not None:
        text += f"; move to {replacement.domain or product.spec.domain}/{replacement.product}"
    return text


def run_id_for(product_uid: str, job: str) -> str:
    """A build's run id: derived from the product's uid and the Job's name, so the operator can recompute the id it
    expects in the table's log instead of believing whatever a Job or pod says."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{product_uid}/{job}"))


def job_to_confirm(status: DataProductStatus | None, known_jobs: set[str], now: datetime, grace: float) -> str | None:
    """The build Job the status says is running but no watch event has shown for `grace` seconds since it started:
    deleted while the operator was away, or just not seen yet. The caller asks the API server which."""
    last = status.last_build if status else None
    if last is None or last.outcome != "Running" or not last.job or last.job in known_jobs:
        return None
    started = last.started_at or now
    return last.job if (now - started).total_seconds() >= grace else None


#: How often a running build is looked at without an event once its pod may be stuck Pending, or while the
#: watch event of its new Job is late.
RUNNING_RECHECK_SECONDS = 30.0


def running_recheck(running: object, now: datetime, config: OperatorConfig) -> float:
    """Seconds until a running build is looked at again without an event. Its Job's own events (finished,
    failed at its deadline, deleted) bring it back by themselves; what no event announces is a pod still
    Pending after pending_timeout_seconds, so the look is due then (and every RUNNING_RECHECK_SECONDS after).
    Every 30 s from the start cost 10,000 running builds 333 reconciles a second, for nothing. A build whose
    Job the cache has not seen yet (`running` is the status's BuildInfo) is confirmed after 30 s."""
    if not isinstance(running, JobView):
        return RUNNING_RECHECK_SECONDS
    due = (running.created_at + timedelta(seconds=config.pending_timeout_seconds) - now).total_seconds()
    return due + 1.0 if due > 0 else RUNNING_RECHECK_SECONDS


def _awaiting_watch(status: DataProductStatus, jobs: list[JobView]) -> bool:
    last = status.last_build
    return last is not None and last.outcome == "Running" and all(job.name != last.job for job in jobs)


def _created(product: DataProduct, now: datetime) -> datetime:
    raw = product.metadata.get("creationTimestamp")
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, str):
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return now


def _validate(product: DataProduct, world: World, config: OperatorConfig) -> cond.Desired:
    domain = world.domains.get(product.spec.domain)
    if domain is None:
        message = f"domain {product.spec.domain!r} does not exist"
        return cond.Desired(reasons.VALIDATED, "False", "DomainNotFound", message)
    if product.namespace and product.namespace != domain.namespace_name:
        return cond.Desired(
            reasons.VALIDATED,
            "False",
            "WrongNamespace",
            f"domain {domain.name!r} owns namespace {domain.namespace_name!r}; create the product there",
        )
    # The webhook may have been down (failurePolicy Ignore): a refused place never builds.
    problems = placement.product_problems(product, world.domains, world.products, seniority=True)
    if problems:
        return cond.Desired(reasons.VALIDATED, "False", "LocationConflict", "; ".join(problems))
    python = product.spec.transform.python if product.spec.transform else None
    refused = entry_point_problems(python, config.python_transform_modules) if python else []
    if refused:
        return cond.Desired(reasons.VALIDATED, "False", "TransformNotAllowed", "; ".join(refused))
    return cond.Desired(reasons.VALIDATED, "True", "Valid", "the contract is valid")


def _serving_while_rebuilding(
    product: DataProduct, status: DataProductStatus, previous: Sequence[Condition | cond.Desired]
) -> list[cond.Desired] | None:
    """Built and QualityPassed as they stood, while a rebuild of the generation already published runs (schedule,
    upstream or manual): consumers keep reading the published version, so Ready must not flap to Unknown on every
    refresh (a product whose SLA-derived schedule rebuilds it continuously would never be Ready). A new spec, or
    a rebuild after a failure, still shows Building: what is published then is not what was asked for."""
    generation = int(product.metadata.get("generation") or 0)
    if status.table_version is None or status.published_generation != generation or status.last_build is None:
        return None
    built = next((c for c in previous if c.type == reasons.BUILT), None)
    quality = next((c for c in previous if c.type == reasons.QUALITY_PASSED), None)
    if built is None or quality is None or built.status != "True" or quality.status != "True":
        return None
    message = f"version {status.table_version}, {status.row_count} rows; rebuild {status.last_build.job} running"
    return [
        cond.Desired(reasons.BUILT, "True", built.reason, message),
        cond.Desired(reasons.QUALITY_PASSED, "True", quality.reason, quality.message),
    ]


def _build_conditions(
    product: DataProduct, status: DataProductStatus, running: object, previous: Sequence[Condition | cond.Desired] = ()
) -> list[cond.Desired]:
    last = status.last_build
    if product.spec.transform is None:
        return [
            cond.Desired(reasons.BUILT, "False", "NoTransform", "the contract has no transform; nothing to build"),
            cond.Desired(reasons.QUALITY_PASSED, "Unknown", "NotBuilt", "no build yet"),
        ]
    finished = last is not None and last.outcome not in (None, "Running")
    if not finished or last is None:
        serving = _serving_while_rebuilding(product, status, previous) if running else None
        if serving is not None:
            return serving
        reason = reasons.BUILDING if running else reasons.PENDING
        message = f"build {last.job} running" if running and last else "waiting for the first build"
        return [
            cond.Desired(reasons.BUILT, "Unknown", reason, message),
            cond.Desired(reasons.QUALITY_PASSED, "Unknown", "NotBuilt", "no build yet"),
        ]
    out: list[cond.Desired] = []
    if last.outcome == "Published":
        version = f"version {status.table_version}" if status.table_version is not None else "published"
        out.append(cond.Desired(reasons.BUILT, "True", "Published", f"{version}, {status.row_count} rows ({last.job})"))
    else:
        out.append(cond.Desired(reasons.BUILT, "False", last.reason or "BuildFailed", last.message or ""))
    if last.outcome == "QualityFailed":
        message = last.message or "quality checks failed"
        out.append(cond.Desired(reasons.QUALITY_PASSED, "False", "QualityFailed", message))
    elif last.outcome == "Published":
        score = f"{status.quality_score:.3f}" if status.quality_score is not None else "n/a"
        out.append(
            cond.Desired(
                reasons.QUALITY_PASSED,
                "True",
                "ChecksPassed",
                f"quality score {score} >= {product.spec.sla.quality_score}; {len(status.checks)} checks",
            )
        )
    else:
        out.append(
            cond.Desired(reasons.QUALITY_PASSED, "Unknown", "NotChecked", "the last build did not reach the checks")
        )
    return out


def _freshness(product: DataProduct, status: DataProductStatus, now: datetime, plan: ProductPlan) -> cond.Desired:
    """Fresh, in words that change only when the data or the SLA does: a message with the data's age in it
    changed on every reconcile, so every reconcile of a published product wrote its status (10,000 writes
    when the operator restarted under 10,000 products). The age is the datamesh_product_data_age_seconds
    metric, and `kubectl get` shows it from status.dataUpdatedAt."""
    if status.data_updated_at is None:
        return cond.Desired(reasons.FRESH, "False", "NoData", "nothing published yet")
    deadline = scheduling.stale_at(product.spec, status.data_updated_at)
    sla, updated = product.spec.sla.freshness, _stamp(status.data_updated_at)
    if deadline is not None and now < deadline:
        plan.wake((deadline - now).total_seconds())
        return cond.Desired(reasons.FRESH, "True", "WithinSla", f"data of {updated} within the SLA of {sla} until "
                            f"{_stamp(deadline)}")  # fmt: skip
    return cond.Desired(reasons.FRESH, "False", "Stale", f"data of {updated} exceeds the SLA of {sla}")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment.utcoffset() == timedelta(0) else moment.isoformat()


def _ready_message(status: DataProductStatus) -> str:
    if status.table_version is None:
        return ""
    score = f"{status.quality_score:.3f}" if status.quality_score is not None else "n/a"
    return f"version {status.table_version} published, quality {score}"


def _upstream_token(versions: dict[str, int]) -> str:
    return "upstream:" + hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:12]


def _choose_trigger(
    product: DataProduct,
    status: DataProductStatus,
    upstream_versions: dict[str, int],
    world: World,
    now: datetime,
    config: OperatorConfig,
    plan: ProductPlan,
) -> Trigger | None:
    """The reason to build now, if any, in priority order: spec, manual request, upstream, schedule."""
    generation = int(product.metadata.get("generation") or 0)
    last = status.last_build
    candidates: list[Trigger] = []
    if status.table_version is None or last is None or last.generation != generation:
        candidates.append(Trigger("spec", f"spec:g{generation}"))
    request = (product.metadata.get("annotations") or {}).get(REBUILD_ANNOTATION)
    if request and request != status.handled_rebuild_request:
        candidates.append(Trigger("manual", f"manual:{request}"))
    if status.table_version is not None and upstream_versions and upstream_versions != status.upstream_versions:
        settle = _upstream_settle_time(product, world, config)
        if settle is not None and now < settle:
            plan.wake((settle - now).total_seconds())
        else:
            candidates.append(Trigger("upstream", _upstream_token(upstream_versions)))
    if not product.spec.suspend and status.next_build_at is not None and now >= status.next_build_at:
        candidates.append(Trigger("schedule", f"schedule:{scheduling.schedule_slot(status.next_build_at)}"))
    for candidate in candidates:
        chosen = _retry_or_fresh(candidate, last, now, config, plan)
        if chosen is not None:
            return chosen
    return None


def _upstream_settle_time(product: DataProduct, world: World, config: OperatorConfig) -> datetime | None:
    """Fold a burst of upstream publications into one rebuild: wait until the newest is `coalesce` old."""
    newest = None
    for item in product.spec.inputs:
        if item.product is None:
            continue
        upstream = world.product(item.domain or product.spec.domain, item.product)
        if upstream and upstream.status and upstream.status.data_updated_at:
            stamp = upstream.status.data_updated_at
            newest = stamp if newest is None or stamp > newest else newest
    return None if newest is None else newest + timedelta(seconds=config.coalesce_seconds)


def _retry_or_fresh(
    candidate: Trigger, last: BuildInfo | None, now: datetime, config: OperatorConfig, plan: ProductPlan
) -> Trigger | None:
    if last is None or last.token != candidate.token:
        return candidate
    if last.outcome in (None, "Running", "Published"):
        return None  # this trigger was served (or is being served)
    attempt = last.attempt or 1
    if last.reason not in RETRYABLE or attempt >= config.max_attempts:
        return None  # a deterministic failure: wait for a new spec, data or rebuild request
    retry_at = (last.finished_at or now) + timedelta(seconds=config.retry_backoff_seconds * 2 ** (attempt - 1))
    if now < retry_at:
        plan.wake((retry_at - now).total_seconds())
        return None
    return Trigger(candidate.kind, candidate.token, attempt + 1)


def _launch(
    product: DataProduct,
    world: World,
    status: DataProductStatus,
    trigger: Trigger,
    resolution: Any,
    generation: int,
    now: datetime,
    config: OperatorConfig,
    plan: ProductPlan,
    engine_mounts: Mapping[str, Mapping[str, bool]],
) -> None:
    domain = world.domains[product.spec.domain]
    name = job_name(product.name, generation, trigger.token, trigger.attempt)
    current = product.model_copy(update={"status": status})
    location = output_location(current, world) or ""
    base = base_location(product, world)
    if status.home_major is None and base is not None:
        # The first build fixes which major keeps the product's own location (mesh/versions.py).
        status.home_major = versions.home_major(current, base)
    request = BuildRequest(
        namespace=domain.namespace_name,
        name=product.name,
        domain=product.spec.domain,
        generation=generation,
        run_id=run_id_for(str(product.metadata.get("uid", "")), name),
        trigger=trigger.kind,
        spec=product.spec,
        inputs=resolution.inputs,
        output_location=location,
        storage_root=domain.spec.storage.location,
        no_op=config.noop_builds,
        product_uid=str(product.metadata.get("uid", "")),
        share_copies=share_copies(product, world),
    )
    try:
        in_pod = engine.placement(
            product, domain, request, engine.mount_table(build_storage(request, domain, config)),
            engine_mounts.get(domain.name), config,
        )
        plan.create_job = build_job(
            product,
            domain,
            request,
            name=name,
            trigger=trigger.kind,
            token=trigger.token,
            attempt=trigger.attempt,
            upstream_versions=resolution.upstream_versions,
            config=config,
            engine_env=engine.client_env(domain.namespace_name) if in_pod is None else None,
        )
    except HostPathRefused as refusal:
        # Refused before any pod exists: the runtime would have followed the link.
        status.last_build = BuildInfo(
            job=name, trigger=trigger.kind, run_id=request.run_id, started_at=now, finished_at=now,
            duration_seconds=0.0, outcome="Failed", reason=reasons.LOCATION_REFUSED, message=str(refusal)[:4096],
            attempt=trigger.attempt, generation=generation, token=trigger.token,
        )  # fmt: skip
        plan.events.append(Event("Warning", reasons.LOCATION_REFUSED, str(refusal)))
        return
    status.last_build = BuildInfo(
        job=name,
        trigger=trigger.kind,
        run_id=request.run_id,
        started_at=now,
        outcome="Running",
        attempt=trigger.attempt,
        generation=generation,
        token=trigger.token,
    )
    if trigger.kind == "manual":
        status.handled_rebuild_request = trigger.token.removeprefix("manual:")
    where = "on the domain's warm engine" if in_pod is None else (f"in its own pod: {in_pod}" if in_pod else "")
    plan.uses_engine = domain.name if in_pod is None else None
    plan.events.append(
        Event("Normal", "BuildStarted",
              f"started job {name} (trigger: {trigger.kind}, attempt {trigger.attempt})" + (f", {where}" * bool(where)))
    )  # fmt: skip
    plan.wake(30)


def _record_failure(status: DataProductStatus, job: JobView, reason: str, message: str, now: datetime) -> None:
    status.last_build = BuildInfo(
        job=job.name,
        trigger=job.trigger,
        run_id=job.run_id,
        started_at=job.started_at or job.created_at,
        finished_at=job.finished_at or now,
        duration_seconds=((job.finished_at or now) - (job.started_at or job.created_at)).total_seconds(),
        outcome="Failed",
        reason=reason,
        message=message[:4096],
        attempt=job.attempt,
        generation=job.generation,
        token=job.token,
    )


def _fold_result(
    product: DataProduct, status: DataProductStatus, job: JobView, plan: ProductPlan, now: datetime
) -> None:
    """Write a finished Job's outcome into the status, once."""
    last = status.last_build
    if last is not None and last.job == job.name and last.outcome not in (None, "Running"):
        return
    result = job.result
    if result is None:
        # With backoffLimit 0, BackoffLimitExceeded only says the one pod failed.
        reason = job.failure_reason if job.failure_reason not in (None, "BackoffLimitExceeded") else "PodFailed"
        message = (job.pod_message or "the build pod ended without reporting a result").strip().splitlines()
        text = message[-1] if message else ""
        _record_failure(status, job, reason, f"job {job.name}: {reason}: {text}", now)
        plan.events.append(Event("Warning", "BuildFailed", f"job {job.name} failed: {reason}: {text}"[:1024]))
        return
    finished = result.finished_at or job.finished_at or now
    started = result.started_at or job.started_at or job.created_at
    outcome = "Published" if result.published else ("QualityFailed" if result.outcome == "QualityFailed" else "Failed")
    status.last_build = BuildInfo(
        job=job.name,
        trigger=job.trigger,
        run_id=result.run_id or job.run_id,
        started_at=started,
        finished_at=finished,
        duration_seconds=result.duration_seconds or (finished - started).total_seconds(),
        outcome=outcome,
        reason=None if result.published else (result.reason or outcome),
        message=result.message or ("; ".join(result.warnings) if result.warnings else None),
        attempt=job.attempt,
        generation=job.generation,
        token=job.token,
    )
    if result.checks or result.quality_score is not None:
        status.checks = result.checks
        status.quality_score = result.quality_score
    if result.published:
        status.row_count = result.row_count
        status.table_version = result.table_version
        status.published_generation = job.generation
        status.data_updated_at = result.data_updated_at or finished
        status.location = result.location or status.location
        if job.generation == int(product.metadata.get("generation") or 0):
            status.published_version = product.spec.version
        status.upstream_versions = dict(job.upstream_versions)
        plan.events.append(
            Event(
                "Normal",
                "BuildSucceeded",
                f"published version {result.table_version}: {result.row_count} rows, quality {result.quality_score}",
            )
        )
        for warning in result.warnings:
            plan.events.append(Event("Warning", "PublishWarning", f"version {result.table_version}: {warning}"[:1024]))
    elif outcome == "QualityFailed":
        plan.events.append(Event("Warning", "QualityFailed", f"job {job.name}: {result.message}"[:1024]))
    else:
        plan.events.append(Event("Warning", "BuildFailed", f"job {job.name}: {result.reason}: {result.message}"[:1024]))
