"""A build's life beyond the happy path, planned from snapshots: claimed results checked against the table's log,
build Jobs that vanished while the operator was away, and the deletion Job of deletionPolicy Delete."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from datamesh.api import DataProduct, reasons
from datamesh.api.common import Condition
from datamesh.api.domain import PersistentVolume
from datamesh.controller import conditions as cond
from datamesh.controller import deletion, jobviews
from datamesh.controller.config import OperatorConfig
from datamesh.controller.product_plan import ProductPlan, job_to_confirm, plan_product, run_id_for
from datamesh.controller.verify import Mismatch, Verified
from datamesh.mesh.contract import REQUEST_ENV, BuildResult, DeleteRequest
from datamesh.mesh.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
CONFIG = OperatorConfig(retry_backoff_seconds=30, max_attempts=3, coalesce_seconds=5, lake_host_path="")
LOCATION = "/var/lib/datamesh/lake/sales/gold/customer-360"




def c360(world: World) -> DataProduct:
    return world.products[("sales", "customer-360")]


def status_of(plan: ProductPlan, type_: str) -> tuple[str, str]:
    found = cond.find(plan.status.conditions, type_)
    assert found is not None, type_
    return found.status, found.reason


def started(world: World) -> tuple[DataProduct, dict[str, Any]]:
    """The product with its first build launched at T0, and that build's Job as the API server has it."""
    product = c360(world)
    plan = plan_product(product, world, [], T0, CONFIG)
    assert plan.create_job is not None
    product.status = plan.status
    job = json.loads(json.dumps(plan.create_job))
    job["metadata"].update(uid="job-uid-1", creationTimestamp="2026-01-01T12:00:00Z")
    return product, job


def completed(job: dict[str, Any]) -> dict[str, Any]:
    done = json.loads(json.dumps(job))
    done["status"] = {"startTime": "2026-01-01T12:00:01Z", "completionTime": "2026-01-01T12:01:00Z",
                      "conditions": [{"type": "Complete", "status": "True"}]}  # fmt: skip
    return done


def claimed(version: int = 7, rows: int = 424242, location: str = "/tmp/forged") -> str:
    """A termination message claiming a publish (what a forged pod would say)."""
    return BuildResult(outcome="Published", run_id="whatever", quality_score=0.99, row_count=rows,
                       table_version=version, location=location,
                       data_updated_at=datetime(2030, 1, 1, tzinfo=UTC)).to_json()  # fmt: skip


# ---------------------------------------------------------------------------------------------- verified results
def test_a_verified_publish_reports_the_logs_version_rows_and_time_at_the_computed_location(world: World) -> None:
    product, job = started(world)
    logged = Verified(LOCATION, version=3, row_count=1000, committed_at=T0 + timedelta(seconds=50))
    view = jobviews.view(completed(job), pod_message=claimed(version=3), now=T0 + timedelta(minutes=2),
                         verification=logged)  # fmt: skip
    plan = plan_product(product, world, [view], T0 + timedelta(minutes=2), CONFIG)
    assert status_of(plan, "Built") == ("True", "Published")
    status = plan.status
    assert (status.table_version, status.row_count, status.location) == (3, 1000, LOCATION)
    assert status.data_updated_at == T0 + timedelta(seconds=50), "the commit's time, not the pod's claim"
    assert status.quality_score == 0.99, "the build's own report of its checks is still shown"
    assert [e.reason for e in plan.events] == ["BuildSucceeded"]


def test_a_publish_the_log_refutes_is_a_result_mismatch_and_is_not_retried(world: World) -> None:
    product, job = started(world)
    refuted = Mismatch(reasons.RESULT_MISMATCH, f"no commit of run r in the log of {LOCATION}")
    view = jobviews.view(completed(job), pod_message=claimed(), now=T0 + timedelta(minutes=2), verification=refuted)
    assert view.result is None and view.failure_reason == reasons.RESULT_MISMATCH
    plan = plan_product(product, world, [view], T0 + timedelta(minutes=2), CONFIG)
    assert status_of(plan, "Built") == ("False", reasons.RESULT_MISMATCH)
    assert status_of(plan, "Ready") == ("False", reasons.RESULT_MISMATCH)
    assert plan.status.table_version is None and plan.status.row_count is None and plan.status.location is None
    assert "no commit of run r" in (plan.status.last_build.message or "")  # type: ignore[union-attr]
    assert [e.reason for e in plan.events] == ["BuildFailed"]
    product.status = plan.status
    later = plan_product(product, world, [view], T0 + timedelta(hours=1), CONFIG)
    assert later.create_job is None, "a refuted result is not an infrastructure failure: no retry"


