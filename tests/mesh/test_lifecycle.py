"""Contract lifecycle decisions: who consumes a product (and which columns), and which changes break them."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamesh.api import DataProduct
from datamesh.api.dataproduct import Input, Transform
from datamesh.manifests import load_mesh
from datamesh.mesh.lifecycle import columns_read, consumers_of
from datamesh.mesh.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KNOWN = ("customer_id", "email", "name", "session_count", "lifetime_value")


@pytest.fixture(scope="module")
def base() -> DataProduct:
    return load_mesh([EXAMPLES]).find_product("customer-360")


def reader(base: DataProduct, name: str, domain: str, sql: str | None, *inputs: Input) -> DataProduct:
    product = base.model_copy(deep=True)
    product.metadata = {"name": name, "namespace": domain}
    product.spec.domain = domain
    product.spec.inputs = list(inputs)
    product.spec.transform = Transform(sql=sql) if sql else Transform(python="pkg.mod:build")
    return product


# ------------------------------------------------------------------------------------------------ columns_read


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT customer_id, email FROM up", {"customer_id", "email"}),
        ("SELECT u.name FROM up u", {"name"}),
        ("SELECT count(*) AS n FROM up", set()),
        ("SELECT * FROM up", None),
        ("SELECT u.* FROM up u JOIN other o ON u.customer_id = o.id", None),
        ("SELECT o.* , u.email FROM up u JOIN other o ON u.customer_id = o.id", {"email", "customer_id"}),
        # Through a CTE: the column read inside it is what counts.
        ("WITH s AS (SELECT customer_id, email AS mail FROM up) SELECT s.mail FROM s", {"customer_id", "email"}),
        # A star inside a CTE over the input reads everything, whatever the outer query picks.
        ("WITH s AS (SELECT * FROM up) SELECT s.email FROM s", None),
        # An unqualified column in a join counts as read from the input when the input has it (errs towards "reads").
        ("SELECT name, o.total FROM up u JOIN other o ON u.customer_id = o.id", {"name", "customer_id"}),
        # Correlated subquery: the outer alias is followed.
        (
            "SELECT o.id FROM other o WHERE EXISTS (SELECT 1 FROM up u WHERE u.customer_id = o.id AND u.email > '')",
            {"customer_id", "email"},
        ),
        # Case-insensitive, answered in the producer's spelling.
        ("SELECT CUSTOMER_ID FROM UP", {"customer_id"}),
        # Union: both branches.
        ("SELECT email FROM up UNION ALL SELECT name FROM up", {"email", "name"}),
        # Not SQL at all: reads everything as far as anyone can tell.
        ("SELEC email FRM up", None),
        # A table of another name is not the input.
        ("SELECT email FROM upstream", set()),
    ],
)
def test_columns_read(sql: str, expected: set[str] | None) -> None:
    found = columns_read(sql, "up", KNOWN)
    assert (None if found is None else set(found)) == expected


# ------------------------------------------------------------------------------------------------ consumers_of


def mesh_with_readers(base: DataProduct) -> dict[tuple[str, str], DataProduct]:
    products = {("sales", "customer-360"): base}
    for product in (
        reader(base, "churn", "sales", "SELECT customer_id, email FROM customer_360", Input(product="customer-360")),
        reader(
            base, "campaigns", "marketing", "SELECT * FROM c", Input(product="customer-360", domain="sales", alias="c")
        ),
        reader(
            base,
            "joined",
            "marketing",
            "SELECT c.name, o.email FROM c JOIN o ON c.customer_id = o.customer_id",
            Input(product="customer-360", domain="sales", alias="c"),
            Input(product="other", alias="o"),
        ),
        reader(base, "scorer", "sales", None, Input(product="customer-360")),
        # Reads marketing's customer-360 (which does not exist), not sales'.
        reader(base, "namesake", "marketing", "SELECT email FROM customer_360", Input(product="customer-360")),
    ):
        products[(product.spec.domain, product.name)] = product
    return products


def test_consumers_of_a_world_and_of_a_plain_list_agree(base: DataProduct) -> None:
    products = mesh_with_readers(base)
    mesh = load_mesh([EXAMPLES])
    from_world = consumers_of(World(mesh.domains, products, {}), base)
    from_list = consumers_of(list(products.values()), base)
    assert from_world == from_list
    assert [(c.ref, c.domain, c.columns) for c in from_world] == [
        ("marketing/campaigns", "marketing", ["*"]),
        ("marketing/joined", "marketing", ["customer_id", "name"]),
        ("sales/churn", "sales", ["customer_id", "email"]),
        ("sales/scorer", "sales", ["*"]),  # a Python transform: no telling which columns
    ]
    churn = from_world[2]
    assert churn.uses("EMAIL") and not churn.uses("name")
    assert from_world[0].uses("anything")


def test_a_product_without_readers_has_no_consumers(base: DataProduct) -> None:
    assert consumers_of([base], base) == []


def test_two_inputs_on_the_same_product_add_up(base: DataProduct) -> None:
    both = reader(
        base,
        "twice",
        "sales",
        "SELECT a.email, b.name FROM a JOIN b ON a.customer_id = b.customer_id",
        Input(product="customer-360", alias="a"),
        Input(product="customer-360", alias="b"),
    )
    [consumer] = consumers_of([base, both], base)
    assert consumer.columns == ["customer_id", "email", "name"]
