"""Keeps the catalog in step with the operator's cache, without ever holding up a reconcile.

Reconciles only queue what changed: `sync_*` and `drop_*` return at once, and one background writer works the
queue in a thread (the catalog store is synchronous SQLAlchemy; with PostgreSQL down a connect alone may take
its 5 s timeout). The queue holds one write per object, the newest, so it is bounded by what exists. A circuit
breaker (breaker.py) sits in front of the database: after a few consecutive failures it opens, the writer stops
trying, products report `CatalogSynced=False` and writes keep collecting. After a cool-down one probe goes
through, normally a `converge`, which also lands deletes that happened meanwhile; when the probe succeeds the
circuit closes, the queue is flushed and every product is reconciled back to `CatalogSynced=True`. Writes still
queued when the operator stops are not lost either: the next start converges from the full inventory.

Converge tombstones what is gone, so it needs proof of what exists: the cache cannot give it (its watches fill
slowly at first and it leaves out invalid objects), so the link takes a fresh LIST through the API each time
(`cluster_inventory`) and converges only inside the watched namespaces (`Scope`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from datamesh.api import API_VERSION, DataProduct, Domain, GovernancePolicy, reasons
from datamesh.catalog import CatalogSync, CatalogUnavailable
from datamesh.catalog.inventory import Inventory, Scope
from datamesh.controller import conditions as cond
from datamesh.controller import metrics
from datamesh.controller.breaker import CircuitBreaker, State
from datamesh.controller.kube import ApiError, Kube
from datamesh.mesh.world import World

logger = logging.getLogger("datamesh.catalog")
MAX_BACKOFF_SECONDS = 60.0
#: Consecutive failed calls that open the circuit.
FAILURE_THRESHOLD = 3


def _fingerprint(body: dict[str, Any]) -> str:
    status = dict(body.get("status") or {})
    # Our own CatalogSynced condition must not make the product look changed, or every sync would cause one more.
    status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") != reasons.CATALOG_SYNCED]
    payload = {"metadata": {k: body.get("metadata", {}).get(k) for k in ("labels", "generation")},
               "spec": body.get("spec"), "status": status}  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


ListExisting = Callable[[], Awaitable[Inventory]]


def _keys(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(str(i.get("metadata", {}).get("namespace") or ""), str(i.get("metadata", {}).get("name"))) for i in items}


def cluster_inventory(kube: Kube, scope: Scope) -> ListExisting:
    """What exists, from a fresh LIST of each kind: DataProducts of the scope (namespace by namespace when the
    scope names them, else cluster-wide), every Domain and GovernancePolicy (cluster-scoped). Raw items, so
    objects whose spec does not parse count as existing."""

    async def list_existing() -> Inventory:
        namespaces = scope.exact_namespaces
        products: set[tuple[str, str]] = set()
        for namespace in sorted(namespaces) if namespaces is not None else [None]:
            products |= _keys(await kube.list(API_VERSION, "DataProduct", namespace))
        domains = {name for _, name in _keys(await kube.list(API_VERSION, "Domain"))}
        policies = {name for _, name in _keys(await kube.list(API_VERSION, "GovernancePolicy"))}
        return Inventory(frozenset(products), frozenset(domains), frozenset(policies))

    return list_existing


@dataclass
class _Write:
    """One queued catalog write: the newest for its object replaces an older one still waiting."""

    what: str
    call: Callable[[], object]
    on_success: Callable[[], None] | None = None
    #: Called when the write cannot land for now (the circuit opened): the product reconciles to CatalogSynced=False.
    on_failure: Callable[[], None] | None = None


class CatalogLink:
    def __init__(
        self,
        sync: CatalogSync,
        world: World,
        list_existing: ListExisting,
        scope: Scope = Scope(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sync = sync
        self.world = world
        self.list_existing = list_existing
        self.scope = scope
        self.clock = clock
        self.breaker = CircuitBreaker(
            threshold=FAILURE_THRESHOLD, cool_down=2.0, max_cool_down=MAX_BACKOFF_SECONDS, clock=clock,
            on_change=self._state_changed,
        )  # fmt: skip
        metrics.CATALOG_CIRCUIT.state(State.CLOSED.value)
        self.dirty = True  # converge once at start: the catalog may hold objects deleted while we were away
        self.last_error = ""
        self._synced: dict[tuple[str, str], str] = {}
        self._pending: dict[Hashable, _Write] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._on_recovered: Callable[[], None] | None = None
        self._state = State.CLOSED
        # A converge whose LIST failed (the API, not the database) is tried again later, apart from the breaker.
        self._converge_at = clock()
        self._list_backoff = 2.0

    @property
    def available(self) -> bool:
        """Whether the circuit is closed (fewer than FAILURE_THRESHOLD calls in a row have failed)."""
        return self.breaker.state is State.CLOSED

    @property
    def pending(self) -> int:
        """Writes queued and not yet landed."""
        return len(self._pending)

    def condition(self) -> cond.Desired:
        if self.available:
            return cond.Desired(reasons.CATALOG_SYNCED, "True", "Synced", "the catalog entry is current")
        return cond.Desired(
            reasons.CATALOG_SYNCED, "False", "CatalogUnavailable",
            f"the catalog database is unreachable; changes wait and are retried with backoff: {self.last_error}"[:1024],
        )  # fmt: skip

    # ------------------------------------------------------------------ called by reconciles: never wait
    def sync_product(self, product: DataProduct, on_failure: Callable[[], None] | None = None) -> cond.Desired:
        """Queue the product's entry when it changed; the condition says whether the catalog is reachable."""
        key = (product.namespace or "", product.name)
        fingerprint = _fingerprint(product.to_wire())
        # Also when a write of an older version is still queued: it must not be the one that lands.
        if self._synced.get(key) != fingerprint or ("product", *key) in self._pending:
            self._queue(("product", *key), f"product {key[0]}/{key[1]}",
                        functools.partial(self.sync.upsert_product, product),
                        on_success=functools.partial(self._synced.__setitem__, key, fingerprint),
                        on_failure=on_failure)  # fmt: skip
        return self.condition()

    def drop_product(self, namespace: str, name: str) -> None:
        self._synced.pop((namespace, name), None)
        self._queue(("product", namespace, name), f"delete product {namespace}/{name}",
                    functools.partial(self.sync.delete_product, namespace, name))  # fmt: skip

    def sync_domain(self, domain: Domain) -> None:
        upsert = functools.partial(self.sync.upsert_domain, domain)
        self._queue(("domain", domain.name), f"domain {domain.name}", upsert)

    def drop_domain(self, name: str) -> None:
        self._queue(("domain", name), f"delete domain {name}", functools.partial(self.sync.delete_domain, name))

    def sync_policy(self, policy: GovernancePolicy) -> None:
        name = str(policy.metadata.get("name", ""))
        self._queue(("policy", name), f"policy {name}", functools.partial(self.sync.upsert_policy, policy))

    def drop_policy(self, name: str) -> None:
        self._queue(("policy", name), f"delete policy {name}", functools.partial(self.sync.delete_policy, name))

    def share_tokens(self, issued: list[tuple[str, str, datetime]], revoked: list[str], now: datetime) -> None:
        """Store the hashes of tokens just handed out as (recipient, hash, expiry), then revoke `revoked` hashes.
        Each write is queued under its own hash, so a newer reconcile's writes never replace an older one's."""
        for recipient, hashed, expires_at in issued:
            store = functools.partial(self.sync.store_share_token, recipient, hashed, now, expires_at)
            self._queue(("share-token", hashed), f"share token of {recipient}", store)
        for hashed in revoked:
            self._queue(("share-revoke", hashed), "share token revocation",
                        functools.partial(self.sync.revoke_share_token, hashed))  # fmt: skip

    def _queue(self, key: Hashable, what: str, call: Callable[[], object], *,
               on_success: Callable[[], None] | None = None,
               on_failure: Callable[[], None] | None = None) -> None:  # fmt: skip
        self._pending.pop(key, None)  # the newest goes to the back: older objects' writes are not starved
        self._pending[key] = _Write(what, call, on_success, on_failure)
        metrics.CATALOG_PENDING.set(len(self._pending))
        self._wake.set()

    # ------------------------------------------------------------------ the background writer
    def start(self, on_recovered: Callable[[], None]) -> None:
        self._on_recovered = on_recovered
        self._task = asyncio.create_task(self._run(), name="catalog-writer")

    def wake(self) -> None:
        """Look at the queue and the breaker again now (tests call it after advancing their clock)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self.sync.close)

    async def converge(self) -> bool:
        """One converge from a fresh list of what exists. False when the list or the database failed (logged;
        nothing was tombstoned)."""
        return await self._converge() is True

    async def _converge(self) -> bool | None:
        """True when converged, False when the database failed, None when the list of what exists could not be had
        (the database was not asked)."""
        try:
            existing = await self.list_existing()
        except (ApiError, aiohttp.ClientError, TimeoutError) as error:
            logger.warning("catalog converge postponed: cannot list what exists: %s", error)
            return None
        # A copy taken on the event loop: the watch handlers change the world while converge runs in a thread.
        world = World(dict(self.world.domains), dict(self.world.products), dict(self.world.policies))
        try:
            report = await asyncio.to_thread(self.sync.converge, world, existing, self.scope)
        except CatalogUnavailable as error:
            self._failed("converge", error)
            return False
        logger.info("catalog converged: %s", report)
        self.dirty = False
        # The world copy may predate a status a reconcile just wrote (its watch event is on the way): every product
        # is written again at its next reconcile, and queued writes still land after this (they are as new).
        self._synced.clear()
        self.breaker.success()
        return True

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not end the writer: without it nothing would land any more
                logger.exception("catalog writer failed")
                await self._sleep(1.0)

    async def _step(self) -> None:
        if not self.breaker.allow():
            await self._sleep(self.breaker.retry_in() or 1.0)
            return
        # Allowed: the circuit is closed, or this call is the half-open probe.
        if self.dirty and self.clock() >= self._converge_at:
            outcome = await self._converge()
            if outcome is None:
                self.breaker.cancel()
                self._converge_at = self.clock() + self._list_backoff
                self._list_backoff = min(self._list_backoff * 2, MAX_BACKOFF_SECONDS)
            elif outcome:
                self._list_backoff = 2.0
            return
        if not self._pending:
            self.breaker.cancel()
            await self._sleep(max(self._converge_at - self.clock(), 0.1) if self.dirty else None)
            return
        key, write = next(iter(self._pending.items()))
        try:
            await asyncio.to_thread(write.call)
        except CatalogUnavailable as error:
            self._failed(write.what, error)
            return
        except Exception:
            # Not the database being down (that is CatalogUnavailable): retrying would fail the same way.
            logger.exception("catalog write failed: %s", write.what)
            self.breaker.cancel()
        else:
            self.breaker.success()
            if write.on_success is not None:
                write.on_success()
        if self._pending.get(key) is write:
            del self._pending[key]
            metrics.CATALOG_PENDING.set(len(self._pending))

    def _failed(self, what: str, error: CatalogUnavailable) -> None:
        if self.available:
            logger.warning("catalog unavailable (%s): %s", what, error)
        self.last_error = str(error)
        self.dirty = True
        self.breaker.failure()

    def _state_changed(self, state: State) -> None:
        metrics.CATALOG_CIRCUIT.state(state.value)
        previous, self._state = self._state, state
        if state is State.OPEN and previous is State.CLOSED:
            # Products whose entries wait reconcile once, to CatalogSynced=False; new ones see the open circuit.
            for write in list(self._pending.values()):
                if write.on_failure is not None:
                    write.on_failure()
        elif state is State.CLOSED and previous is not State.CLOSED:
            logger.info("catalog reachable again; %d queued writes to flush", len(self._pending))
            if self._on_recovered is not None:
                self._on_recovered()

    async def _sleep(self, seconds: float | None) -> None:
        """Until woken by a new write (or `wake`), or for `seconds`."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