def test_a_claimed_publish_without_any_verification_is_refuted(world: World) -> None:
    product, job = started(world)
    view = jobviews.view(completed(job), pod_message=claimed(), now=T0 + timedelta(minutes=2))
    assert view.result is None and view.failure_reason == reasons.RESULT_MISMATCH


def test_a_no_op_claim_is_believed_only_by_an_operator_running_no_op_builds(world: World) -> None:
    _, job = started(world)
    noop = BuildResult(outcome="NoOp", run_id="r").to_json()
    real = jobviews.view(completed(job), pod_message=noop, now=T0)
    assert real.result is None and real.failure_reason == reasons.RESULT_MISMATCH
    bench = jobviews.view(completed(job), pod_message=noop, now=T0, accept_noop=True)
    assert bench.result is not None and bench.result.outcome == "NoOp"


def test_a_failed_build_needs_no_verification(world: World) -> None:
    _, job = started(world)
    failed = BuildResult(outcome="Failed", reason="SqlError", message="bad sql").to_json()
    view = jobviews.view(completed(job), pod_message=failed, now=T0)
    assert view.result is not None and view.result.reason == "SqlError"


def test_an_unreadable_log_is_retried_like_a_storage_error(world: World) -> None:
    product, job = started(world)
    unreadable = Mismatch(reasons.VERIFICATION_FAILED, "cannot read the Delta log: connection refused")
    finished = T0 + timedelta(minutes=1, seconds=5)  # the Job completed at T0 + 1 minute
    view = jobviews.view(completed(job), pod_message=claimed(), now=finished, verification=unreadable)
    plan = plan_product(product, world, [view], finished, CONFIG)
    assert status_of(plan, "Built") == ("False", reasons.VERIFICATION_FAILED)
    assert plan.create_job is None, "backoff first"
    product.status = plan.status
    retry = plan_product(product, world, [view], T0 + timedelta(minutes=5), CONFIG)
    assert retry.create_job is not None and retry.create_job["metadata"]["name"].endswith("-2")


def test_the_run_id_is_derived_from_the_product_uid_and_the_job_name(world: World) -> None:
    product, job = started(world)
    name = job["metadata"]["name"]
    assert product.status is not None and product.status.last_build is not None
    assert product.status.last_build.run_id == run_id_for("u-1", name)
    request = json.loads(job["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"])
    assert request["productUid"] == "u-1" and request["runId"] == run_id_for("u-1", name)
    assert run_id_for("u-2", name) != run_id_for("u-1", name)


# ---------------------------------------------------------------------------------------------- pods of a Job
def pod(name: str, *, uid: str | None, controller: bool = True, kind: str = "Job") -> dict[str, Any]:
    refs = [] if uid is None else [{"kind": kind, "name": "j", "uid": uid, "controller": controller}]
    return {"metadata": {"name": name, "labels": {"job-name": "j"}, "ownerReferences": refs}}


def test_only_pods_controlled_by_the_job_with_that_uid_are_its_pods() -> None:
    pods = [
        pod("real", uid="job-uid-1"),
        pod("labelled-only", uid=None),
        pod("other-job", uid="job-uid-2"),
        pod("not-controller", uid="job-uid-1", controller=False),
        pod("not-a-job", uid="job-uid-1", kind="Pod"),
    ]
    assert [p["metadata"]["name"] for p in jobviews.build_pods(pods, "job-uid-1")] == ["real"]
    assert jobviews.build_pods(pods, "") == []


