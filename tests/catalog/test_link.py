"""CatalogLink converges only from a complete list of what exists: when the list cannot be had, nothing is
tombstoned and converge is tried again later (against a real SQLite catalog)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamesh.catalog import open_catalog
from datamesh.catalog.inventory import Inventory, Scope
from datamesh.catalog.models import ProductRow
from datamesh.controller.catalog_link import CatalogLink
from datamesh.controller.kube import ApiError
from datamesh.controller.world import World
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
