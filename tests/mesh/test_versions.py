"""Majors side by side: where each major's table lies, when an older one is recorded and retired, and which table
an input that pins a major reads."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from datamesh import placement
from datamesh.api import DataProduct
from datamesh.api.dataproduct import DataProductStatus, Deprecation, Input, Output, PreviousVersion
from datamesh.manifests import load_mesh
from datamesh.mesh import versions
from datamesh.mesh.resolve import output_location, resolve_inputs
from datamesh.mesh.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASE = "/var/lib/datamesh/lake/sales/gold/customer-360"
TODAY = date(2027, 3, 1)


@pytest.fixture
def world() -> World:
    mesh = load_mesh([EXAMPLES])
    return World(mesh.domains, mesh.products, {})


def producer(world: World, version: str | None, **status: object) -> DataProduct:
    product = world.products[("sales", "customer-360")]
    product.spec.version = version
    product.status = DataProductStatus.model_validate(status) if status else None
    return product


def reader(world: World, name: str, pin: str | None) -> DataProduct:
    """A sales product reading customer-360, pinned to a major or not."""
    base = world.products[("sales", "customer-360")]
    made = base.model_copy(deep=True)
    made.metadata = {"name": name, "namespace": "sales", "generation": 1}
    made.spec.inputs = [Input(product="customer-360", alias="c", version=pin)]
    made.status = None
    world.products[("sales", name)] = made
    return made


# ------------------------------------------------------------------------------------------------ placement
def test_the_home_major_keeps_the_table_and_others_are_siblings() -> None:
    base = placement.parse_location(BASE, "x")
    assert str(placement.major_place(base, 1, home=1)) == BASE
    assert str(placement.major_place(base, 2, home=1)) == BASE + "@v2"
    assert str(placement.major_place(base, 1, home=2)) == BASE + "@v1"
    s3 = placement.parse_location("s3a://Bucket/gold/orders", "x")
    assert str(placement.major_place(s3, 3, home=0)) == "s3a://bucket/gold/orders@v3"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (BASE, 1),
        (BASE + "/", 1),
        ("file:" + BASE, 1),
        (BASE + "@v2", 2),
        (BASE + "@v0", 0),
        (BASE + "@v1", None),  # the home major is never a sibling
        (BASE + "@v02", None),
        (BASE + "@v", None),
        (BASE + "@v2/x", None),
        (BASE + "-x@v2", None),
        ("/var/lib/datamesh/lake/sales/gold/orders@v2", None),
        ("s3a://b" + BASE, None),
    ],
)
def test_which_major_a_location_is(location: str, expected: int | None) -> None:
    assert placement.location_major(location, BASE, 1) == expected


def test_a_written_location_may_not_hold_the_major_mark(world: World) -> None:
    product = producer(world, "1.0.0")
    product.spec.outputs = [Output(name="table", format="delta", location=BASE + "-other@v2")]
    problems = placement.product_problems(product, world.domains, world.products.values())
    assert any("'@' is reserved" in p and p.startswith("spec.outputs[0].location") for p in problems), problems


def test_a_sibling_table_still_counts_as_published_for_seniority(world: World) -> None:
    """An intruder claiming the product's own location does not win because the product moved to @v2."""
    product = producer(world, "2.0.0", location=BASE + "@v2", tableVersion=3, homeMajor=1)
    product.metadata["creationTimestamp"] = "2026-06-01T00:00:00Z"
    intruder = product.model_copy(deep=True)
    intruder.metadata = {"name": "intruder", "namespace": "sales", "creationTimestamp": "2026-01-01T00:00:00Z"}
    intruder.spec.outputs = [Output(name="table", format="delta", location=BASE)]
    intruder.status = None
    world.products[("sales", "intruder")] = intruder
    assert placement.product_problems(product, world.domains, world.products.values(), seniority=True) == []
    assert placement.product_problems(intruder, world.domains, world.products.values(), seniority=True) != []


# ------------------------------------------------------------------------------------------------ locations
def test_existing_locations_do_not_move(world: World) -> None:
    # Never published: at home wherever the current major is (a product created at 2.0.0 keeps <root>/<name>).
    assert output_location(producer(world, "2.0.0"), world) == BASE
    assert output_location(producer(world, None), world) == BASE
    # Published by an operator that recorded no version: the current major is taken as the home one.
    assert output_location(producer(world, "3.1.0", location=BASE, tableVersion=4), world) == BASE


def test_a_new_major_publishes_next_to_the_old_one(world: World) -> None:
    product = producer(world, "2.0.0", location=BASE, tableVersion=4, publishedVersion="1.4.0")
    assert versions.home_major(product, BASE) == 1
    assert output_location(product, world) == BASE + "@v2"
    assert output_location(product, world, major=1) == BASE
    recorded = producer(world, "1.5.0", location=BASE + "@v2", tableVersion=1, homeMajor=1)
    assert output_location(recorded, world) == BASE  # moved back to the home major: its own table again


# ------------------------------------------------------------------------------------------------ record / retire
def plan(product: DataProduct, pinned: dict[int, list[str]], today: date = TODAY) -> versions.Served:
    return versions.plan_previous(product, BASE, pinned=pinned, today=today)


def test_a_major_bump_records_the_published_table_before_the_new_one_publishes(world: World) -> None:
    product = producer(world, "2.0.0", location=BASE, tableVersion=4, publishedVersion="1.4.0", homeMajor=1)
    served = plan(product, {})
    # Nobody pins it, but the new major has not published: unpinned consumers still read it.
    assert [(p.major, p.version, p.location, p.table_version, p.consumers) for p in served.kept] == [
        (1, "1.4.0", BASE, 4, [])
    ]
    assert served.retired == [] and served.home == 1