# ---------------------------------------------------------------------------------------------- vanished Jobs
def test_a_running_build_whose_job_vanished_while_the_operator_was_away_is_retried(world: World) -> None:
    product, job = started(world)
    name = job["metadata"]["name"]
    # Just created: its watch event may still be on the way, so nothing is looked up yet.
    assert job_to_confirm(product.status, set(), T0 + timedelta(seconds=5), 30) is None
    assert job_to_confirm(product.status, {name}, T0 + timedelta(minutes=5), 30) is None
    assert job_to_confirm(product.status, set(), T0 + timedelta(seconds=31), 30) == name
    # The operator restarts later; the API server says 404 for the Job.
    assert product.status is not None and product.status.last_build is not None
    restart = T0 + timedelta(minutes=10)
    gone = jobviews.vanished(product.status.last_build, now=restart, message=f"the build Job {name} was deleted")
    plan = plan_product(product, world, [gone], restart, CONFIG)
    assert plan.status.last_build is not None
    assert (plan.status.last_build.outcome, plan.status.last_build.reason) == ("Failed", reasons.JOB_DELETED)
    assert status_of(plan, "Built") == ("False", reasons.JOB_DELETED)
    product.status = plan.status
    assert job_to_confirm(product.status, set(), restart, 30) is None, "a failed build needs no more lookups"
    retry = plan_product(product, world, [], restart + timedelta(minutes=1), CONFIG)
    assert retry.create_job is not None and retry.create_job["metadata"]["name"] == f"{name}-2"


def test_without_a_lookup_a_missing_job_is_still_building_not_failed(world: World) -> None:
    product, _ = started(world)
    plan = plan_product(product, world, [], T0 + timedelta(minutes=10), CONFIG)
    assert status_of(plan, "Built") == ("Unknown", "Building")
    assert plan.create_job is None


# ---------------------------------------------------------------------------------------------- deletion
def doomed(world: World, **annotations: str) -> DataProduct:
    product, _ = started(world)
    product.spec.deletion_policy = "Delete"
    product.metadata["annotations"] = dict(annotations)
    return product


def deletion_job(product: DataProduct, world: World, state: str | None, attempt: int = 1,
                 at: datetime = T0) -> dict[str, Any]:  # fmt: skip
    job = deletion.deletion_job(product, world.domains["sales"], LOCATION, CONFIG, attempt=attempt)
    if state is not None:
        job["status"] = {"conditions": [{"type": state, "status": "True",
                                         "lastTransitionTime": at.isoformat().replace("+00:00", "Z")}]}  # fmt: skip
    return job


def test_retain_keeps_the_table_and_needs_no_job(world: World) -> None:
    product = doomed(world)
    product.spec.deletion_policy = "Retain"
    plan = deletion.plan_deletion(product, world.domains["sales"], LOCATION, [], T0, CONFIG)
    assert plan.done and plan.create_job is None


def test_a_product_never_built_has_nothing_to_delete(world: World) -> None:
    product = c360(world)
    product.spec.deletion_policy = "Delete"
    plan = deletion.plan_deletion(product, world.domains["sales"], LOCATION, [], T0, CONFIG)
    assert plan.done and plan.create_job is None


def test_deletion_starts_a_job_in_the_domain_namespace_with_only_the_tables_storage(world: World) -> None:
    product = doomed(world)
    config = OperatorConfig(lake_host_path="/var/lib/datamesh/lake")
    build = plan_product(product.model_copy(update={"status": None}), world, [], T0, config).create_job
    assert build is not None
    plan = deletion.plan_deletion(product, world.domains["sales"], LOCATION, [], T0, config)
    assert not plan.done and plan.create_job is not None
    assert plan.ready is not None and (plan.ready.status, plan.ready.reason) == ("False", reasons.DELETING)
    assert LOCATION in plan.ready.message
    assert [e.reason for e in plan.events] == ["DeletionStarted"]
    job = plan.create_job
    assert job["metadata"]["namespace"] == "sales" and "ownerReferences" not in job["metadata"]
    labels = job["metadata"]["labels"]
    assert labels[deletion.LABEL_DELETES] == "u-1" and "datamesh.dev/product" not in labels, "never a build Job"
    pod, build_pod = job["spec"]["template"]["spec"], build["spec"]["template"]["spec"]
    container, build_container = pod["containers"][0], build_pod["containers"][0]
    # The build pods' image, identity and security context.
    assert pod["securityContext"] == build_pod["securityContext"] and pod["securityContext"]["runAsNonRoot"]
    assert container["securityContext"] == build_container["securityContext"]
    assert pod["serviceAccountName"] == build_pod["serviceAccountName"] == "datamesh-builder"
    assert container["image"] == build_container["image"]
    assert container["command"] == ["python", "-m", "datamesh.build"]
    request = DeleteRequest.model_validate_json(next(e["value"] for e in container["env"] if e["name"] == REQUEST_ENV))
    assert (request.action, request.location, request.product_uid) == ("delete", LOCATION, "u-1")
    assert request.storage_root == "/var/lib/datamesh/lake/sales/gold"
    assert pod["automountServiceAccountToken"] is False
    # Of the lake, only the table's own folder, read-write, at its own path (as its build pods mount it).
    assert pod["volumes"][0] == {"name": "lake-output", "hostPath": {"path": LOCATION}}
    assert container["volumeMounts"][0] == {"name": "lake-output", "mountPath": LOCATION, "readOnly": False}
    assert not [v for v in pod["volumes"] if "hostPath" in v and v["hostPath"]["path"] != LOCATION]
    assert "initContainers" not in pod, "a deletion creates no table folder"


