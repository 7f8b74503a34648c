"""The planners' side of the contract lifecycle: status.consumers, Deprecated on consumers, the deletion hold."""

from __future__ import annotations

from datetime import UTC, datetime

from datamesh.api import DataProduct, reasons
from datamesh.api.common import Condition
from datamesh.api.dataproduct import DataProductStatus, Deprecation, Input, ProductRef, Transform
from datamesh.controller import conditions as cond
from datamesh.controller.config import OperatorConfig
from datamesh.controller.deletion import FORCE_DELETE_ANNOTATION, plan_hold
from datamesh.controller.product_plan import plan_product
from datamesh.mesh.lifecycle import consumers_of
from datamesh.mesh.world import World

T0 = datetime(2027, 1, 1, 12, tzinfo=UTC)
CONFIG = OperatorConfig()


def with_reader(world: World, name: str = "churn", domain: str = "marketing") -> DataProduct:
    """A product of `domain` reading sales/customer-360's email, added to the world."""
    base = world.products[("sales", "customer-360")]
    reader = base.model_copy(deep=True)
    reader.metadata = {"name": name, "namespace": domain, "generation": 1, "uid": f"u-{name}"}
    reader.spec.domain = domain
    reader.spec.inputs = [Input(product="customer-360", domain="sales", alias="c")]
    reader.spec.transform = Transform(sql="SELECT c.customer_id, c.email FROM c")
    world.products[(domain, name)] = reader
    return reader


def deprecate(world: World, sunset: str = "2027-06-30") -> DataProduct:
    product = world.products[("sales", "customer-360")]
    product.spec.deprecation = Deprecation(
        since="2026-12-01", sunset=sunset, replacement=ProductRef(product="customer-360-v2")
    )
    return product


def condition(status: DataProductStatus, type_: str) -> Condition:
    found = cond.find(status.conditions, type_)
    assert found is not None
    return found


def test_status_lists_the_consumers_and_their_count(world: World) -> None:
    with_reader(world)
    plan = plan_product(world.products[("sales", "customer-360")], world, [], T0, CONFIG)
    assert [(c.ref, c.domain, c.columns) for c in plan.status.consumers] == [
        ("marketing/churn", "marketing", ["customer_id", "email"])
    ]
    assert plan.status.consumer_count == 1
    assert plan.status.to_wire()["consumers"] == [
        {"namespace": "marketing", "name": "churn", "domain": "marketing", "columns": ["customer_id", "email"]}
    ]
    # The reader goes: so does its entry.
    world.products.pop(("marketing", "churn"))
    plan = plan_product(world.products[("sales", "customer-360")], world, [], T0, CONFIG)
    assert plan.status.consumers == [] and plan.status.consumer_count == 0


def test_a_deprecation_reaches_every_consumer_as_a_condition_and_one_warning(world: World) -> None:
    reader = with_reader(world)
    plan = plan_product(reader, world, [], T0, CONFIG)
    assert (condition(plan.status, "Deprecated").status, condition(plan.status, "Deprecated").reason) == (
        "False",
        reasons.NOT_DEPRECATED,
    )
    assert reasons.UPSTREAM_DEPRECATED not in [e.reason for e in plan.events]
    reader.status = plan.status
    deprecate(world)
    plan = plan_product(reader, world, [], T0, CONFIG)
    found = condition(plan.status, "Deprecated")
    assert (found.status, found.reason) == ("True", reasons.UPSTREAM_DEPRECATED)
    assert found.message == (
        "input sales/customer-360 is deprecated since 2026-12-01, sunset on 2027-06-30; move to sales/customer-360-v2"
    )
    warnings = [e for e in plan.events if e.reason == reasons.UPSTREAM_DEPRECATED]
    assert [(e.type, e.message) for e in warnings] == [("Warning", found.message)]
    # Once told, not told again on every reconcile; told again when the sunset passes.
    reader.status = plan.status
    again = plan_product(reader, world, [], T0, CONFIG)
    assert reasons.UPSTREAM_DEPRECATED not in [e.reason for e in again.events]
    reader.status = again.status
    later = plan_product(reader, world, [], datetime(2027, 7, 1, tzinfo=UTC), CONFIG)
    assert "sunset passed on 2027-06-30" in condition(later.status, "Deprecated").message
    assert reasons.UPSTREAM_DEPRECATED in [e.reason for e in later.events]


def test_the_deprecated_product_says_so_itself_without_a_warning(world: World) -> None:
    product = deprecate(world)
    plan = plan_product(product, world, [], T0, CONFIG)
    found = condition(plan.status, "Deprecated")
    assert (found.status, found.reason) == ("True", reasons.PRODUCT_DEPRECATED)
    assert found.message.startswith("this product is deprecated since 2026-12-01")
    assert reasons.UPSTREAM_DEPRECATED not in [e.reason for e in plan.events]
    # Deprecated is informational: Ready does not summarise it.
    assert condition(plan.status, "Ready").reason != reasons.PRODUCT_DEPRECATED


def test_the_deletion_hold_names_the_readers_unless_forced(world: World) -> None:
    product = world.products[("sales", "customer-360")]
    assert plan_hold(product, []) is None
    for n in range(22):
        with_reader(world, f"r{n:02d}")
    held = plan_hold(product, consumers_of(world, product))
    assert held is not None
    assert (held.type, held.status, held.reason) == ("Ready", "False", reasons.DELETION_HELD)
    assert held.message.startswith("deletion held: still read by marketing/r00, marketing/r01,")
    assert "marketing/r19 and 2 more;" in held.message
    assert FORCE_DELETE_ANNOTATION in held.message
    product.metadata["annotations"] = {FORCE_DELETE_ANNOTATION: "true"}
    assert plan_hold(product, consumers_of(world, product)) is None
