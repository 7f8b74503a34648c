"""The planner's side of majors side by side: a bump records the published major before the new one builds
elsewhere, a pinned consumer keeps it served, and it is retired once nobody pins it."""

from __future__ import annotations

from datetime import UTC, datetime

from datamesh.api import DataProduct
from datamesh.api.dataproduct import DataProductStatus, Input
from datamesh.controller.config import OperatorConfig
from datamesh.controller.product_plan import ProductPlan, plan_product
from datamesh.mesh.contract import REQUEST_ENV, BuildRequest
from datamesh.mesh.world import World

T0 = datetime(2027, 1, 1, 12, tzinfo=UTC)
CONFIG = OperatorConfig()
BASE = "/var/lib/datamesh/lake/sales/gold/customer-360"


def published_v1(world: World) -> DataProduct:
    """customer-360 published at 1.0.0 (generation 1), then bumped to 2.0.0 (generation 2)."""
    product = world.products[("sales", "customer-360")]
    product.status = DataProductStatus(
        location=BASE, table_version=4, published_generation=1, published_version="1.0.0", home_major=1,
        data_updated_at=T0, observed_generation=1,
    )  # fmt: skip
    product.spec.version = "2.0.0"
    product.metadata["generation"] = 2
    return product


def pin(world: World, name: str, version: str | None) -> DataProduct:
    base = world.products[("sales", "customer-360")]
    reader = base.model_copy(deep=True)
    reader.metadata = {"name": name, "namespace": "sales", "generation": 1, "uid": f"u-{name}"}
    reader.spec.inputs = [Input(product="customer-360", alias="c", version=version)]
    reader.status = None
    world.products[("sales", name)] = reader
    return reader


def request(plan: ProductPlan) -> BuildRequest:
    assert plan.create_job is not None
    env = {e["name"]: e.get("value") for e in plan.create_job["spec"]["template"]["spec"]["containers"][0]["env"]}
    return BuildRequest.from_json(env[REQUEST_ENV] or "")


def test_a_bump_keeps_the_old_major_served_and_builds_the_new_one_next_to_it(world: World) -> None:
    product = published_v1(world)
    pin(world, "churn", "1")
    plan = plan_product(product, world, [], T0, CONFIG)
    assert [(p.major, p.version, p.location, p.table_version, p.consumers) for p in plan.status.previous_versions] == [
        (1, "1.0.0", BASE, 4, ["sales/churn"])
    ]
    assert ("Normal", "MajorVersionKept") in [(e.type, e.reason) for e in plan.events]
    assert request(plan).output_location == BASE + "@v2"
    # Until v2 publishes, status.location still names v1: unpinned consumers keep reading it.
    assert plan.status.location == BASE
    assert plan.status.to_wire()["previousVersions"][0]["consumers"] == ["sales/churn"]


def test_the_old_major_is_retired_once_nobody_pins_it_and_the_new_one_published(world: World) -> None:
    product = published_v1(world)
    reader = pin(world, "churn", "1")
    first = plan_product(product, world, [], T0, CONFIG)
    product.status = first.status
    product.status.location, product.status.table_version = BASE + "@v2", 1
    product.status.published_version, product.status.published_generation = "2.0.0", 2
    # Still pinned: kept.
    assert [p.major for p in plan_product(product, world, [], T0, CONFIG).status.previous_versions] == [1]
    # The consumer moves to v2: v1 is no longer served (its table stays: only the entry goes).
    reader.spec.inputs[0].version = None
    after = plan_product(product, world, [], T0, CONFIG)
    assert after.status.previous_versions == []
    retired = [e.message for e in after.events if e.reason == "MajorVersionRetired"]
    assert retired == [f"major version 1 is no longer served; its table at {BASE} is kept"]
    # Kept, and remembered: deleting the product under deletionPolicy Delete deletes that table too.
    assert after.status.retired_locations == [BASE]
    from datamesh.controller import deletion

    product.status = after.status
    assert deletion.tables_of(product, BASE + "@v2") == [BASE + "@v2", BASE]


def test_a_first_build_records_the_home_major(world: World) -> None:
    product = world.products[("sales", "customer-360")]
    product.metadata["generation"] = 1
    product.status = None
    plan = plan_product(product, world, [], T0, CONFIG)
    assert request(plan).output_location == BASE
    assert plan.status.home_major == 1 and plan.status.previous_versions == []