def test_table_storage_follows_the_domains_volume_or_none_for_object_stores(world: World) -> None:
    product = c360(world)
    domain = world.domains["sales"].model_copy(deep=True)
    assert deletion.table_storage(product, domain, "s3a://bucket/sales/p", CONFIG) == ([], [])
    assert deletion.table_storage(product, domain, LOCATION, CONFIG) == ([], []), "no lake mount configured"
    outside = OperatorConfig(lake_host_path="/somewhere/else")
    assert deletion.table_storage(product, domain, LOCATION, outside) == ([], [])
    domain.spec.storage.volume = PersistentVolume(mount_path="/var/lib/datamesh/lake/sales")
    volumes, mounts = deletion.table_storage(product, domain, LOCATION, CONFIG)
    assert volumes == [{"name": "storage", "persistentVolumeClaim": {"claimName": "sales-storage"}}]
    assert mounts == [{"name": "storage", "mountPath": LOCATION, "subPath": "gold/customer-360", "readOnly": False}]


def test_a_running_deletion_keeps_the_finalizer_and_says_so(world: World) -> None:
    product = doomed(world)
    running = deletion_job(product, world, None)
    plan = deletion.plan_deletion(product, world.domains["sales"], LOCATION, [running], T0, CONFIG)
    assert not plan.done and plan.create_job is None and plan.requeue_after == deletion.POLL_SECONDS
    assert (
        plan.ready is not None
        and plan.ready.reason == reasons.DELETING
        and running["metadata"]["name"] in plan.ready.message
    )


def test_a_succeeded_deletion_lets_the_finalizer_go(world: World) -> None:
    product = doomed(world)
    plan = deletion.plan_deletion(product, world.domains["sales"], LOCATION,
                                  [deletion_job(product, world, "Complete")], T0, CONFIG)  # fmt: skip
    assert plan.done and plan.create_job is None


def test_a_failed_deletion_is_shown_warned_and_retried_with_backoff(world: World) -> None:
    product = doomed(world)
    failed = deletion_job(product, world, "Failed", at=T0)
    message = deletion.failure_text('{"outcome":"Refused","reason":"LocationRefused","message":"not its table"}')
    assert message == "LocationRefused: not its table"
    plan = deletion.plan_deletion(product, world.domains["sales"], LOCATION, [failed], T0 + timedelta(seconds=5),
                                  CONFIG, failure=message)  # fmt: skip
    assert not plan.done and plan.create_job is None
    assert plan.ready is not None and plan.ready.reason == reasons.DELETION_FAILED
    assert "LocationRefused: not its table" in plan.ready.message
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", reasons.DELETION_FAILED)]
    assert plan.requeue_after == pytest.approx(25)
    # The same failure already shown: no second Event.
    assert product.status is not None
    product.status.conditions = [Condition(type=reasons.READY, status="False", reason=plan.ready.reason,
                                           message=plan.ready.message, last_transition_time=T0)]  # fmt: skip
    again = deletion.plan_deletion(product, world.domains["sales"], LOCATION, [failed], T0 + timedelta(seconds=10),
                                   CONFIG, failure=message)  # fmt: skip
    assert again.events == []
    # After the backoff: attempt 2 replaces attempt 1.
    retry = deletion.plan_deletion(product, world.domains["sales"], LOCATION, [failed], T0 + timedelta(seconds=31),
                                   CONFIG, failure=message)  # fmt: skip
    assert retry.create_job is not None and retry.create_job["metadata"]["name"].endswith("-2")
    assert retry.delete_jobs == [failed["metadata"]["name"]]
    second = deletion_job(product, world, "Failed", attempt=2, at=T0 + timedelta(seconds=40))
    later = deletion.plan_deletion(product, world.domains["sales"], LOCATION, [second], T0 + timedelta(seconds=41),
                                   CONFIG, failure=message)  # fmt: skip
    assert later.create_job is None and later.requeue_after == pytest.approx(59), "the backoff doubles"


