"""The World's product indexes answer the same as a scan of every product, through every kind of change."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamesh import placement
from datamesh.api import DataProduct
from datamesh.api.dataproduct import Input
from datamesh.manifests import load_mesh
from datamesh.mesh.world import ProductTable, World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def scan_downstream(world: World, namespace: str, name: str) -> list[tuple[str, str]]:
    return sorted(
        key
        for key, product in world.products.items()
        if any(
            item.product == name and world.namespace_of(item.domain or product.spec.domain) == namespace
            for item in product.spec.inputs
        )
    )


def keys(products: list[DataProduct]) -> list[tuple[str, str]]:
    return sorted((p.namespace or "", p.name) for p in products)


def reader(base: DataProduct, name: str, domain: str, *inputs: Input) -> DataProduct:
    product = base.model_copy(deep=True)
    product.metadata = {"name": name, "namespace": domain}
    product.spec.domain = domain
    product.spec.inputs = [*base.spec.inputs, *inputs]
    return product


@pytest.fixture
def world() -> World:
    """The example mesh plus readers of customer-360: same domain, another domain, and a namesake elsewhere."""
    mesh = load_mesh([EXAMPLES])
    base = mesh.find_product("customer-360")
    products = dict(mesh.products)
    for product in (
        reader(base, "churn", "sales", Input(product="customer-360")),
        reader(base, "campaigns", "marketing", Input(product="customer-360", domain="sales")),
        reader(base, "namesake-reader", "marketing", Input(product="customer-360")),
    ):
        products[(product.spec.domain, product.name)] = product
    return World(mesh.domains, products, {})


def test_a_plain_dict_of_products_is_indexed(world: World) -> None:
    assert isinstance(world.products, ProductTable)
    readers = keys(world.downstream_of("sales", "customer-360"))
    assert readers == [("marketing", "campaigns"), ("sales", "churn")]
    assert readers == scan_downstream(world, "sales", "customer-360")
    # marketing's customer-360 does not exist, but its reader is found through the index all the same.
    assert keys(world.downstream_of("marketing", "customer-360")) == [("marketing", "namesake-reader")]
    assert keys(world.products_in("sales")) == sorted(k for k, p in world.products.items() if p.spec.domain == "sales")


def test_index_follows_replacement_and_removal(world: World) -> None:
    reader_key = scan_downstream(world, "sales", "customer-360")[0]
    reader = world.products[reader_key]
    # The reader stops reading customer-360: the index must drop it, not keep the old edge.
    changed = reader.model_copy(deep=True)
    changed.spec.inputs = [i for i in changed.spec.inputs if i.product != "customer-360"]
    world.products[reader_key] = changed
    assert reader_key not in keys(world.downstream_of("sales", "customer-360"))
    assert keys(world.downstream_of("sales", "customer-360")) == scan_downstream(world, "sales", "customer-360")
    # Back again, then removed with pop and with del.
    world.products[reader_key] = reader
    assert reader_key in keys(world.downstream_of("sales", "customer-360"))
    assert world.products.pop(reader_key) is reader
    assert reader_key not in keys(world.downstream_of("sales", "customer-360"))
    assert world.products.pop(reader_key, None) is None
    world.products[reader_key] = reader
    del world.products[reader_key]
    assert reader_key not in keys(world.downstream_of("sales", "customer-360"))
    assert reader_key not in keys(world.products_in(reader.spec.domain))


def test_same_product_name_in_another_domain_is_not_a_reader(world: World) -> None:
    reader_key = scan_downstream(world, "sales", "customer-360")[0]
    # customer-360 of a namespace nobody reads from has no downstream, although readers of the name exist.
    assert world.downstream_of("elsewhere", "customer-360") == []
    assert reader_key in keys(world.products.reading("customer-360"))
    assert len(world.products.reading("customer-360")) == 3


def test_bulk_writes_that_would_skip_the_index_are_refused(world: World) -> None:
    with pytest.raises(TypeError):
        world.products.update({})


def placed(base: DataProduct, name: str, domain: str, namespace: str, location: str | None = None) -> DataProduct:
    product = base.model_copy(deep=True)
    product.metadata = {"name": name, "namespace": namespace, "uid": f"u-{namespace}-{name}",
                        "creationTimestamp": "2026-01-01T00:00:00Z"}  # fmt: skip
    product.spec.domain = domain
    if location is not None:
        product.spec.outputs = [output.model_copy(update={"location": location}) for output in product.spec.outputs]
        product.spec.outputs[0].format = "delta"
    return product


def test_table_collisions_from_the_index_are_those_of_a_scan(world: World) -> None:
    """Every reconcile asks whose table collides with its own: the operator's indexed table must answer as a
    plain list of every product does (the admission webhook and the CLI pass lists)."""
    base = world.products[("sales", "customer-360")]
    for product in (
        placed(base, "inside-c360", "marketing", "marketing", "/var/lib/datamesh/lake/sales/gold/customer-360/x"),
        placed(base, "over-sales", "marketing", "marketing", "/var/lib/datamesh/lake/sales"),
        placed(base, "customer-360", "sales", "elsewhere"),
        placed(base, "churn-copy", "sales", "sales", "/var/lib/datamesh/lake/sales/gold/churn"),
    ):
        world.products[(product.namespace or "", product.name)] = product

    def problems() -> dict[tuple[str, str], tuple[list[str], list[str]]]:
        plain = list(world.products.values())
        return {key: (placement.product_problems(p, world.domains, world.products, seniority=True),
                      placement.product_problems(p, world.domains, plain, seniority=True))
                for key, p in world.products.items()}  # fmt: skip

    found = problems()
    assert any(indexed for indexed, _ in found.values()), "the intruders collide with something"
    assert {key: sorted(indexed) for key, (indexed, _) in found.items()} == {
        key: sorted(scanned) for key, (_, scanned) in found.items()
    }
    del world.products[("sales", "churn")]
    world.products[("marketing", "inside-c360")] = placed(base, "inside-c360", "marketing", "marketing")
    found = problems()
    assert {key: sorted(indexed) for key, (indexed, _) in found.items()} == {
        key: sorted(scanned) for key, (_, scanned) in found.items()
    }
    assert sorted(p.name for p in world.products.located()) == ["churn-copy", "over-sales"]
    assert keys(world.products.named("sales", "customer-360")) == [("elsewhere", "customer-360"),
                                                                    ("sales", "customer-360")]  # fmt: skip
