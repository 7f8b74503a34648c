"""CatalogLink converges only from a complete list of what exists: when the list cannot be had, nothing is
tombstoned and converge is tried again later. Its writes go through a queue and a circuit breaker, so a
reconcile never waits on the database (against a real SQLite catalog)."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamesh.api import DataProduct
from datamesh.catalog import CatalogSync, open_catalog
from datamesh.catalog.inventory import Inventory, Scope
from datamesh.catalog.models import ProductRow
from datamesh.controller.breaker import State
from datamesh.controller.catalog_link import CatalogLink
from datamesh.controller.kube import ApiError
from datamesh.controller.metrics_registry import REGISTRY
from datamesh.mesh.world import World
from tests.catalog.conftest import make_product

NOTHING = Inventory(frozenset(), frozenset(), frozenset())


def test_converge_waits_for_a_list_of_what_exists(tmp_path: Path) -> None:
    sync = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    sync.upsert_product(make_product("orders", "sales", quality=0.9, run_id="r1"))
    sync.upsert_product(make_product("theirs", "crm", quality=0.9, run_id="r2"))
    lists: list[str] = []

    async def forbidden() -> Inventory:
        lists.append("forbidden")
        raise ApiError(403, "dataproducts is forbidden")

    async def empty() -> Inventory:
        lists.append("empty")
        return NOTHING

    def tombstoned() -> set[str]:
        with Session(sync.engine) as session:
            return set(session.execute(select(ProductRow.name).where(ProductRow.deleted_at.is_not(None))).scalars())

    async def scenario() -> None:
        link = CatalogLink(sync, World(), forbidden, Scope(("sales",)))  # an empty world: the watch has nothing yet
        assert await link.converge() is False
        assert tombstoned() == set()
        link.list_existing = empty
        assert await link.converge() is True and link.available
        # Listed as gone and in scope: tombstoned. In a namespace the operator does not watch: untouched.
        assert tombstoned() == {"orders"}

    asyncio.run(scenario())
    sync.close()
    assert lists == ["forbidden", "empty"]


# --- the circuit breaker: a reconcile never waits on the catalog database --------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def until(what: str, probe: Callable[[], bool]) -> None:
    """Wait for a condition of the background writer (the bound only turns a hang into a failure)."""
    for _ in range(3000):
        if probe():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def circuit(state: str) -> float:
    return REGISTRY.get_sample_value("datamesh_catalog_circuit", {"datamesh_catalog_circuit": state}) or 0.0


def live_products(sync: CatalogSync) -> dict[str, str]:
    with Session(sync.engine) as session:
        rows = session.execute(select(ProductRow.name, ProductRow.description).where(ProductRow.deleted_at.is_(None)))
        return {name: description for name, description in rows}


def test_while_the_database_is_down_writes_wait_behind_an_open_circuit_and_land_when_it_closes(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    sync = open_catalog(f"sqlite:///{folder / 'catalog.db'}")
    orders = make_product("orders", "sales", quality=0.9, run_id="r1")
    refunds = make_product("refunds", "sales", quality=0.9, run_id="r2")
    world = World({}, {("sales", "orders"): orders, ("sales", "refunds"): refunds}, {})
    existing = Inventory(frozenset({("sales", "orders"), ("sales", "refunds")}), frozenset(), frozenset())

    async def list_existing() -> Inventory:
        return existing

    clock, requeued, recovered = Clock(), [], []

    async def scenario() -> None:
        link = CatalogLink(sync, world, list_existing, clock=clock)
        link.dirty = False  # no converge at start: the queued writes are what this test follows
        shutil.rmtree(folder)  # SQLite cannot open a database in a folder that is gone
        link.start(on_recovered=lambda: recovered.append(True))
        # What a reconcile does: it queues and is answered at once, from the circuit's state.
        assert link.sync_product(orders, on_failure=lambda: requeued.append("orders")).status == "True"
        await until("the circuit opens", lambda: link.breaker.state is State.OPEN)
        assert circuit("open") == 1 and circuit("closed") == 0
        assert requeued == ["orders"], "the product whose entry waits is reconciled to CatalogSynced=False"
        synced = link.sync_product(refunds.model_copy(update={"spec": refunds.spec.model_copy(
            update={"description": "changed while down"})}))  # fmt: skip
        assert (synced.status, synced.reason) == ("False", "CatalogUnavailable")
        assert "unable to open database file" in synced.message
        assert link.pending == 2 and link.dirty
        attempts = link.breaker.failures
        # Open: nothing is tried until the cool-down has passed on the (hand-advanced) clock.
        link.wake()
        await asyncio.sleep(0.05)
        assert link.breaker.failures == attempts and link.breaker.state is State.OPEN
        folder.mkdir()
        clock.now += link.breaker.retry_in()
        link.wake()
        await until("the probe closes the circuit", lambda: link.available and link.pending == 0)
        assert recovered == [True] and circuit("closed") == 1
        assert live_products(sync) == {"orders": "orders of sales", "refunds": "changed while down"}
        await link.stop()

    asyncio.run(scenario())


def test_a_hung_database_holds_only_the_writer_and_the_newest_change_lands(tmp_path: Path) -> None:
    sync = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    entered, release = threading.Event(), threading.Event()
    written: list[str] = []
    upsert = sync.upsert_product

    def hung_upsert(product: DataProduct) -> None:
        entered.set()
        assert release.wait(30), "released by the test"
        upsert(product)
        written.append(product.spec.description)

    sync.upsert_product = hung_upsert  # type: ignore[method-assign]

    async def scenario() -> None:
        link = CatalogLink(sync, World(), lambda: asyncio.sleep(0, NOTHING), clock=Clock())
        link.dirty = False
        link.start(on_recovered=lambda: None)
        first = make_product("orders", "sales", description="v1")
        link.sync_product(first)
        await until("the first write is in the database call", entered.is_set)
        # The call hangs; reconciles go on, each answered at once, and their changes fold into one queued write.
        for version in range(2, 6):
            condition = link.sync_product(make_product("orders", "sales", description=f"v{version}"))
            assert condition.status == "True"
        assert link.pending == 1 and not release.is_set()
        release.set()
        await until("the queue drains", lambda: link.pending == 0 and len(written) == 2)
        await link.stop()

    asyncio.run(scenario())
    assert written == ["v1", "v5"]


def test_share_token_writes_land_in_order_and_a_newer_one_never_replaces_an_older(tmp_path: Path) -> None:
    """Two reconciles in a row: the first issues token 1, the second rotates it to token 2 (store 2, revoke 1)
    before anything landed. Each write is queued under its own hash, so token 1 is stored and then revoked."""
    from datetime import UTC, datetime, timedelta

    from datamesh.catalog.models import ShareTokenRow
    from datamesh.catalog.sharing.tokens import token_hash

    sync = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    now = datetime.now(UTC)
    first, second = token_hash("one"), token_hash("two")

    async def list_existing() -> Inventory:
        return NOTHING

    def stored() -> set[str]:
        with Session(sync.engine) as session:
            return set(session.execute(select(ShareTokenRow.token_hash)).scalars())

    async def scenario() -> None:
        link = CatalogLink(sync, World(), list_existing)
        link.dirty = False
        link.share_tokens([("marketing", first, now + timedelta(days=1))], [], now)
        link.share_tokens([("marketing", second, now + timedelta(days=1))], [first], now)
        assert link.pending == 3
        link.start(on_recovered=lambda: None)
        await until("the queue is empty", lambda: link.pending == 0)
        await link.stop()

    asyncio.run(scenario())
    assert stored() == {second}
