"""Carries out reconciles: turns cached state into plans (product_plan, children) and plans into API calls.

The kopf handlers only feed `observe_*` with watch events and call `finalize_*` from finalizers; all
decisions are made by the pure planners, so this module is about I/O, ordering and idempotency.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Any

from datamesh import placement
from datamesh.api import API_VERSION, DataProduct, Domain, reasons
from datamesh.api.dataproduct import DataProductStatus
from datamesh.api.domain import DomainStatus
from datamesh.api.governancepolicy import GovernancePolicyStatus
from datamesh.controller import children as domain_children
from datamesh.controller import conditions as cond
from datamesh.controller import deletion, engine, jobs, jobviews, metrics, secrets, storage
from datamesh.controller.alert_rules import AlertRules
from datamesh.controller.cache import Cache, ProductKey
from datamesh.controller.config import OperatorConfig
from datamesh.controller.events import EventRecorder
from datamesh.controller.kube import ApiError, Kube
from datamesh.controller.product_plan import (
    Compliance,
    JobView,
    always_compliant,
    job_to_confirm,
    plan_product,
    run_id_for,
)
from datamesh.controller.share_plan import SharePlan, field_manager, plan_shares, plan_unshare, settle
from datamesh.controller.share_secrets import write_share_secrets
from datamesh.controller.verify import Mismatch, Verification, verify_publication
from datamesh.controller.workqueue import WorkQueue
from datamesh.mesh import lifecycle
from datamesh.mesh.resolve import AccessDecider, allow_all, output_location, resolve_inputs
from datamesh.sharing_tokens import TOKEN_BYTES

logger = logging.getLogger("datamesh.controller")
if TYPE_CHECKING:
    from datamesh.controller.catalog_link import CatalogLink

FORCE_DELETE_ANNOTATION = deletion.FORCE_DELETE_ANNOTATION
#: Only products whose deletion has work left that cannot be done once the object is gone (deleting the
#: published data, deletionPolicy Delete) carry a finalizer. Everything else needs none: build Jobs go with
#: their owner through garbage collection and the catalog entry goes on the DELETED event (or, for deletes
#: missed while the operator was away, at the catalog's converge on start). A finalizer on every product cost
#: a metadata write each, the most expensive write of a burst. Not kopf's finalizer name: kopf removes its own
#: finalizer from objects none of its handlers need it on.
DATA_FINALIZER = "datamesh.dev/delete-published-data"
#: Products that other products read carry this one too: their deletion is held while the readers remain, unless
#: FORCE_DELETE_ANNOTATION lets them go (docs/lifecycle.md). Removed again when the last reader goes.
HOLD_FINALIZER = "datamesh.dev/consumers"
#: Present while recipients hold profiles of the product: its deletion takes their keys and tokens back first.
SHARES_FINALIZER = "datamesh.dev/shares"
#: How soon a held deletion is looked at again (a reader's own change brings it back sooner).
HOLD_RECHECK_SECONDS = 60.0
RESULT_GRACE_SECONDS = 30
#: A build the status says is running, whose Job no watch event has shown for this long after it was started, is
#: looked up (GET): deleted while the operator was away, it becomes a retryable JobDeleted failure.
JOB_WATCH_GRACE_SECONDS = 30
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
#: How soon a product whose domain workspace this process has not applied yet is looked at again.
WORKSPACE_WAIT_SECONDS = 2.0
#: How long after a change of the PrometheusRule CRD products are looked at again (controller/alert_rules.py).
CRD_DISCOVERY_DELAY = 5.0
#: How often a provisioned workspace is applied again (drift: a RoleBinding or quota edited by hand).
DRIFT_CHECK = timedelta(minutes=10)


def awaits_action(product: DataProduct | None) -> bool:
    """Whether a product holds a change the operator has not acted on: new (no status yet), a spec its status
    does not reflect (observedGeneration behind), or a deletion. Its reconcile goes before the resync of
    unchanged products that follows every start. (An unreadable product is reported, not built: no hurry.)"""
    if product is None:
        return False
    if product.metadata.get("deletionTimestamp"):
        return True
    status = product.status
    return status is None or status.observed_generation != int(product.metadata.get("generation") or 0)


class DomainInUse(Exception):
    """A Domain still holds DataProducts; its deletion waits."""


def now() -> datetime:
    return datetime.now(UTC)


class Runtime:
    def __init__(
        self,
        kube: Kube,
        config: OperatorConfig,
        *,
        compliance: Compliance = always_compliant,
        decide: AccessDecider = allow_all,
    ) -> None:
        self.kube = kube
        self.config = config
        self.cache = Cache()
        self.compliance = compliance
        self.decide = decide
        self.events = EventRecorder(kube, rate=config.event_rate, burst=config.event_burst)
        self.queue = WorkQueue(self._reconcile, workers=config.workers)
        self.catalog: CatalogLink | None = None
        self.alerts = AlertRules(kube, extra_labels=config.alert_rule_labels)
        #: The operator's RoleBinding subject, once asked (a 1-tuple: None is a valid answer).
        self._subject: tuple[dict[str, str] | None] | None = None
        self._masking_key: bytes | None = None
        self._policy_generations: dict[str, Any] = {}
        #: (domain, generation) whose workspace this process has applied.
        self._provisioned: set[tuple[str, int]] = set()
        #: Per domain, whether the workspace this process applied binds the Spark driver role (executors as pods).
        self._workspace_executors: dict[str, bool] = {}
        # Termination messages of finished build pods, read once: a pod may be gone by the next reconcile.
        self._messages: dict[tuple[str, str], str] = {}
        # What the table's log says of a finished build's claimed publish, checked once per build.
        self._verifications: dict[tuple[str, str], Verification] = {}
        #: When this process last applied each domain's workspace (its drift check is due DRIFT_CHECK later).
        self._workspace_checked: dict[str, datetime] = {}
        #: Per domain with `engine: connect`, its warm engine as this process knows it.
        self._engines: dict[str, engine.EngineState] = {}

    def enqueue_all_products(self) -> None:
        for namespace, name in list(self.cache.world.products):
            self.queue.add(("dp", namespace, name))

    # ------------------------------------------------------------------ watch events in
    def observe_product(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body.get("metadata", {})
        key: ProductKey = (meta.get("namespace", ""), meta.get("name", ""))
        known = key in self.cache.product_versions
        before = self.cache.world.products.get(key)
        resync = self._resync_adder(event_type)
        if event_type == "DELETED":
            self.cache.drop_product(key)
            self.queue.forget(("dp", *key))
            self.queue.add(("dp-gone", *key))
        elif self.cache.put_product(body):
            if awaits_action(self.cache.world.products.get(key)):
                self.queue.add(("dp", *key), urgent=True)
            else:
                resync(("dp", *key))
        if event_type == "DELETED" or not known:
            # The domain's product count: debounced, one status write per burst of new products.
            self.queue.add_after(("domain", str((body.get("spec") or {}).get("domain", ""))), 2.0)
        # A product's status change (a new version, readiness) matters to whoever reads it.
        for downstream in self.cache.world.downstream_of(*key):
            resync(("dp", downstream.namespace or "", downstream.name))
        # And a change of what it reads matters to the products it read and reads: their status.consumers.
        for upstream in self._upstreams_touched(before, self.cache.world.products.get(key)):
            resync(("dp", *upstream))

    def _resync_adder(self, event_type: str | None) -> Callable[[Hashable], None]:
        """How to queue a look that an event asks for: an object of kopf's initial list (type None, a product or a
        Job) asks for a resync, held until the list is in (workqueue.py); any other event is queued at once."""
        return self.queue.add_when_quiet if event_type is None else self.queue.add

    def _upstreams_touched(self, before: DataProduct | None, after: DataProduct | None) -> set[ProductKey]:
        """The products whose consumers change when `before` becomes `after` (None: absent): none unless the
        domain, inputs or transform changed, which a status write never does."""
        if before is after or (
            before is not None
            and after is not None
            and (before.spec.domain, before.spec.inputs, before.spec.transform)
            == (after.spec.domain, after.spec.inputs, after.spec.transform)
        ):
            return set()
        world = self.cache.world
        return {
            (world.namespace_of(item.domain or product.spec.domain), item.product)
            for product in (before, after)
            if product is not None
            for item in product.spec.inputs
            if item.product is not None
        }

    def observe_alert_rule_crd(self, event_type: str | None, body: dict[str, Any]) -> None:
        """The PrometheusRule CRD came, changed or went: every product's rule is compared again (or skipped).
        A few seconds later: discovery serves a new CRD a little after the API server reports it Established.
        The same CRD delivered again (a re-list, a status update) is no news: nothing is re-queued."""
        if not self.alerts.crd_event(event_type, body):
            return
        for namespace, name in list(self.cache.world.products):
            self.queue.add_after(("dp", namespace, name), CRD_DISCOVERY_DELAY)

    def observe_domain(self, event_type: str | None, body: dict[str, Any]) -> None:
        name = str(body.get("metadata", {}).get("name", ""))
        known = self.cache.world.domains.get(name)
        generation = body.get("metadata", {}).get("generation")
        if event_type == "DELETED":
            self.cache.drop_domain(name)
            self.queue.add(("domain-gone", name))
        else:
            self.cache.put_domain(body)
            if known is not None and known.metadata.get("generation") == generation:
                # Only status or metadata changed (often our own product count): the products are unaffected,
                # and re-queueing them all here would cost O(products) per status write.
                if body.get("metadata", {}).get("deletionTimestamp"):
                    self.queue.add(("domain", name))
                return
            self.queue.add(("domain", name))
        for product in self.cache.world.products_in(name):
            self.queue.add(("dp", product.namespace or "", product.name))
        for key in list(self.cache.invalid_products):
            self.queue.add(("dp", *key))

    def observe_policy(self, event_type: str | None, body: dict[str, Any]) -> None:
        name = str(body.get("metadata", {}).get("name", ""))
        generation = body.get("metadata", {}).get("generation")
        if event_type == "DELETED":
            self.cache.drop_policy(name)
            self._policy_generations.pop(name, None)
        else:
            self.cache.put_policy(body)
            if self._policy_generations.get(name) == generation:
                # Only status or metadata changed (often our own status write): nothing is decided differently.
                return
            self._policy_generations[name] = generation
        self.queue.add(("policy", name))
        # Policies change what is compliant and who may read what: look at every product again.
        for namespace, product in list(self.cache.world.products):
            self.queue.add(("dp", namespace, product))

    def observe_job(self, event_type: str | None, body: dict[str, Any]) -> None:
        if event_type == "DELETED":
            meta = body.get("metadata", {})
            self._messages.pop((meta.get("namespace", ""), meta.get("name", "")), None)
            self._verifications.pop((meta.get("namespace", ""), meta.get("name", "")), None)
        before = self.cache.cached_job(body)
        self._observe_engine_client(event_type, body)
        key = self.cache.put_job(body, deleted=event_type == "DELETED")
        # A running Job's status changes often (active, ready, pod counts) without telling a planner anything:
        # only a new Job, a finished one and a deleted one do.
        news = event_type == "DELETED" or before is None or jobviews.is_finished(before) != jobviews.is_finished(body)
        if key is not None and news:
            self._resync_adder(event_type)(("dp", *key))

    def _observe_engine_client(self, event_type: str | None, body: dict[str, Any]) -> None:
        """A build Job on a warm engine keeps it up while it runs; its end starts the idle clock."""
        meta = body.get("metadata") or {}
        if (meta.get("labels") or {}).get(jobs.LABEL_ENGINE) != "client":
            return
        domain = self.cache.world.domain_of_namespace(str(meta.get("namespace", "")))
        if domain is None:
            return
        state = self._engines.setdefault(domain.name, engine.EngineState())
        name = str(meta.get("name", ""))
        if event_type == "DELETED" or jobviews.is_finished(body):
            if name in state.running:
                state.running.discard(name)
                state.last_used = now()
                self.queue.add(("domain", domain.name))
        else:
            state.running.add(name)

    # ------------------------------------------------------------------ reconcile dispatch
    async def _reconcile(self, key: Hashable) -> float | None:
        assert isinstance(key, tuple)
        if key[0] == "dp":
            return await self.reconcile_product((key[1], key[2]))
        if key[0] == "domain":
            return await self.reconcile_domain(key[1])
        if key[0] == "policy":
            await self._policy_status(key[1])
        if key[0] == "dp-gone":
            self.alerts.forget((key[1], key[2]))
        if self.catalog is None:
            return None
        # Catalog writes are queued: a reconcile never waits on the catalog database.
        if key[0] == "domain-gone":
            self.catalog.drop_domain(key[1])
        elif key[0] == "dp-gone":
            self.catalog.drop_product(key[1], key[2])
        elif key[0] == "policy":
            policy = self.cache.world.policies.get(key[1])
            if policy is not None:
                self.catalog.sync_policy(policy)
            else:
                self.catalog.drop_policy(key[1])
        return None

    # ------------------------------------------------------------------ products
    async def reconcile_product(self, key: ProductKey) -> float | None:
        invalid = self.cache.invalid_products.get(key)
        if invalid is not None:
            await self._reconcile_invalid(invalid.body, "; ".join(str(p) for p in invalid.problems))
            return None
        product = self.cache.world.products.get(key)
        if product is None:
            return None
        if not self._workspace_applied(product.spec.domain):
            # Under a ServiceAccount the operator's rights in a namespace come from the workspace binding it applies
            # there itself: the domain's reconcile comes first (it is queued at start like every domain).
            return WORKSPACE_WAIT_SECONDS
        if self._awaits_driver_binding(product):
            # Executors as pods need the builder's Spark driver binding, which the domain's reconcile (queued after
            # every product event) adds: a build started before it would fail on its first API call.
            return WORKSPACE_WAIT_SECONDS
        if product.metadata.get("deletionTimestamp"):
            return await self._finalize(key, product)
        # The data finalizer before the first build, so no published data can ever outlive its product; the hold
        # as soon as a reader appears, so deleting the product cannot pull the table from under it.
        wanted = {
            HOLD_FINALIZER: bool(lifecycle.consumers_of(self.cache.world, product)),
            SHARES_FINALIZER: bool(product.status and product.status.shares),
        }
        if product.spec.deletion_policy == "Delete":
            wanted[DATA_FINALIZER] = True
        await self._set_finalizers(product.metadata, wanted)
        current = now()
        await self._engine_for(product)
        views = await self._job_views(key, product, current)
        plan = plan_product(
            product, self.cache.world, views, current, self.config, compliance=self.compliance, decide=self.decide,
            engine_mounts={d: e.mounts for d, e in self._engines.items() if e.mounts is not None},
        )  # fmt: skip
        # Decided on the new status: the reconcile that records the first publish hands out the profiles too.
        shared = await self._share(product.model_copy(update={"status": plan.status}), current)
        plan.status.shares, plan.status.handled_share_rotation = shared.shares, shared.handled_rotation
        if shared.shares and not (product.status and product.status.shares):
            # The shares finalizer is decided from the stored status, which gets its first shares below: look again
            # at once rather than wait for this write's own watch event (it no longer queues a reconcile).
            plan.wake(1.0)
        if self.catalog is not None:
            # Queued, not written: should the write not land, the product is looked at again (CatalogSynced=False).
            synced = self.catalog.sync_product(
                product.model_copy(update={"status": plan.status}), on_failure=lambda: self.queue.add(("dp", *key))
            )
            generation = int(product.metadata.get("generation") or 0)
            plan.status.conditions = cond.merge(plan.status.conditions, [synced], generation=generation, now=current)
            if synced.status != "True":
                plan.wake(15)
        involved = {"apiVersion": API_VERSION, "kind": "DataProduct", "metadata": product.metadata}
        for name in plan.delete_jobs:
            await self.kube.delete("batch/v1", "Job", name, key[0])
        if plan.create_job is not None:
            await self._create_job(plan.create_job, plan.uses_engine)
        await self._patch_product_status(product, plan.status)
        for event in plan.events:
            self.events.record(involved, event.type, event.reason, event.message)
            metrics.count_build_event(product.spec.domain, plan.status.last_build, event.reason, key)
            logger.info(
                event.message,
                extra={"product": product.name, "namespace": key[0], "domain": product.spec.domain,
                       "job": plan.status.last_build.job if plan.status.last_build else None, "reason": event.reason},
            )  # fmt: skip
        # Last: the product's own status comes first, and a missing CRD only skips this. Only a validated product
        # is in its domain's workspace, where the operator may write rules.
        await self.alerts.ensure(product, validated=cond.is_true(plan.status.conditions, reasons.VALIDATED))
        return plan.requeue_after

    async def _share(self, product: DataProduct, current: datetime) -> SharePlan:
        """Hand out and take back the product's Delta Sharing profiles (share_plan.py): the Secrets now, the token
        hashes through the catalog's queue (the catalog API accepts a token once its hash has landed)."""
        world = self.cache.world
        shared = plan_shares(
            product, world, now=current, endpoint=self.config.sharing_endpoint if self.catalog is not None else "",
            lifetime=timedelta(days=self.config.share_token_days),
            ready=frozenset(d for d in world.domains if self._workspace_applied(d)),
            new_token=lambda: token_urlsafe(TOKEN_BYTES),
        )  # fmt: skip
        if not shared.issue and not shared.revoke:
            return shared
        failed = await write_share_secrets(self.kube, shared, field_manager(product.spec.domain, product.name))
        status = product.status or DataProductStatus()
        shared = settle(shared, failed, status.shares, status.handled_share_rotation)
        if self.catalog is not None:
            issued = [(i.share.recipient, i.share.token_hash, i.share.expires_at) for i in shared.issue]
            revoked = [i.replaces for i in shared.issue if i.replaces] + [r.share.token_hash for r in shared.revoke]
            self.catalog.share_tokens(issued, revoked, current)
        for issue in shared.issue:
            logger.info("share profile of %s for %s written to %s", product.name, issue.share.recipient,
                        issue.share.secret)  # fmt: skip
        for revoke in shared.revoke:
            logger.info("share of %s revoked for %s", product.name, revoke.share.recipient)
        return shared

    async def _unshare(self, product: DataProduct) -> None:
        """Take back every profile a product being deleted handed out. Best effort for the Secrets (a recipient's
        broken namespace must not hold the deletion; the API serves no deleted product anyway), certain for the
        tokens, which the catalog revokes."""
        plan = plan_unshare(product, self.cache.world)
        if not plan.revoke:
            return
        failed = await write_share_secrets(self.kube, plan, field_manager(product.spec.domain, product.name))
        if failed:
            logger.warning("share keys of deleted product %s stay in %s; its tokens are revoked", product.name,
                           ", ".join(sorted(failed)))  # fmt: skip
        if self.catalog is not None:
            self.catalog.share_tokens([], [r.share.token_hash for r in plan.revoke], now())
        for revoke in plan.revoke:
            logger.info("share of deleted product %s revoked for %s", product.name, revoke.share.recipient)

    async def _job_views(self, key: ProductKey, product: DataProduct, current: datetime) -> list[JobView]:
        """The product's build Jobs as the planner reads them, with a vanished or lost one accounted for."""
        views = [await self._job_view(job, current) for job in self.cache.jobs_of(key)]
        lost = self.cache.lost_job_of(key)
        if lost is not None:
            views.append(jobviews.lost(lost, now=current))
        else:
            missing = job_to_confirm(product.status, {v.name for v in views}, current, JOB_WATCH_GRACE_SECONDS)
            if missing is not None:
                views.append(await self._confirm_job(product, missing, current))
        return views

    async def _policy_status(self, name: str) -> None:
        """Ready on every policy: an unreadable one (stored under older rules, say) is out of force, and says why."""
        problems = self.cache.invalid_policies.get(name)
        policy = self.cache.world.policies.get(name)
        if problems is None and policy is None:
            return  # deleted
        old = (policy.status if policy else None) or GovernancePolicyStatus()
        generation = int(policy.metadata.get("generation") or 0) if policy else 0
        if problems:
            message = "; ".join(str(p) for p in problems)
            ready = cond.Desired(reasons.READY, "False", "InvalidSpec", f"not in force: {message}"[:4096])
        else:
            ready = cond.Desired(reasons.READY, "True", "InForce", "evaluated at admission and on every reconcile")
        status = old.model_copy(deep=True)
        status.conditions = cond.merge(old.conditions, [ready], generation=generation, now=now())
        if policy is not None:
            status.observed_generation = generation
        if status.to_wire() == old.to_wire():
            return
        try:
            await self.kube.patch_status(API_VERSION, "GovernancePolicy", name, None, status.to_wire())
        except ApiError as error:
            if not error.not_found:
                raise

    async def _job_view(self, job: dict[str, Any], current: datetime) -> JobView:
        """The job, with its pod's termination message once it finished, or whether it is stuck Pending."""
        meta = job.get("metadata", {})
        namespace, name, uid = meta.get("namespace", ""), meta.get("name", ""), str(meta.get("uid", ""))
        message: str | None = None
        verification: Verification | None = None
        unschedulable = False
        fetched = False
        pods_left = True
        if jobviews.is_finished(job):
            owner = str((meta.get("labels") or {}).get("datamesh.dev/product", ""))
            product = self.cache.world.products.get((namespace, owner))
            last = product.status.last_build if product and product.status else None
            if last is None or last.job != name or last.outcome in (None, "Running"):
                message = self._messages.get((namespace, name))
                if message is None:
                    message, pods_left = await self._pod_message(namespace, uid)
                fetched = True
                if message is not None:
                    self._messages[(namespace, name)] = message
                    verification = await self._verify(product, name, message)
        else:
            created = jobviews.parse_time(meta.get("creationTimestamp")) or current
            if current - created > timedelta(seconds=self.config.pending_timeout_seconds):
                unschedulable = await self._pods_pending(namespace, uid)
        view = jobviews.view(job, pod_message=message, unschedulable=unschedulable, now=current,
                             verification=verification, accept_noop=self.config.noop_builds)  # fmt: skip
        if fetched and message is None and not pods_left:
            # The pod is gone (deleted while running, or evicted): no result will ever come. A distinct,
            # retryable reason, so the build is retried instead of waiting for nothing.
            return dataclasses.replace(view, failure_reason="PodDeleted")
        if fetched and message is None:
            finished_at = view.finished_at or current
            if current - finished_at < timedelta(seconds=RESULT_GRACE_SECONDS):
                # The Job can be marked finished before its pod's final status is readable; wait a little.
                logger.info("job %s finished; waiting for its pod's termination message", name)
                return dataclasses.replace(view, result_pending=True)
        return view

    async def _verify(self, product: DataProduct | None, job: str, message: str) -> Verification | None:
        """What the table's log says of a claimed publish (None when nothing is claimed), checked once per build."""
        result = jobviews.parse_result(message)
        if product is None or not jobviews.claims_publish(result):
            return None
        cached = self._verifications.get((product.namespace or "", job))
        if cached is not None:
            return cached
        location = output_location(product, self.cache.world) or ""
        run_id = run_id_for(str(product.metadata.get("uid", "")), job)
        verification = await asyncio.to_thread(
            verify_publication,
            location,
            run_id,
            str(product.metadata.get("uid", "")),
            claimed_version=result.table_version if result is not None else None,
        )
        if isinstance(verification, Mismatch):
            logger.warning("job %s: claimed publish not verified: %s", job, verification.message,
                           extra={"product": product.name, "namespace": product.namespace, "job": job,
                                  "reason": verification.reason})  # fmt: skip
        self._verifications[(product.namespace or "", job)] = verification
        return verification

    async def _job_pods(self, namespace: str, job_uid: str) -> list[dict[str, Any]]:
        """The pods the Job controller made for the Job with this uid; a pod merely labelled `job-name` is not."""
        if not job_uid:
            return []
        selector = f"{jobviews.CONTROLLER_UID_LABELS[0]}={job_uid}"
        return jobviews.build_pods(await self.kube.list("v1", "Pod", namespace, label_selector=selector), job_uid)

    async def _pod_message(self, namespace: str, job_uid: str) -> tuple[str | None, bool]:
        """The newest termination message of the job's pods, and whether any pod is left."""
        pods = await self._job_pods(namespace, job_uid)
        pods.sort(key=lambda p: p.get("metadata", {}).get("creationTimestamp", ""))
        for pod in reversed(pods):
            message = jobviews.termination_message(pod)
            if message:
                return message, True
        return None, bool(pods)

    async def _pods_pending(self, namespace: str, job_uid: str) -> bool:
        pods = await self._job_pods(namespace, job_uid)
        return bool(pods) and all((p.get("status") or {}).get("phase") == "Pending" for p in pods)

    async def _confirm_job(self, product: DataProduct, name: str, current: datetime) -> JobView:
        """The running build the cache has not seen: the Job as the API server has it, or a JobDeleted failure."""
        last = product.status.last_build if product.status else None
        assert last is not None
        namespace = product.namespace or ""
        try:
            job = await self.kube.get("batch/v1", "Job", name, namespace)
        except ApiError as error:
            if not error.not_found:
                raise
            logger.warning("build job %s/%s is gone; retrying the build", namespace, name)
            return jobviews.vanished(last, now=current, message=f"the build Job {name} was deleted before it finished")
        owners = (job.get("metadata") or {}).get("ownerReferences") or []
        if not any(o.get("controller") is True and o.get("uid") == product.metadata.get("uid") for o in owners):
            return jobviews.vanished(last, now=current, message=f"job {name} exists but is not this product's build")
        self.cache.put_job(job)
        return await self._job_view(job, current)

    async def _patch_product_status(self, product: DataProduct, status: DataProductStatus) -> None:
        new = status.to_wire()
        old = product.status.to_wire() if product.status else {}
        if new == old:
            return
        try:
            written = await self.kube.patch_status(
                API_VERSION, "DataProduct", product.name, product.namespace, _with_nulls(old, new)
            )
        except ApiError as error:
            if not error.not_found:
                raise
            return
        # Keep the cache ahead of the watch so the next reconcile does not redo this one.
        self.cache.remember_product(written)

    async def _write_invalid_status(self, body: dict[str, Any], message: str) -> None:
        meta = body.get("metadata", {})
        generation = int(meta.get("generation") or 0)
        try:
            old = DataProductStatus.model_validate(body.get("status") or {})
        except ValueError:
            old = DataProductStatus()
        desired = [
            cond.Desired(reasons.VALIDATED, "False", "InvalidSpec", message),
            cond.Desired(reasons.READY, "False", "InvalidSpec", message),
        ]
        status = old.model_copy(deep=True)
        status.conditions = cond.merge(old.conditions, desired, generation=generation, now=now())
        if status.to_wire() == old.to_wire():
            return
        await self.kube.patch_status(API_VERSION, "DataProduct", meta["name"], meta["namespace"], status.to_wire())
        self.events.record(
            {"apiVersion": API_VERSION, "kind": "DataProduct", "metadata": meta}, "Warning", "InvalidSpec", message
        )

    async def _reconcile_invalid(self, body: dict[str, Any], message: str) -> None:
        meta = body.get("metadata", {})
        if meta.get("deletionTimestamp"):
            # An unreadable spec published nothing this operator could delete, nor anything a reader could rely on.
            await self._set_finalizers(meta, {DATA_FINALIZER: False, HOLD_FINALIZER: False, SHARES_FINALIZER: False})
        else:
            await self._write_invalid_status(body, message)

    async def _finalize(self, key: ProductKey, product: DataProduct) -> float | None:
        """The finalizers of a product being deleted: held while other products read it, then its data goes through a
        deletion Job, then the finalizer."""
        finalizers = product.metadata.get("finalizers") or []
        if HOLD_FINALIZER in finalizers:
            if await self._hold(product):
                return HOLD_RECHECK_SECONDS
            # Its watch event brings the product back for the data finalizer, with the metadata this write left.
            await self._set_finalizers(product.metadata, {HOLD_FINALIZER: False})
            return None
        if SHARES_FINALIZER in finalizers:
            await self._unshare(product)
            await self._set_finalizers(product.metadata, {SHARES_FINALIZER: False})
            return None
        if DATA_FINALIZER not in finalizers:
            return None
        requeue = await self.finalize_product(key)
        if requeue is None:
            await self._set_finalizer(product.metadata, present=False)
        return requeue

    async def _hold(self, product: DataProduct) -> bool:
        """Whether readers still hold the product's deletion; if so Ready says who (and a Warning Event, once)."""
        consumers = lifecycle.consumers_of(self.cache.world, product)
        held = deletion.plan_hold(product, consumers)
        if held is None:
            return False
        old = product.status or DataProductStatus()
        before = cond.find(old.conditions, reasons.READY)
        status = old.model_copy(deep=True)
        status.consumers, status.consumer_count = consumers, len(consumers)
        generation = int(product.metadata.get("generation") or 0)
        status.conditions = cond.merge(old.conditions, [held], generation=generation, now=now())
        await self._patch_product_status(product, status)
        if before is None or (before.reason, before.message) != (held.reason, held.message):
            involved = {"apiVersion": API_VERSION, "kind": "DataProduct", "metadata": product.metadata}
            self.events.record(involved, "Warning", held.reason, held.message)
        return True

    async def _set_finalizer(self, meta: dict[str, Any], *, present: bool) -> None:
        await self._set_finalizers(meta, {DATA_FINALIZER: present})

    async def _set_finalizers(self, meta: dict[str, Any], present: dict[str, bool]) -> None:
        """Add or remove the operator's finalizers in one write (a second would conflict with the first)."""
        finalizers = list(meta.get("finalizers") or [])
        wanted = [f for f in finalizers if present.get(f, True)]
        wanted += [name for name, keep in present.items() if keep and name not in wanted]
        if wanted == finalizers:
            return
        try:
            written = await self.kube.patch_finalizers(API_VERSION, "DataProduct", meta, wanted)
        except ApiError as error:
            if error.not_found:
                return
            if error.conflict:
                # Changed since we looked: its watch event is on the way and brings this product back here.
                logger.info("product %s/%s changed before its finalizer was updated; retrying", meta.get("namespace"),
                            meta.get("name"))  # fmt: skip
                return
            raise
        if any(present.values()):
            self.cache.remember_product(written)

    async def finalize_product(self, key: ProductKey) -> float | None:
        """Deletion under deletionPolicy Delete: stop running builds, delete the published data with a deletion Job.
        None once done (the finalizer may go), else when to look again."""
        for job in self.cache.jobs_of(key):
            if not jobviews.is_finished(job):
                await self.kube.delete("batch/v1", "Job", job["metadata"]["name"], key[0])
        product = self.cache.world.products.get(key)
        if product is not None:
            requeue = await self._delete_data(product)
            if requeue is not None:
                return requeue
        if self.catalog is not None:
            # Queued: while the catalog is down the delete lands later, through converge.
            self.catalog.drop_product(*key)
        return None

    async def _delete_data(self, product: DataProduct) -> float | None:
        """One step of the deletion Job's life (see controller/deletion.py); None when the data is dealt with."""
        namespace = product.namespace or ""
        uid = str(product.metadata.get("uid", ""))
        jobs: list[dict[str, Any]] = []
        failures: dict[str, str | None] = {}
        tables = deletion.tables_of(product, output_location(product, self.cache.world))
        if product.spec.deletion_policy == "Delete" and uid:
            selector = f"{deletion.LABEL_DELETES}={uid}"
            jobs = deletion.ours(await self.kube.list("batch/v1", "Job", namespace, label_selector=selector), product)
            for table in tables:
                newest = deletion.newest(deletion.of_table(jobs, table))
                if newest is not None and jobviews.job_condition(newest, "Failed") is not None:
                    message, _ = await self._pod_message(namespace, str(newest["metadata"].get("uid", "")))
                    failures[table] = deletion.failure_text(message)
        domain = self.cache.world.domains.get(product.spec.domain)
        plan = deletion.plan_deletions(product, domain, tables, jobs, now(), self.config, failures=failures)
        involved = {"apiVersion": API_VERSION, "kind": "DataProduct", "metadata": product.metadata}
        for name in plan.delete_jobs:
            await self.kube.delete("batch/v1", "Job", name, namespace)
        if plan.create_job is not None:
            try:
                await self.kube.create(plan.create_job)
            except ApiError as error:
                if not error.conflict:
                    # E.g. the namespace is terminating: say so, keep the finalizer, try again later.
                    message = f"cannot start the deletion Job: {error.message}"
                    plan.ready = cond.Desired(reasons.READY, "False", reasons.DELETION_FAILED, message)
                    plan.events = [deletion.PlannedEvent("Warning", reasons.DELETION_FAILED, message[:1024])]
                    plan.requeue_after = 30
        for event in plan.events:
            self.events.record(involved, event.type, event.reason, event.message)
            logger.info(event.message, extra={"product": product.name, "namespace": namespace, "reason": event.reason})
        if plan.ready is not None:
            old = product.status or DataProductStatus()
            status = old.model_copy(deep=True)
            generation = int(product.metadata.get("generation") or 0)
            status.conditions = cond.merge(old.conditions, [plan.ready], generation=generation, now=now())
            await self._patch_product_status(product, status)
        return None if plan.done else (plan.requeue_after or deletion.POLL_SECONDS)

    # ------------------------------------------------------------------ domains
    def _claims(self, domain: Domain) -> list[str]:
        """Why the Domain's namespace, storage or sources are refused (nothing: they hold)."""
        world = self.cache.world
        return [
            *placement.namespace_problems(
                domain, world.domains, self.config.namespace, self.config.reserved_namespaces, seniority=True
            ),
            *placement.domain_problems(domain, world.domains, world.products.values(), seniority=True),
        ]

    async def _provision(self, domain: Domain, claims: list[str]) -> cond.Desired:
        """The domain's workspace, in the order least privilege needs, once its claims hold. Nothing is applied
        for a Domain whose namespace or storage is refused: the webhook may have been down when it was created."""
        if claims:
            return cond.Desired(reasons.WORKSPACE_READY, "False", reasons.CLAIM_REFUSED, "; ".join(claims))
        try:
            existing = await self._get_or_none("v1", "Namespace", domain.namespace_name)
            refusal = placement.may_adopt(
                (existing.get("metadata") or {}).get("labels") or {} if existing is not None else None, domain.name
            )
            if refusal is not None:
                return cond.Desired(reasons.WORKSPACE_READY, "False", reasons.CLAIM_REFUSED, refusal)
            await self._apply_workspace(domain, existing)
        except (ApiError, secrets.MaskingKeyInvalid) as error:
            text = error.message if isinstance(error, ApiError) else str(error)
            return cond.Desired(reasons.WORKSPACE_READY, "False", "ProvisioningFailed", text)
        return cond.Desired(reasons.WORKSPACE_READY, "True", "Provisioned", f"namespace {domain.namespace_name}")

    async def _apply_workspace(self, domain: Domain, existing: dict[str, Any] | None) -> None:
        uid = domain.metadata.get("uid")
        # Only a namespace made for this Domain goes with it: never one it adopted.
        owned = existing is None or any(
            ref.get("uid") == uid for ref in (existing.get("metadata") or {}).get("ownerReferences") or []
        )
        namespace = domain.namespace_name
        await self.kube.apply(
            domain_children.namespace(domain, pod_security=self.config.pod_security_level, owned=owned)
        )
        subject = await self._operator_subject()
        executors = domain_children.uses_executors(domain, self.cache.world.products_in(domain.name))
        objects = domain_children.children(domain, self.config.builder_service_account, subject, executors=executors)
        if subject is not None:
            # The operator's own rights in the namespace come from this binding: first, and wait until RBAC has it.
            await self.kube.apply(objects[0])
            await self._await_access(namespace)
            objects = objects[1:]
        for child in objects:
            await self.kube.apply(child)
        key = await self._mesh_key()
        await self.kube.apply(secrets.domain_build_secret(domain, key, self.config, self.config.lineage_api_key))
        for api_version, kind, child_name in domain_children.obsolete(domain, executors=executors):
            await self.kube.delete(api_version, kind, child_name, namespace)
        self._workspace_executors[domain.name] = executors

    def _awaits_driver_binding(self, product: DataProduct) -> bool:
        domain = self.cache.world.domains.get(product.spec.domain)
        if domain is None or product.metadata.get("deletionTimestamp"):
            return False
        return jobs.executor_count(product, domain) > 0 and not self._workspace_executors.get(domain.name, False)

    def _workspace_applied(self, domain: str) -> bool:
        """Whether this process may act in the domain's namespace: an admin needs no workspace binding; a
        ServiceAccount once it applied the domain's workspace (or when the domain is unknown: nothing to act on)."""
        if self._subject is not None and self._subject[0] is None:
            return True
        if domain not in self.cache.world.domains:
            return True
        return any(name == domain for name, _ in self._provisioned)

    async def _get_or_none(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return await self.kube.get(api_version, kind, name, namespace)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    async def _operator_subject(self) -> dict[str, str] | None:
        """The operator's own RoleBinding subject (None on an admin's kubeconfig), asked once."""
        if self._subject is None:
            review = await self.kube.request(
                "POST",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            )
            username = str((((review or {}).get("status") or {}).get("userInfo") or {}).get("username", ""))
            self._subject = (domain_children.operator_subject(username),)
        return self._subject[0]

    async def _await_access(self, namespace: str) -> None:
        """RBAC learns a new RoleBinding from a watch: wait (briefly) until it lets the operator create Jobs."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": namespace, "verb": "create", "group": "batch",
                                            "resource": "jobs"}},
        }  # fmt: skip
        for _ in range(50):
            answer = await self.kube.request(
                "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review
            )
            if ((answer or {}).get("status") or {}).get("allowed"):
                return
            await asyncio.sleep(0.2)

    async def _mesh_key(self) -> bytes:
        """The mesh-wide masking key, read or created once (in the operator's namespace, made when missing)."""
        if self._masking_key is None:
            if await self._get_or_none("v1", "Namespace", self.config.namespace) is None:
                await self.kube.create(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.config.namespace}}
                )
            self._masking_key = await secrets.ensure_mesh_key(self.kube, self.config)
        return self._masking_key

    async def reconcile_domain(self, name: str) -> float | None:
        invalid = self.cache.invalid_domains.get(name)
        domain = self.cache.world.domains.get(name)
        if domain is None or invalid is not None or domain.metadata.get("deletionTimestamp"):
            return None
        desired: list[cond.Desired] = []
        generation = int(domain.metadata.get("generation") or 0)
        old = domain.status or DomainStatus()
        # Provisioned by this very process: after a restart (perhaps under another identity, whose own workspace
        # binding is not there yet) every workspace is applied once again.
        executors = domain_children.uses_executors(domain, self.cache.world.products_in(name))
        provisioned = (
            (name, generation) in self._provisioned
            and old.observed_generation == generation
            and cond.is_true(old.conditions, "WorkspaceReady")
            # A product turning executors on (or the last one off) changes the workspace's bindings.
            and self._workspace_executors.get(name) == executors
        )
        drift_check_due = workspace_check_due(self._workspace_checked.get(name), now())
        refusals: list[str] = []  # a provisioned workspace's storage was not refused
        if provisioned and not drift_check_due:
            # Only the product count may have changed: no need to re-apply a dozen children.
            desired.append(cond.Desired("WorkspaceReady", "True", "Provisioned", f"namespace {domain.namespace_name}"))
        else:
            claims = self._claims(domain)
            refusals = storage.storage_refusals(claims)
            desired.append(await self._provision(domain, claims))
            if desired[-1].status == "True":
                self._provisioned.add((name, generation))
                self._workspace_checked[name] = now()
        desired.append(await self._storage_condition(domain, workspace_ready=desired[0].status == "True",
                                                     refusals=refusals))  # fmt: skip
        ready = cond.summarize(desired, ready_reason="Provisioned", ready_message=f"workspace {domain.namespace_name}")
        status = old.model_copy(deep=True)
        status.conditions = cond.merge(old.conditions, [*desired, ready], generation=generation, now=now())
        status.observed_generation = generation
        status.namespace = domain.namespace_name
        status.products = len(self.cache.world.products_in(name))
        status.storage_location = domain.spec.storage.location
        if status.to_wire() != old.to_wire():
            await self.kube.patch_status(API_VERSION, "Domain", name, None, status.to_wire())
            # Cached models are read-only (controller/shared_fields.py): the cache gets a new one.
            domain = self.cache.world.domains[name] = domain.model_copy(update={"status": status})
            if self.catalog is not None:
                self.catalog.sync_domain(domain)
        engine_wake = await self._reconcile_engine(domain, changed=old.observed_generation != generation)
        # A workspace someone changed by hand is put back at the next drift check, even with no event.
        wake = DRIFT_CHECK.total_seconds() if ready.status == "True" else 30.0
        return min(wake, engine_wake) if engine_wake is not None else wake

    async def _create_job(self, job: dict[str, Any], engine_of: str | None) -> None:
        try:
            await self.kube.create(job)
        except ApiError as error:
            if not error.conflict:
                raise
            # Same trigger, same name: the Job exists already (an earlier run of this operator).
            logger.info("build job %s already exists", job["metadata"]["name"])
        if engine_of is not None:
            self._use_engine(engine_of, job["metadata"]["name"])

    async def _engine_for(self, product: DataProduct) -> None:
        """A product of a domain with a warm engine whose inputs the engine does not mount yet (a new product, a
        new grant): the engine is applied with them first, so the build can use it instead of a pod of its own."""
        domain = self.cache.world.domains.get(product.spec.domain)
        if domain is None or not engine.wants_engine(domain):
            return
        state = self._engines.get(domain.name)
        mounts = state.mounts if state is not None else None
        if mounts is not None and all(
            engine.covered(os.path.normpath(placement.local_path(item.location)), mounts, read_only=True)
            for item in resolve_inputs(product, self.cache.world, self.decide).inputs
            if placement.is_local(item.location)
        ):
            return
        await self._reconcile_engine(domain, changed=False)

    def _use_engine(self, domain: str, job: str) -> None:
        state = self._engines.setdefault(domain, engine.EngineState())
        state.running.add(job)
        state.last_used = now()
        if state.replicas == 0:
            self.queue.add(("domain", domain))  # scaled to zero: start it now, the build waits for it

    async def _reconcile_engine(self, domain: Domain, *, changed: bool) -> float | None:
        """Apply the domain's warm engine at the replicas its use calls for; remove it when the domain has none.
        Returns when to look again (the end of the idle period), or None."""
        name = domain.name
        state = self._engines.get(name)
        if not engine.wants_engine(domain):
            if state is not None or changed:
                self._engines.pop(name, None)
                for api_version, kind, child in engine.OBSOLETE:
                    await self.kube.delete(api_version, kind, child, domain.namespace_name)
            return None
        if state is None:
            state = self._engines[name] = engine.EngineState()
        if state.applied is None and state.last_used is None:
            # First look of this process: the last use is kept on the Deployment, so a restart does not wake it.
            found = await self._get_or_none("apps/v1", "Deployment", engine.ENGINE_NAME, domain.namespace_name)
            state.last_used = engine.last_used_of(found)
        locations = [
            item.location
            for product in self.cache.world.products_in(name)
            for item in resolve_inputs(product, self.cache.world, self.decide).inputs
        ]
        try:
            storage = engine.engine_storage(domain, locations, self.config)
        except ValueError as refusal:  # HostPathRefused included: its builds keep building in their own pods
            state.mounts = None
            logger.warning("no warm engine for domain %s: %s", name, refusal, extra={"domain": name})
            return None
        token = engine.engine_token(await self._mesh_key(), str(domain.metadata.get("uid", "")))
        count, wake = engine.replicas(state.last_used, now(), engine.idle_after(domain), len(state.running))
        objects = engine.manifests(
            domain, storage, self.config, token=token, replica_count=count, last_used=state.last_used
        )
        fingerprint = engine.fingerprint(objects)
        if fingerprint != state.applied:
            for manifest in objects:
                await self.kube.apply(manifest)
            state.applied = fingerprint
            if count != state.replicas:
                logger.info("warm engine of domain %s scaled to %d", name, count, extra={"domain": name})
        state.replicas = count
        state.mounts = engine.mount_table(storage)
        return wake

    async def _storage_condition(self, domain: Domain, *, workspace_ready: bool, refusals: list[str]) -> cond.Desired:
        """StorageReady: the reads storage.py decides from (the folder made, the claim and its StorageClass)."""
        try:
            place = placement.storage_root(domain)
        except placement.PlacementError as error:
            refusals = [*refusals, str(error)]
        if refusals:
            return storage.refused(refusals)
        if place.scheme != "file":
            return storage.object_store(str(place))
        if domain.spec.storage.volume is None:
            return storage.folder(str(place), _make_folder(str(place)), self.config.lake_host_path)
        if not workspace_ready:
            return storage.claim_unchecked(domain)
        try:
            claim = await self._get_or_none("v1", "PersistentVolumeClaim", storage.claim_name(domain),
                                            domain.namespace_name)  # fmt: skip
        except ApiError as error:
            return storage.claim_unreadable(domain, error.message)
        class_name = storage.needs_storage_class(claim)
        storage_class = None
        if class_name is not None:
            storage_class = storage.StorageClass(class_name)
            try:
                found = await self.kube.request("GET", f"/apis/storage.k8s.io/v1/storageclasses/{class_name}")
                mode = str((found or {}).get("volumeBindingMode") or "Immediate")
                storage_class = storage.StorageClass(class_name, exists=True, binding_mode=mode)
            except ApiError as error:
                if error.not_found:
                    storage_class = storage.StorageClass(class_name, exists=False)
                # Otherwise (no right to read StorageClasses) the claim is judged by itself.
        return storage.claim(domain, claim, storage_class, now())

    async def finalize_domain(self, body: dict[str, Any]) -> None:
        """Refuse to let a Domain go while it still holds products (unless forced)."""
        meta = body.get("metadata", {})
        name = str(meta.get("name", ""))
        forced = (meta.get("annotations") or {}).get(FORCE_DELETE_ANNOTATION) == "true"
        products = self.cache.world.products_in(name)
        if products and not forced:
            names = ", ".join(sorted(p.name for p in products)[:10])
            message = f"domain still holds {len(products)} DataProducts ({names}); delete them first"
            domain = self.cache.world.domains.get(name)
            old = (domain.status if domain else None) or DomainStatus()
            status = old.model_copy(deep=True)
            status.conditions = cond.merge(
                old.conditions,
                [cond.Desired(reasons.READY, "False", "DeletionBlocked", message)],
                generation=int(meta.get("generation") or 0),
                now=now(),
            )
            if status.to_wire() != old.to_wire():
                await self.kube.patch_status(API_VERSION, "Domain", name, None, status.to_wire())
            self.events.record(
                {"apiVersion": API_VERSION, "kind": "Domain", "metadata": meta}, "Warning", "DeletionBlocked", message
            )
            raise DomainInUse(message)


def workspace_check_due(last_checked: datetime | None, current: datetime) -> bool:
    """Whether a domain's workspace is applied again to put back what someone changed by hand: when this process
    has not applied it yet, or DRIFT_CHECK after it last did. (Judged by the WorkspaceReady condition's transition
    time, it stayed due for good once the condition was older than DRIFT_CHECK: every domain event re-applied it.)"""
    return last_checked is None or current - last_checked > DRIFT_CHECK


def _with_nulls(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) that turns `old` into `new`: a merge patch keeps whatever it does not mention,
    so every field and map key the new status no longer has is set to null, at every depth (a stale key left in
    status.upstreamVersions made the product look behind its upstream forever)."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        patch[key] = _with_nulls(before, value) if isinstance(value, dict) and isinstance(before, dict) else value
    return patch


def _make_folder(path: str) -> str | None:
    """Create the domain's local storage folder; why it could not be, or None."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"{type(error).__name__}: {error.strerror or error}"
    return None