def test_a_pinned_major_stays_until_its_consumers_move(world: World) -> None:
    kept = PreviousVersion(major=1, version="1.4.0", location=BASE, table_version=4)
    product = producer(world, "2.0.0", location=BASE + "@v2", tableVersion=1, homeMajor=1, previousVersions=[kept])
    served = plan(product, {1: ["sales/churn"]})
    assert [(p.major, p.consumers) for p in served.kept] == [(1, ["sales/churn"])]
    served = plan(product, {})
    assert served.kept == [] and [p.major for p in served.retired] == [1]


def test_the_sunset_retires_a_major_even_with_consumers(world: World) -> None:
    kept = PreviousVersion(major=1, location=BASE, table_version=4)
    product = producer(world, "2.0.0", location=BASE + "@v2", tableVersion=1, homeMajor=1, previousVersions=[kept])
    product.spec.deprecation = Deprecation(since="2027-01-01", sunset="2027-03-01")
    on_the_day = plan(product, {1: ["sales/churn"]})
    assert [(p.major, p.until) for p in on_the_day.kept] == [(1, "2027-03-01")]
    after = plan(product, {1: ["sales/churn"]}, today=date(2027, 3, 2))
    assert after.kept == [] and [p.major for p in after.retired] == [1]


def test_moving_back_to_a_recorded_major_drops_its_entry(world: World) -> None:
    kept = PreviousVersion(major=1, location=BASE, table_version=4)
    product = producer(world, "1.5.0", location=BASE + "@v2", tableVersion=2, homeMajor=1, previousVersions=[kept])
    served = plan(product, {1: ["sales/churn"], 2: ["sales/other"]})
    # 1 is current again; 2 is now the previous one, pinned, so it stays served.
    assert [(p.major, p.location, p.consumers) for p in served.kept] == [(2, BASE + "@v2", ["sales/other"])]


def test_nothing_is_recorded_or_retired_when_the_product_cannot_be_placed(world: World) -> None:
    kept = PreviousVersion(major=1, location=BASE, table_version=4)
    product = producer(world, "2.0.0", location=BASE + "@v2", tableVersion=1, homeMajor=1, previousVersions=[kept])
    served = versions.plan_previous(product, None, pinned={}, today=TODAY)
    assert [p.major for p in served.kept] == [1] and served.retired == []


def test_pins_name_the_readers_of_each_major(world: World) -> None:
    product = producer(world, "2.0.0")
    reader(world, "churn", "1")
    reader(world, "upsell", "^1")
    reader(world, "follower", None)
    reader(world, "early", "2")
    assert versions.pins(world, product) == {1: ["sales/churn", "sales/upsell"], 2: ["sales/early"]}


def test_a_source_input_cannot_pin_a_version() -> None:
    with pytest.raises(ValueError, match="version pins the major version of a product input"):
        Input(source="bronze.crm.customers", version="1")
    with pytest.raises(ValueError):
        Input(product="x", version="1.2")


# ------------------------------------------------------------------------------------------------ resolution
def test_a_pinned_input_reads_the_previous_major(world: World) -> None:
    kept = PreviousVersion(major=1, location=BASE, table_version=4)
    producer(world, "2.0.0", location=BASE + "@v2", tableVersion=1, homeMajor=1, previousVersions=[kept])
    pinned = resolve_inputs(reader(world, "churn", "1"), world)
    assert pinned.ok and pinned.inputs[0].location == BASE
    assert pinned.upstream_versions == {"sales/customer-360": 4}
    follower = resolve_inputs(reader(world, "follower", None), world)
    assert follower.ok and follower.inputs[0].location == BASE + "@v2"
    assert follower.upstream_versions == {"sales/customer-360@v2": 1}


def test_a_pin_on_the_current_major_waits_for_it_to_publish(world: World) -> None:
    producer(world, "2.0.0", location=BASE, tableVersion=4, homeMajor=1)
    early = resolve_inputs(reader(world, "early", "2"), world)
    assert (early.problem_reason, early.problem_message) == (
        "UpstreamNotReady",
        "input sales/customer-360: has not published major version 2 yet",
    )
    # While the bump builds, the old major is still the published table: a pin on it reads it there.
    assert resolve_inputs(reader(world, "churn", "1"), world).inputs[0].location == BASE


def test_a_pin_on_a_major_no_longer_served_fails_closed(world: World) -> None:
    producer(world, "3.0.0", location=BASE + "@v3", tableVersion=1, homeMajor=1)
    gone = resolve_inputs(reader(world, "churn", "1"), world)
    assert gone.problem_reason == versions.NOT_SERVED
    assert gone.problem_message == "input sales/customer-360: pins major version 1, which is not served (served: 3)"


def test_a_local_build_reads_the_pinned_major_where_it_publishes(world: World) -> None:
    producer(world, "2.0.0", location=BASE, tableVersion=4, publishedVersion="1.0.0")
    local = resolve_inputs(reader(world, "churn", "2"), world, require_published=False)
    assert local.ok and local.inputs[0].location == BASE + "@v2"


def test_reading_another_major_counts_as_a_new_upstream_version(world: World) -> None:
    """Each table numbers its versions from 0: the key names the major so that moving to v2 rebuilds."""
    kept = PreviousVersion(major=1, location=BASE, table_version=0)
    producer(world, "2.0.0", location=BASE + "@v2", tableVersion=0, homeMajor=1, previousVersions=[kept])
    assert resolve_inputs(reader(world, "churn", "1"), world).upstream_versions == {"sales/customer-360": 0}
    assert resolve_inputs(reader(world, "follower", None), world).upstream_versions == {"sales/customer-360@v2": 0}