def test_only_this_products_deletion_jobs_count(world: World) -> None:
    product = doomed(world)
    real = deletion_job(product, world, "Complete")
    forged_name = json.loads(json.dumps(real))
    forged_name["metadata"]["name"] = "something-else"
    other_uid = json.loads(json.dumps(real))
    other_uid["metadata"]["labels"][deletion.LABEL_DELETES] = "u-2"
    assert deletion.ours([forged_name, other_uid, real], product) == [real]


def test_force_delete_keeps_the_table_and_says_so(world: World) -> None:
    product = doomed(world, **{deletion.FORCE_DELETE_ANNOTATION: "true"})
    plan = deletion.plan_deletion(product, world.domains["sales"], LOCATION, [], T0, CONFIG)
    assert plan.done and plan.create_job is None
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "DeletionSkipped")]


def test_without_its_domain_the_table_cannot_be_located_and_the_finalizer_stays(world: World) -> None:
    product = doomed(world)
    plan = deletion.plan_deletion(product, None, None, [], T0, CONFIG)
    assert not plan.done and plan.create_job is None
    assert plan.ready is not None and plan.ready.reason == reasons.DELETION_FAILED
    assert deletion.FORCE_DELETE_ANNOTATION in plan.ready.message


def test_every_major_the_product_published_is_deleted_one_table_after_another(world: World) -> None:
    from datamesh.api.dataproduct import PreviousVersion

    product = doomed(world)
    assert product.status is not None
    current = f"{LOCATION}@v2"
    product.status.location = current
    product.status.previous_versions = [PreviousVersion(major=1, location=LOCATION, table_version=3)]
    tables = deletion.tables_of(product, current)
    assert tables == [current, LOCATION]
    sales = world.domains["sales"]

    def job(location: str, state: str | None, *, keyed: bool) -> dict[str, Any]:
        made = deletion.deletion_job(product, sales, location, CONFIG, attempt=1, keyed=keyed)
        if state is not None:
            stamp = "2026-01-01T12:00:00Z"
            made["status"] = {"conditions": [{"type": state, "status": "True", "lastTransitionTime": stamp}]}
        return made

    first = deletion.plan_deletions(product, sales, tables, [], T0, CONFIG)
    assert first.create_job is not None and not first.done
    assert first.create_job["metadata"]["annotations"][deletion.LOCATION_ANNOTATION] == current
    # The newest table's deletion done: the older major's comes next, under a Job name of its own.
    done_first = job(current, "Complete", keyed=False)
    second = deletion.plan_deletions(product, sales, tables, [done_first], T0, CONFIG)
    assert second.create_job is not None and not second.done
    assert second.create_job["metadata"]["annotations"][deletion.LOCATION_ANNOTATION] == LOCATION
    assert second.create_job["metadata"]["name"] != done_first["metadata"]["name"]
    request = DeleteRequest.model_validate_json(
        next(e["value"] for e in second.create_job["spec"]["template"]["spec"]["containers"][0]["env"]
             if e["name"] == REQUEST_ENV)
    )  # fmt: skip
    assert request.location == LOCATION and request.product_uid == "u-1"
    done_second = job(LOCATION, "Complete", keyed=True)
    assert deletion.ours([done_first, done_second], product) == [done_first, done_second]
    assert deletion.plan_deletions(product, sales, tables, [done_first, done_second], T0, CONFIG).done
    # A failure of the older table's deletion holds the finalizer and names that table.
    failed = job(LOCATION, "Failed", keyed=True)
    held = deletion.plan_deletions(product, sales, tables, [done_first, failed], T0, CONFIG,
                                   failures={LOCATION: "LocationRefused: not its table"})  # fmt: skip
    assert not held.done and held.ready is not None and held.ready.reason == reasons.DELETION_FAILED
    assert "not its table" in held.ready.message
    # Retain keeps every table, with no Job at all.
    product.spec.deletion_policy = "Retain"
    kept = deletion.plan_deletions(product, sales, tables, [], T0, CONFIG)
    assert kept.done and kept.create_job is None
