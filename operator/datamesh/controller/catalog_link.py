"""Keeps the catalog in step with the operator's cache, without ever holding up builds.

Every write goes through a thread (the catalog store is synchronous SQLAlchemy). When the database cannot
be reached, products get `CatalogSynced=False`, the link marks itself dirty and a background loop retries
with backoff; the first success runs `converge`, which also lands deletes that happened meanwhile.

Converge tombstones what is gone, so it needs proof of what exists: the cache cannot give it (its watches fill
slowly at first and it leaves out invalid objects), so the link takes a fresh LIST through the API each time
(`cluster_inventory`) and converges only inside the watched namespaces (`Scope`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from datamesh.api import API_VERSION, DataProduct, Domain, GovernancePolicy
from datamesh.catalog import CatalogSync, CatalogUnavailable
from datamesh.catalog.inventory import Inventory, Scope
from datamesh.controller import conditions as cond
from datamesh.controller.kube import ApiError, Kube
from datamesh.controller.world import World

logger = logging.getLogger("datamesh.catalog")
MAX_BACKOFF_SECONDS = 60.0


def _fingerprint(body: dict[str, Any]) -> str:
    status = dict(body.get("status") or {})
    # Our own CatalogSynced condition must not make the product look changed, or every sync would cause one more.
    status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") != cond.CATALOG_SYNCED]
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


class CatalogLink:
    def __init__(self, sync: CatalogSync, world: World, list_existing: ListExisting, scope: Scope = Scope()) -> None:
        self.sync = sync
        self.world = world
        self.list_existing = list_existing
        self.scope = scope
        self.available = True
        self.dirty = True  # converge once at start: the catalog may hold objects deleted while we were away
        self.last_error = ""
        self._synced: dict[tuple[str, str], str] = {}
        self._task: asyncio.Task[None] | None = None
        # Held from the LIST to the end of a converge: a delete seen meanwhile lands after it, so the converge
        # (which may still have listed the object) cannot undo it.
        self._converging = asyncio.Lock()

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> bool:
        try:
            await asyncio.to_thread(fn, *args)
        except CatalogUnavailable as error:
            if self.available:
                logger.warning("catalog unavailable (%s): %s", what, error)
            self.available = False
            self.dirty = True
            self.last_error = str(error)
            return False
        return True

    def condition(self) -> cond.Desired:
        if self.available:
            return cond.Desired(cond.CATALOG_SYNCED, "True", "Synced", "the catalog entry is current")
        return cond.Desired(
            cond.CATALOG_SYNCED, "False", "CatalogUnavailable", f"retrying with backoff: {self.last_error}"[:1024]
        )

    async def sync_product(self, product: DataProduct) -> cond.Desired:
        key = (product.namespace or "", product.name)
        fingerprint = _fingerprint(product.to_wire())
        if self.available and self._synced.get(key) == fingerprint:
            return self.condition()
        if await self._call(f"product {key[0]}/{key[1]}", self.sync.upsert_product, product):
            self._synced[key] = fingerprint
        return self.condition()

    async def drop_product(self, namespace: str, name: str) -> None:
        self._synced.pop((namespace, name), None)
        async with self._converging:
            await self._call(f"delete product {namespace}/{name}", self.sync.delete_product, namespace, name)

    async def sync_domain(self, domain: Domain) -> None:
        await self._call(f"domain {domain.name}", self.sync.upsert_domain, domain)

    async def drop_domain(self, name: str) -> None:
        async with self._converging:
            await self._call(f"delete domain {name}", self.sync.delete_domain, name)

    async def sync_policy(self, policy: GovernancePolicy) -> None:
        await self._call("policy", self.sync.upsert_policy, policy)

    async def drop_policy(self, name: str) -> None:
        async with self._converging:
            await self._call(f"delete policy {name}", self.sync.delete_policy, name)

    def start(self, on_recovered: Callable[[], None]) -> None:
        self._task = asyncio.create_task(self._converge_loop(on_recovered), name="catalog-converge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self.sync.close)

    async def converge(self) -> bool:
        """One converge from a fresh list of what exists. False when the list or the database failed (logged;
        nothing was tombstoned); the catalog's availability follows the database only."""
        async with self._converging:
            try:
                existing = await self.list_existing()
            except (ApiError, aiohttp.ClientError, TimeoutError) as error:
                logger.warning("catalog converge postponed: cannot list what exists: %s", error)
                return False
            # A copy taken on the event loop: the watch handlers change the world while converge runs in a thread.
            world = World(dict(self.world.domains), dict(self.world.products), dict(self.world.policies))
            try:
                report = await asyncio.to_thread(self.sync.converge, world, existing, self.scope)
            except CatalogUnavailable as error:
                self.available = False
                self.last_error = str(error)
                return False
        logger.info("catalog converged: %s", report)
        self.available = True
        return True

    async def _converge_loop(self, on_recovered: Callable[[], None]) -> None:
        backoff = 2.0
        while True:
            if self.dirty:
                was_available = self.available
                try:
                    converged = await self.converge()
                except Exception:  # a bug must not end the loop: without it deletes would never land
                    logger.exception("catalog converge failed")
                    converged = False
                if not converged:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
                self.dirty, backoff = False, 2.0
                self._synced.clear()
                if not was_available:
                    on_recovered()
            await asyncio.sleep(2.0)
