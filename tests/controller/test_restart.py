"""After a start every product is reconciled once more; the ones holding a change nobody acted on go first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.api import DataProduct
from datamesh.api.dataproduct import DataProductStatus
from datamesh.controller.runtime import awaits_action
from tests.conftest import REPO


@pytest.fixture
def product() -> DataProduct:
    body = yaml.safe_load(Path(REPO / "examples" / "products" / "customer-360.yaml").read_text())
    body["metadata"].update(uid="u-1", generation=3)
    return DataProduct.model_validate(body)


def test_a_new_product_goes_first(product: DataProduct) -> None:
    assert awaits_action(product)


def test_a_product_whose_status_reflects_its_spec_waits_its_turn(product: DataProduct) -> None:
    product.status = DataProductStatus(observed_generation=3)
    assert not awaits_action(product)


def test_a_changed_spec_goes_first(product: DataProduct) -> None:
    product.status = DataProductStatus(observed_generation=2)
    assert awaits_action(product)


def test_a_deletion_goes_first(product: DataProduct) -> None:
    product.status = DataProductStatus(observed_generation=3)
    product.metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert awaits_action(product)


def test_an_unreadable_product_is_reported_in_turn() -> None:
    assert not awaits_action(None)


def test_a_workspace_is_checked_for_drift_once_per_period_not_on_every_domain_event() -> None:
    from datetime import UTC, datetime, timedelta

    from datamesh.controller.runtime import DRIFT_CHECK, workspace_check_due

    applied = datetime(2026, 12, 2, tzinfo=UTC)
    assert workspace_check_due(None, applied)  # never applied by this process (a start): apply it
    assert not workspace_check_due(applied, applied + DRIFT_CHECK / 2)
    # Long after the condition's own transition the check is not due again until a period after the last apply.
    assert not workspace_check_due(applied + timedelta(hours=5), applied + timedelta(hours=5, minutes=1))
    assert workspace_check_due(applied, applied + DRIFT_CHECK + timedelta(seconds=1))


def test_the_initial_lists_resyncs_are_held_while_watch_events_and_new_products_are_not(product: DataProduct) -> None:
    """kopf hands the objects of its initial list with event type None: an unchanged product's resync (and its
    Job's) waits for the list to be in; a new product on that list, and any later watch event, do not wait."""
    import asyncio

    from datamesh.controller.config import OperatorConfig
    from datamesh.controller.credentials import Config
    from datamesh.controller.kube import Kube
    from datamesh.controller.runtime import Runtime

    def body(name: str, version: str, status: dict[str, Any] | None) -> dict[str, Any]:
        raw = product.model_dump(mode="json", by_alias=True, exclude_none=True)
        raw["metadata"].update(name=name, namespace="sales", uid=f"uid-{name}", resourceVersion=version)
        raw.pop("status", None)
        return {**raw, "status": status} if status is not None else raw

    published, new, other = body("published", "10", {"observedGeneration": 3}), body("new", "11", None), body(
        "other", "12", {"observedGeneration": 3}
    )
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "other-1", "namespace": "sales", "uid": "j1", "resourceVersion": "13",
                        "labels": {"datamesh.dev/product": "other"},
                        "ownerReferences": [{"apiVersion": "datamesh.dev/v1alpha1", "kind": "DataProduct",
                                             "name": "other", "uid": "uid-other", "controller": True}]},
           "spec": {}, "status": {}}  # fmt: skip

    async def scenario() -> None:
        runtime = Runtime(Kube(Config("https://127.0.0.1:1", token="t")), OperatorConfig())
        queue = runtime.queue
        runtime.observe_product(None, published)
        assert list(queue._deferred) == [("dp", "sales", "published")] and queue.depth == 1 and not queue._normal
        runtime.observe_product(None, new)
        assert list(queue._urgent) == [("dp", "sales", "new")]  # acted on at once
        runtime.observe_product("ADDED", other)  # a watch event: queued at once
        assert list(queue._normal) == [("dp", "sales", "other")]
        runtime.observe_job(None, job)  # a listed Job: its product's look is held like the product's own
        assert ("dp", "sales", "other") in queue._deferred
        changed = {**published, "metadata": {**published["metadata"], "resourceVersion": "14"}}
        runtime.observe_product("MODIFIED", changed)
        assert ("dp", "sales", "published") in queue._normal and ("dp", "sales", "published") not in queue._deferred
        await queue.stop()

    asyncio.run(scenario())
