"""Keeps the catalog in step with the operator's cache, without ever holding up builds.

Every write goes through a thread (the catalog store is synchronous SQLAlchemy). When the database cannot
be reached, products get `CatalogSynced=False`, the link marks itself dirty and a background loop retries
with backoff; the first success runs `converge`, which also lands deletes that happened meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from datamesh.api import DataProduct, Domain, GovernancePolicy
from datamesh.catalog import CatalogSync, CatalogUnavailable
from datamesh.controller import conditions as cond
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


class CatalogLink:
    def __init__(self, sync: CatalogSync, world: World) -> None:
        self.sync = sync
        self.world = world
        self.available = True
        self.dirty = True  # converge once at start: the catalog may hold objects deleted while we were away
        self.last_error = ""
        self._synced: dict[tuple[str, str], str] = {}
        self._task: asyncio.Task[None] | None = None

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
        await self._call(f"delete product {namespace}/{name}", self.sync.delete_product, namespace, name)

    async def sync_domain(self, domain: Domain) -> None:
        await self._call(f"domain {domain.name}", self.sync.upsert_domain, domain)

    async def drop_domain(self, name: str) -> None:
        await self._call(f"delete domain {name}", self.sync.delete_domain, name)

    async def sync_policy(self, policy: GovernancePolicy) -> None:
        await self._call("policy", self.sync.upsert_policy, policy)

    async def drop_policy(self, name: str) -> None:
        await self._call(f"delete policy {name}", self.sync.delete_policy, name)

    def start(self, on_recovered: Callable[[], None], *, first_delay: float = 5.0) -> None:
        self._task = asyncio.create_task(self._converge_loop(on_recovered, first_delay), name="catalog-converge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self.sync.close)

    async def _converge_loop(self, on_recovered: Callable[[], None], delay: float) -> None:
        backoff = 2.0
        await asyncio.sleep(delay)  # let the watch streams fill the cache first
        while True:
            if self.dirty:
                was_available = self.available
                try:
                    report = await asyncio.to_thread(self.sync.converge, self.world)
                except CatalogUnavailable as error:
                    self.available = False
                    self.last_error = str(error)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
                logger.info("catalog converged: %s", report)
                self.available, self.dirty, backoff = True, False, 2.0
                self._synced.clear()
                if not was_available:
                    on_recovered()
            await asyncio.sleep(2.0)
