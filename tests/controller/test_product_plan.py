"""The product planner decides builds, retries and status from a snapshot: no cluster needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datamesh.api import DataProduct
from datamesh.api.dataproduct import CheckResult
from datamesh.controller import conditions as cond
from datamesh.controller import jobviews
from datamesh.controller.config import OperatorConfig
from datamesh.controller.jobs import ANNOTATION_ATTEMPT, ANNOTATION_TOKEN, LABEL_GENERATION, LABEL_TRIGGER, job_name
from datamesh.controller.product_plan import JobView, ProductPlan, plan_product
from datamesh.mesh.contract import REQUEST_ENV, BuildRequest, BuildResult
from datamesh.mesh.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
CONFIG = OperatorConfig(retry_backoff_seconds=30, max_attempts=3, coalesce_seconds=5)


def c360(world: World):  # type: ignore[no-untyped-def]
    return world.products[("sales", "customer-360")]


def status_of(plan: ProductPlan, type_: str) -> tuple[str, str]:
    found = cond.find(plan.status.conditions, type_)
    assert found is not None, type_
    return found.status, found.reason


def status_of_status(status: object, type_: str) -> tuple[str, str]:
    found = cond.find(status.conditions, type_)  # type: ignore[attr-defined]
    assert found is not None, type_
    return found.status, found.reason


def finished(
    name: str, result: BuildResult | None, *, token: str = "spec:g1", attempt: int = 1, **kw: object
) -> JobView:
    return JobView(name=name, generation=1, token=token, attempt=attempt, trigger="spec", run_id="r",
                   created_at=T0, active=False, finished=True, result=result, finished_at=T0 + timedelta(minutes=1),
                   **kw)  # type: ignore[arg-type]  # fmt: skip


def published(version: int = 0, score: float = 0.99) -> BuildResult:
    check = CheckResult(name="uniqueness", type="uniqueness", value=1.0, threshold=1.0, passed=True)
    return BuildResult(outcome="Published", quality_score=score, row_count=10, table_version=version,
                       location="/lake/sales/gold/customer-360", data_updated_at=T0 + timedelta(minutes=1),
                       checks=[check])  # fmt: skip


def publish_once(product: DataProduct, world: World) -> None:
    """Plan the first build at T0, then fold its published result in at T0 + 2 minutes."""
    product.status = plan_product(product, world, [], T0, CONFIG).status
    job = product.status.last_build.job  # type: ignore[union-attr]
    product.status = plan_product(
        product, world, [finished(job, published(0))], T0 + timedelta(minutes=2), CONFIG
    ).status


def test_a_new_product_gets_one_build_with_a_deterministic_job(world: World) -> None:
    plan = plan_product(c360(world), world, [], T0, CONFIG)
    assert plan.create_job is not None
    assert plan.create_job["metadata"]["name"] == job_name("customer-360", 1, "spec:g1", 1)
    assert status_of(plan, "Validated") == ("True", "Valid")
    assert status_of(plan, "InputsReady") == ("True", "Resolved")
    assert status_of(plan, "Built") == ("Unknown", "Building")
    assert status_of(plan, "Ready")[0] == "Unknown"
    assert [e.reason for e in plan.events] == ["BuildStarted"]
    # Planning again with the job running launches nothing new.
    product = c360(world)
    product.status = plan.status
    running = JobView(name=plan.create_job["metadata"]["name"], generation=1, token="spec:g1", attempt=1,
                      trigger="spec", run_id="r", created_at=T0, active=True, finished=False)  # fmt: skip
    again = plan_product(product, world, [running], T0 + timedelta(seconds=5), CONFIG)
    assert again.create_job is None


def test_status_does_not_flap_while_the_new_jobs_watch_event_is_on_its_way(world: World) -> None:
    product = c360(world)
    product.status = plan_product(product, world, [], T0, CONFIG).status
    # The status write came back before the Job's own watch event: the cache has no Job yet.
    early = plan_product(product, world, [], T0 + timedelta(seconds=1), CONFIG)
    assert early.create_job is None
    assert status_of(early, "Built") == ("Unknown", "Building")
    assert early.status.to_wire() == product.status.to_wire(), "nothing to write: the same status"


def test_a_build_job_deleted_before_it_finished_is_a_retryable_failure(world: World) -> None:
    product = c360(world)
    product.status = plan_product(product, world, [], T0, CONFIG).status
    name = product.status.last_build.job  # type: ignore[union-attr]
    job = {"metadata": {"name": name, "creationTimestamp": "2026-01-01T12:00:00Z",
                        "labels": {LABEL_GENERATION: "1", LABEL_TRIGGER: "spec"},
                        "annotations": {ANNOTATION_TOKEN: "spec:g1", ANNOTATION_ATTEMPT: "1"}},
           "status": {"active": 1}}  # fmt: skip
    gone = plan_product(product, world, [jobviews.lost(job, now=T0 + timedelta(seconds=20))],
                        T0 + timedelta(seconds=20), CONFIG)  # fmt: skip
    assert gone.status.last_build is not None
    assert (gone.status.last_build.outcome, gone.status.last_build.reason) == ("Failed", "JobDeleted")
    assert status_of(gone, "Built") == ("False", "JobDeleted")
    assert [e.reason for e in gone.events] == ["BuildFailed"]
    product.status = gone.status
    retry = plan_product(product, world, [], T0 + timedelta(minutes=2), CONFIG)
    assert retry.create_job is not None and retry.create_job["metadata"]["name"].endswith("-2")


def test_a_publish_with_warnings_is_ready_and_says_what_failed_after_it(world: World) -> None:
    product = c360(world)
    product.status = plan_product(product, world, [], T0, CONFIG).status
    name = product.status.last_build.job  # type: ignore[union-attr]
    result = published(version=3)
    result.warnings = ["vacuum failed: StorageError: Permission denied"]
    done = plan_product(product, world, [finished(name, result)], T0 + timedelta(minutes=2), CONFIG)
    assert done.create_job is None, "the data is published: no rebuild"
    assert status_of(done, "Ready") == ("True", "Ready") and done.status.table_version == 3
    assert done.status.last_build is not None and done.status.last_build.outcome == "Published"
    assert done.status.last_build.message == "vacuum failed: StorageError: Permission denied"
    assert [(e.type, e.reason, e.message) for e in done.events][1:] == [
        ("Warning", "PublishWarning", "version 3: vacuum failed: StorageError: Permission denied")
    ]


def test_success_is_folded_into_status_once(world: World) -> None:
    product = c360(world)
    first = plan_product(product, world, [], T0, CONFIG)
    product.status = first.status
    name = first.status.last_build.job  # type: ignore[union-attr]
    done = plan_product(product, world, [finished(name, published())], T0 + timedelta(minutes=2), CONFIG)
    assert done.create_job is None
    assert done.status.table_version == 0 and done.status.quality_score == 0.99
    assert status_of(done, "Ready") == ("True", "Ready")
    assert status_of(done, "Fresh") == ("True", "WithinSla")
    assert [e.reason for e in done.events] == ["BuildSucceeded"]
    product.status = done.status
    quiet = plan_product(product, world, [finished(name, published())], T0 + timedelta(minutes=3), CONFIG)
    assert quiet.events == [] and quiet.create_job is None
    assert quiet.requeue_after is not None and quiet.requeue_after <= 48 * 60


def test_a_published_product_reconciled_again_later_has_nothing_to_write(world: World) -> None:
    """A restart reconciles every product once more: an unchanged one must not cost a status write (its Fresh
    message used to carry the data's age, new at every reconcile)."""
    product = c360(world)
    first = plan_product(product, world, [], T0, CONFIG)
    product.status = first.status
    name = first.status.last_build.job  # type: ignore[union-attr]
    done = plan_product(product, world, [finished(name, published())], T0 + timedelta(minutes=2), CONFIG)
    product.status = done.status
    for later in (timedelta(minutes=2, seconds=1), timedelta(minutes=3), timedelta(minutes=40)):
        again = plan_product(product, world, [finished(name, published())], T0 + later, CONFIG)
        assert again.status.to_wire() == done.status.to_wire(), later
        assert again.create_job is None and again.events == []


def test_a_running_build_is_looked_at_again_when_its_pod_may_be_stuck_not_every_30_s(world: World) -> None:
    """Its Job's events bring it back when it finishes; only a pod Pending past the timeout has no event."""
    product = c360(world)
    product.status = plan_product(product, world, [], T0, CONFIG).status
    name = product.status.last_build.job  # type: ignore[union-attr]
    running = JobView(name=name, generation=1, token="spec:g1", attempt=1, trigger="spec", run_id="r", created_at=T0,
                      active=True, finished=False)  # fmt: skip
    timeout = CONFIG.pending_timeout_seconds
    early = plan_product(product, world, [running], T0 + timedelta(seconds=10), CONFIG)
    assert early.create_job is None and early.requeue_after == timeout - 10 + 1
    late = plan_product(product, world, [running], T0 + timedelta(seconds=timeout + 5), CONFIG)
    assert late.requeue_after == 30
    # Its Job not seen yet (the watch event is late): confirmed after 30 s, as before.
    assert plan_product(product, world, [], T0 + timedelta(seconds=10), CONFIG).requeue_after == 30


def test_quality_failure_keeps_old_data_and_is_not_retried(world: World) -> None:
    product = c360(world)
    product.status = plan_product(product, world, [], T0, CONFIG).status
    name = product.status.last_build.job  # type: ignore[union-attr]
    failed = BuildResult(outcome="QualityFailed", reason="QualityFailed", quality_score=0.5,
                         message="uniqueness: 0.97 < 1.0",
                         checks=[CheckResult(name="uniqueness", type="uniqueness", value=0.97, threshold=1.0,
                                             passed=False)])  # fmt: skip
    plan = plan_product(product, world, [finished(name, failed)], T0 + timedelta(minutes=2), CONFIG)
    assert status_of(plan, "QualityPassed") == ("False", "QualityFailed")
    ready = cond.find(plan.status.conditions, "Ready")
    assert ready is not None and ready.status == "False" and "uniqueness" in ready.message
    assert plan.status.table_version is None
    assert plan.create_job is None, "a deterministic failure must wait for a new spec, data or request"


def test_infrastructure_failures_are_retried_with_backoff_up_to_the_limit(world: World) -> None:
    product = c360(world)
    product.status = plan_product(product, world, [], T0, CONFIG).status
    jobs = [finished(product.status.last_build.job, None, failure_reason="DeadlineExceeded")]  # type: ignore[union-attr]
    early = plan_product(product, world, jobs, T0 + timedelta(seconds=70), CONFIG)
    assert early.create_job is None and early.requeue_after is not None
    product.status = early.status
    later = plan_product(product, world, jobs, T0 + timedelta(minutes=2), CONFIG)
    assert later.create_job is not None and later.create_job["metadata"]["name"].endswith("-2")
    product.status = later.status
    jobs.append(finished(later.create_job["metadata"]["name"], None, attempt=2, failure_reason="DeadlineExceeded"))
    third = plan_product(product, world, [jobs[-1]], T0 + timedelta(minutes=10), CONFIG)
    assert third.create_job is not None and third.create_job["metadata"]["name"].endswith("-3")
    product.status = third.status
    gave_up = plan_product(
        product, world, [finished(third.create_job["metadata"]["name"], None, attempt=3,
                                  failure_reason="DeadlineExceeded")], T0 + timedelta(hours=1), CONFIG,
    )  # fmt: skip
    assert gave_up.create_job is None
    assert status_of(gave_up, "Built") == ("False", "DeadlineExceeded")


def test_missing_upstream_and_cycles_block_the_build(world: World) -> None:
    product = c360(world)
    product.spec.inputs[0].source = None
    product.spec.inputs[0].product = "orders"
    plan = plan_product(product, world, [], T0, CONFIG)
    assert status_of(plan, "InputsReady") == ("False", "UpstreamNotFound")
    assert plan.create_job is None
    product.spec.inputs[0].product = "customer-360"
    plan = plan_product(product, world, [], T0, CONFIG)
    assert status_of(plan, "InputsReady") == ("False", "Cycle")


def test_an_upstream_publication_rebuilds_downstream_once_after_it_settles(world: World) -> None:
    upstream = c360(world)
    publish_once(upstream, world)
    downstream = upstream.model_copy(deep=True)
    downstream.metadata = {"name": "churn", "namespace": "sales", "generation": 1, "uid": "u-2"}
    downstream.status = None
    downstream.spec.inputs = [downstream.spec.inputs[0].model_copy(update={"source": None, "product": "customer-360",
                                                                            "alias": "c360"})]  # fmt: skip
    downstream.spec.transform = downstream.spec.transform.model_copy(update={"sql": "SELECT * FROM c360"})  # type: ignore[union-attr]
    world.products[("sales", "churn")] = downstream
    first = plan_product(downstream, world, [], T0 + timedelta(minutes=3), CONFIG)
    assert first.create_job is not None
    downstream.status = first.status
    downstream.status = plan_product(
        downstream,
        world,
        [finished(first.status.last_build.job, published(0))],
        T0 + timedelta(minutes=4),
        CONFIG,  # type: ignore[union-attr]
    ).status
    # That plan also started a rebuild for the upstream version the hand-made job view did not record: let it
    # finish too, so no build is in flight below.
    launched = downstream.status.last_build
    assert launched is not None and launched.trigger == "upstream"
    downstream.status = plan_product(
        downstream,
        world,
        [finished(launched.job, published(0), token=launched.token)],
        T0 + timedelta(minutes=4, seconds=30),
        CONFIG,
    ).status
    assert downstream.status.upstream_versions == {}  # no upstream annotation on that hand-made job view
    downstream.status.upstream_versions = {"sales/customer-360": 0}
    # The upstream publishes version 1; within the coalescing window nothing starts yet.
    upstream.status.table_version = 1
    upstream.status.data_updated_at = T0 + timedelta(minutes=5)
    waiting = plan_product(downstream, world, [], T0 + timedelta(minutes=5, seconds=2), CONFIG)
    assert waiting.create_job is None and waiting.requeue_after is not None and waiting.requeue_after <= 3
    rebuild = plan_product(downstream, world, [], T0 + timedelta(minutes=5, seconds=6), CONFIG)
    assert rebuild.create_job is not None
    assert rebuild.create_job["metadata"]["labels"]["datamesh.dev/trigger"] == "upstream"


def test_manual_rebuild_annotation_is_served_once(world: World) -> None:
    product = c360(world)
    publish_once(product, world)
    product.metadata["annotations"] = {"datamesh.dev/rebuild": "please"}
    plan = plan_product(product, world, [], T0 + timedelta(minutes=3), CONFIG)
    assert plan.create_job is not None and plan.create_job["metadata"]["labels"]["datamesh.dev/trigger"] == "manual"
    assert plan.status.handled_rebuild_request == "please"


def test_a_rebuild_of_the_published_generation_keeps_the_product_ready(world: World) -> None:
    product = c360(world)
    publish_once(product, world)
    assert product.status is not None and product.status.published_generation == 1
    product.metadata["annotations"] = {"datamesh.dev/rebuild": "refresh"}
    rebuilding = plan_product(product, world, [], T0 + timedelta(minutes=3), CONFIG)
    assert rebuilding.create_job is not None
    assert status_of(rebuilding, "Built") == ("True", "Published")
    assert status_of(rebuilding, "Ready") == ("True", "Ready")
    built = cond.find(rebuilding.status.conditions, "Built")
    assert built is not None and "rebuild" in built.message and "running" in built.message
    # A new spec is another matter: what is published is not what was asked for, so Ready waits for it.
    product.status = rebuilding.status
    product.metadata["generation"] = 2
    changed = plan_product(product, world, [], T0 + timedelta(minutes=4), CONFIG)
    assert status_of(changed, "Built") == ("Unknown", "Building")
    assert status_of(changed, "Ready")[0] == "Unknown"


def test_a_rebuild_started_by_the_reconcile_that_publishes_keeps_built(world: World) -> None:
    product = c360(world)
    product.spec.sla.freshness = "30s"  # the SLA-derived schedule is due as soon as data lands
    product.status = plan_product(product, world, [], T0, CONFIG).status
    job = product.status.last_build.job  # type: ignore[union-attr]
    # One reconcile folds the publish in and starts the scheduled rebuild.
    both = plan_product(product, world, [finished(job, published(0))], T0 + timedelta(minutes=2), CONFIG)
    assert both.create_job is not None and both.create_job["metadata"]["labels"]["datamesh.dev/trigger"] == "schedule"
    assert status_of(both, "Built") == ("True", "Published")
    assert status_of(both, "QualityPassed")[0] == "True"
    # And the reconciles while it runs keep it so.
    product.status = both.status
    later = plan_product(product, world, [], T0 + timedelta(minutes=2, seconds=10), CONFIG)
    assert status_of(later, "Built") == ("True", "Published")


def test_a_rebuild_after_a_failed_one_shows_building(world: World) -> None:
    product = c360(world)
    publish_once(product, world)
    product.metadata["annotations"] = {"datamesh.dev/rebuild": "refresh"}
    product.status = plan_product(product, world, [], T0 + timedelta(minutes=3), CONFIG).status
    launched = product.status.last_build
    assert launched is not None
    lost = finished(launched.job, None, token=launched.token, failure_reason="DeadlineExceeded")
    product.status = plan_product(product, world, [lost], T0 + timedelta(minutes=4), CONFIG).status
    assert status_of_status(product.status, "Built") == ("False", "DeadlineExceeded")
    product.metadata["annotations"] = {"datamesh.dev/rebuild": "again"}
    retry = plan_product(product, world, [lost], T0 + timedelta(minutes=10), CONFIG)
    assert retry.create_job is not None
    assert status_of(retry, "Built") == ("Unknown", "Building")


def test_data_goes_stale_without_any_event(world: World) -> None:
    product = c360(world)
    product.spec.suspend = True
    publish_once(product, world)
    stale = plan_product(product, world, [], T0 + timedelta(hours=2), CONFIG)
    assert status_of(stale, "Fresh") == ("False", "Stale")
    assert [e.reason for e in stale.events] == ["Stale"]
    assert status_of(stale, "Ready") == ("False", "Stale")


def test_product_in_the_wrong_namespace_is_not_valid(world: World) -> None:
    product = c360(world)
    product.metadata["namespace"] = "elsewhere"
    plan = plan_product(product, world, [], T0, CONFIG)
    assert status_of(plan, "Validated") == ("False", "WrongNamespace")
    assert plan.create_job is None


# ------------------------------------------------------------------------------------------------ placement
SALES_TABLE = "/var/lib/datamesh/lake/sales/gold/customer-360"


def intruder(world: World, domain: str, location: str, *, mode: str | None = None) -> DataProduct:
    """A copy of customer-360 created half an hour later (while the webhook was down), publishing at `location`."""
    body = c360(world).model_dump(by_alias=True, exclude_none=True, mode="json")
    body.pop("status", None)
    body["metadata"] = {"name": "thief", "namespace": domain, "generation": 1, "uid": "u-2",
                        "creationTimestamp": "2026-01-01T11:30:00Z"}  # fmt: skip
    output = {"name": "t", "format": "delta", "location": location, **({"mode": mode} if mode else {})}
    body["spec"].update(domain=domain, outputs=[output])
    product = DataProduct.model_validate(body)
    world.products[(domain, "thief")] = product
    return product


def request_of(plan: ProductPlan) -> BuildRequest:
    assert plan.create_job is not None
    env = plan.create_job["spec"]["template"]["spec"]["containers"][0]["env"]
    return BuildRequest.from_json(next(e["value"] for e in env if e["name"] == REQUEST_ENV))


@pytest.mark.parametrize(
    ("domain", "location", "mode", "expected"),
    [
        ("marketing", SALES_TABLE, None, "is the table of DataProduct sales/customer-360"),
        ("marketing", SALES_TABLE, "merge", "is the table of DataProduct sales/customer-360"),
        ("sales", SALES_TABLE, "merge", "is the table of DataProduct sales/customer-360"),
        ("sales", "/var/lib/datamesh/lake/sales/gold", None, "is the storage root itself"),
        ("sales", "/var/lib/datamesh/lake/marketing/bronze/web/sessions", None, "is source bronze.web.sessions"),
        ("sales", "/var/lib/datamesh/lake/sales/gold/../../marketing/gold/x", None, "'..' segment"),
        ("sales", "/var/lib/datamesh/lake/sales/gold/%2e%2e/x", None, "percent-encoding"),
    ],
)
def test_a_refused_location_never_builds_even_when_the_webhook_was_down(
    world: World, domain: str, location: str, mode: str | None, expected: str
) -> None:
    thief = intruder(world, domain, location, mode=mode)
    plan = plan_product(thief, world, [], T0, CONFIG)
    validated = cond.find(plan.status.conditions, "Validated")
    assert validated is not None and (validated.status, validated.reason) == ("False", "LocationConflict")
    assert validated.message.startswith("spec.outputs[0].location: ") and expected in validated.message
    assert plan.create_job is None
    assert status_of(plan, "Ready")[0] == "False"


def test_the_victim_of_an_intruder_keeps_building(world: World) -> None:
    intruder(world, "sales", SALES_TABLE)
    plan = plan_product(c360(world), world, [], T0, CONFIG)
    assert status_of(plan, "Validated") == ("True", "Valid")
    assert request_of(plan).output_location == SALES_TABLE


def test_the_build_request_carries_the_computed_location_and_the_storage_root(world: World) -> None:
    product = c360(world)
    product.spec.outputs[0].location = "file:/var/lib/datamesh/lake/sales/gold/c360/v2/"
    request = request_of(plan_product(product, world, [], T0, CONFIG))
    assert request.output_location == "/var/lib/datamesh/lake/sales/gold/c360/v2"
    assert request.storage_root == "/var/lib/datamesh/lake/sales/gold"


# ------------------------------------------------------------------------------------------------ share copies


def test_the_build_request_names_the_share_copies_the_grants_need(world: World) -> None:
    """customer-360 grants marketing `pii: mask`: its builds write the mask copy and get the masking key."""
    plan = plan_product(c360(world), world, [], T0, CONFIG)
    assert request_of(plan).share_copies == ["mask"]
    env = plan.create_job["spec"]["template"]["spec"]["containers"][0]["env"]  # type: ignore[index]
    assert any(e["name"] == "DATAMESH_MASKING_KEY" for e in env)


def test_without_a_masked_recipient_the_build_writes_no_copy(world: World) -> None:
    product = c360(world)
    product.spec.governance.grants[0].pii = "clear"
    plan = plan_product(product, world, [], T0, CONFIG)
    assert request_of(plan).share_copies == []
    env = plan.create_job["spec"]["template"]["spec"]["containers"][0]["env"]  # type: ignore[index]
    assert not any(e["name"] == "DATAMESH_MASKING_KEY" for e in env)
