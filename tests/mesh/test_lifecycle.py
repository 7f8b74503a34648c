"""Contract lifecycle decisions: who consumes a product (and which columns), and which changes break them."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datamesh.admission import review
from datamesh.api import DataProduct, GovernancePolicy
from datamesh.api.dataproduct import Consumer, Input, Transform
from datamesh.manifests import load_mesh
from datamesh.mesh.lifecycle import (
    RULES,
    breaking_changes,
    columns_read,
    consumers_of,
    contract_changes,
    reader_access,
    rules_table,
    type_widens,
)
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


# -------------------------------------------------------------------------------------------- breaking changes

ORDERS: dict[str, Any] = {
    "apiVersion": "datamesh.dev/v1alpha1",
    "kind": "DataProduct",
    "metadata": {"name": "orders", "namespace": "sales"},
    "spec": {
        "domain": "sales",
        "owner": "sales@example.com",
        "description": "Orders.",
        "version": "1.2.0",
        "sla": {"freshness": "1 hour", "availability": "99.9%", "qualityScore": 0.95},
        "schema": [
            {"name": "order_id", "type": "string", "primaryKey": True},
            {"name": "customer_id", "type": "string"},
            {"name": "amount", "type": "decimal(10,2)"},
            {"name": "qty", "type": "int"},
            {"name": "ratio", "type": "float"},
            {"name": "placed", "type": "date"},
            {"name": "note", "type": "string", "nullable": True},
            {"name": "email", "type": "string", "pii": True, "classification": "PERSONAL.EMAIL"},
            {"name": "city", "type": "string"},
        ],
        "inputs": [{"source": "bronze.crm.orders"}],
        "transform": {"sql": "SELECT * FROM `bronze.crm.orders`"},
        "outputs": [{"name": "orders", "format": "delta"}],
        "governance": {"accessPolicy": "organization", "grants": [{"domains": ["marketing"], "pii": "clear"}]},
    },
}
#: What the marketing consumer's transform reads of orders.
READ = "SELECT order_id, amount, qty, ratio, placed, note, email FROM orders"


def producer(edit: Callable[[dict[str, Any]], object] | None = None) -> DataProduct:
    body = copy.deepcopy(ORDERS)
    if edit is not None:
        edit(body["spec"])
    return DataProduct.model_validate(body)


def column(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in spec["schema"] if c["name"] == name)


def set_column(which: str, /, **fields: object) -> Callable[[dict[str, Any]], object]:
    return lambda spec: column(spec, which).update(fields)


def drop_column(name: str) -> Callable[[dict[str, Any]], object]:
    return lambda spec: spec["schema"].remove(column(spec, name))


def retype(
    name: str, old: str, new: str
) -> tuple[Callable[[dict[str, Any]], object], Callable[[dict[str, Any]], object]]:
    return set_column(name, type=old), set_column(name, type=new)


def both(*edits: Callable[[dict[str, Any]], object]) -> Callable[[dict[str, Any]], object]:
    return lambda spec: [edit(spec) for edit in edits]


def sla(**fields: object) -> Callable[[dict[str, Any]], object]:
    return lambda spec: spec["sla"].update(fields)


def governance(**fields: object) -> Callable[[dict[str, Any]], object]:
    return lambda spec: spec["governance"].update(fields)


def no_edit(spec: dict[str, Any]) -> None:
    return None


def ver(version: str) -> Callable[[dict[str, Any]], object]:
    return lambda spec: spec.update(version=version)


def add_column(nullable: bool = False) -> Callable[[dict[str, Any]], object]:
    return lambda spec: spec["schema"].append({"name": "x", "type": "int", "nullable": nullable})


def pii(name: str) -> Callable[[dict[str, Any]], object]:
    return set_column(name, pii=True, classification=f"PERSONAL.{name.upper()}")


UNGRANTED = governance(grants=[])
NARROW = governance(accessPolicy="domain-internal", grants=[])
MASKED = governance(grants=[{"domains": ["marketing"], "pii": "mask"}])
NEW_KEY = both(set_column("order_id", primaryKey=False), set_column("city", primaryKey=True))


Edit = Callable[[dict[str, Any]], object]
#: (case, edit of the old spec, edit of the new spec, consumer: SQL | "python" | None (no consumer) | (domain, SQL),
#:  expected: None (accepted) or the rule refusing it)
CORPUS: list[tuple[str, Edit, Edit, object, str | None]] = [
    # columns removed or renamed
    ("remove a column a consumer reads", no_edit, drop_column("amount"), READ, "field-removed"),
    ("remove a column no consumer reads", no_edit, drop_column("city"), READ, None),
    ("rename a column a consumer reads", no_edit, set_column("amount", name="total"), READ, "field-removed"),
    ("remove a column under SELECT *", no_edit, drop_column("city"), "SELECT * FROM orders", "field-removed"),
    ("remove a column under a Python transform", no_edit, drop_column("city"), "python", "field-removed"),
    ("remove a column read, without consumers", no_edit, drop_column("amount"), None, None),
    # types
    ("int to bigint", no_edit, set_column("qty", type="bigint"), READ, None),
    ("int to long (alias)", no_edit, set_column("qty", type="long"), READ, None),
    ("int to integer (same type)", no_edit, set_column("qty", type="integer"), READ, None),
    ("int to double", no_edit, set_column("qty", type="double"), READ, None),
    ("int to decimal(12,2)", no_edit, set_column("qty", type="decimal(12,2)"), READ, None),
    ("int to decimal(9,0)", no_edit, set_column("qty", type="decimal(9,0)"), READ, "type-changed"),
    ("int to string", no_edit, set_column("qty", type="string"), READ, "type-changed"),
    ("int to smallint", no_edit, set_column("qty", type="smallint"), READ, "type-changed"),
    ("bigint to double", *retype("qty", "bigint", "double"), READ, "type-changed"),
    ("float to double", no_edit, set_column("ratio", type="double"), READ, None),
    ("double to float", *retype("ratio", "double", "float"), READ, "type-changed"),
    ("decimal(10,2) to decimal(12,2)", no_edit, set_column("amount", type="decimal(12,2)"), READ, None),
    ("decimal(10,2) to decimal(12,4)", no_edit, set_column("amount", type="decimal(12,4)"), READ, None),
    ("decimal(10,2) to decimal(10,3)", no_edit, set_column("amount", type="decimal(10,3)"), READ, "type-changed"),
    ("decimal(10,2) to decimal(10,1)", no_edit, set_column("amount", type="decimal(10,1)"), READ, "type-changed"),
    ("date to timestamp_ntz", no_edit, set_column("placed", type="timestamp_ntz"), READ, None),
    ("date to timestamp", no_edit, set_column("placed", type="timestamp"), READ, "type-changed"),
    ("retype a column no consumer reads", no_edit, set_column("city", type="int"), READ, None),
    ("retype a column read, without consumers", no_edit, set_column("qty", type="string"), None, None),
    # nullability
    ("nullable to required, read", no_edit, set_column("note", nullable=False), READ, "required-changed"),
    ("nullable to required, unread", set_column("city", nullable=True), set_column("city", nullable=False), READ, None),
    ("required to nullable, read", no_edit, set_column("qty", nullable=True), READ, "required-changed"),
    ("required to nullable, unread", set_column("city", nullable=False), set_column("city", nullable=True), READ,
     None),
    # additions
    ("add a nullable column", no_edit, add_column(nullable=True), READ, None),
    ("add a required column", no_edit, add_column(), READ, None),
    ("change descriptions, tags and owner", no_edit, lambda s: s.update(owner="x@example.com", tags=["a"]), READ, None),
    # primary key
    ("change the primary key", no_edit, NEW_KEY, "SELECT note FROM orders", "key-constraint-changed"),
    ("drop the primary key", no_edit, set_column("order_id", primaryKey=False), READ, "key-constraint-changed"),
    ("change the primary key, without consumers", no_edit, set_column("order_id", primaryKey=False), None, None),
    # guarantees
    ("freshness 1 hour to 2 hours", no_edit, sla(freshness="2 hours"), READ, "freshness-loosened"),
    ("freshness 1 hour to 30m", no_edit, sla(freshness="30m"), READ, None),
    ("freshness 1 hour to 60m (the same)", no_edit, sla(freshness="60m"), READ, None),
    ("freshness loosened, without consumers", no_edit, sla(freshness="1 day"), None, None),
    ("quality score 0.95 to 0.9", no_edit, sla(qualityScore=0.9), READ, "quality-score-lowered"),
    ("quality score 0.95 to 0.99", no_edit, sla(qualityScore=0.99), READ, None),
    ("availability 99.9% to 99%", no_edit, sla(availability="99%"), READ, "availability-lowered"),
    ("availability removed", no_edit, lambda s: s["sla"].pop("availability"), READ, "availability-lowered"),
    ("availability 99.9% to 99.99%", no_edit, sla(availability="99.99%"), READ, None),
    # access
    ("organization to domain-internal, grant removed", no_edit, NARROW, READ, "access-narrowed"),
    ("organization to domain-internal, grant kept", no_edit, governance(accessPolicy="domain-internal"), READ, None),
    ("access narrowed, consumer in the same domain", no_edit, NARROW, ("sales", READ), None),
    ("grant pii clear to mask, PII column read", no_edit, MASKED, READ, "pii-narrowed"),
    ("grant pii clear to mask, no PII column read", no_edit, MASKED, "SELECT qty FROM orders", None),
    ("a column read becomes PII (masked)", UNGRANTED, both(UNGRANTED, pii("note")), READ, "pii-narrowed"),
    ("a column not read becomes PII", UNGRANTED, both(UNGRANTED, pii("city")), READ, None),
    ("a column read becomes PII, same domain", no_edit, pii("note"), ("sales", READ), None),
    ("a column stops being PII", no_edit, set_column("email", pii=False, classification=None), READ, None),
    # domain
    ("move to another domain", no_edit, lambda s: s.update(domain="marketing"), READ, "domain-changed"),
    # versions
    ("remove a column read, major bump", no_edit, both(drop_column("amount"), ver("2.0.0")), READ, None),
    ("remove a column read, minor bump", no_edit, both(drop_column("amount"), ver("1.3.0")), READ, "field-removed"),
    ("narrow access, major bump", no_edit, both(NARROW, ver("2.0.0")), READ, None),
    ("no version to 1.0.0", lambda s: s.pop("version"), both(sla(freshness="1 day"), ver("1.0.0")), READ, None),
    ("major version down", no_edit, both(sla(freshness="1 day"), ver("0.9.0")), READ, "freshness-loosened"),
]  # fmt: skip


def reader_of(consumer: object) -> DataProduct:
    """The product reading orders: SQL from marketing, "python", or (domain, SQL)."""
    domain, sql = consumer if isinstance(consumer, tuple) else ("marketing", consumer)
    spec = copy.deepcopy(ORDERS["spec"])
    spec.update(
        domain=domain,
        inputs=[{"product": "orders", "domain": "sales"}],
        transform={"python": "pkg.mod:build"} if sql == "python" else {"sql": sql},
    )
    spec["governance"] = {}
    return DataProduct.model_validate({**ORDERS, "metadata": {"name": "reader", "namespace": domain}, "spec": spec})


def consumer_of(orders: DataProduct, consumer: object) -> list[Consumer]:
    return [] if consumer is None else consumers_of([orders, reader_of(consumer)], orders)


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30
    assert {rule for *_, rule in CORPUS if rule} == {rule.id for rule in RULES}


@pytest.mark.parametrize(("case", "old_edit", "new_edit", "consumer", "refused_by"), CORPUS, ids=[c[0] for c in CORPUS])
def test_breaking_change_decisions(
    case: str, old_edit: Edit, new_edit: Edit, consumer: object, refused_by: str | None
) -> None:
    old, new = producer(old_edit), producer(new_edit)
    consumers = consumer_of(old, consumer)
    assert (consumer is None) == (consumers == [])
    breaches = breaking_changes(old, new, consumers)
    assert [b.rule for b in breaches] == ([refused_by] if refused_by else [])
    for breach in breaches:
        assert breach.consumers == (consumers[0].ref,)
        assert consumers[0].ref in str(breach)
        if breach.column:
            assert repr(breach.column) in str(breach)


def test_a_breach_names_consumer_column_and_rename() -> None:
    old = producer()
    [breach] = breaking_changes(old, producer(set_column("amount", name="total")), consumer_of(old, READ))
    assert str(breach) == (
        "spec.schema[amount]: column 'amount' is removed (renamed to 'total'?) [field-removed], "
        "but consumer marketing/reader reads column 'amount'"
    )


def test_contract_changes_ignore_consumers() -> None:
    changes = contract_changes(producer(), producer(both(drop_column("city"), sla(qualityScore=0.5))))
    assert [(c.rule.id, c.path, c.column) for c in changes] == [
        ("field-removed", "spec.schema[city]", "city"),
        ("quality-score-lowered", "spec.sla.qualityScore", None),
    ]


def test_an_access_rule_that_denies_the_consumer_breaks_it() -> None:
    deny = GovernancePolicy.model_validate(
        {
            "apiVersion": "datamesh.dev/v1alpha1",
            "kind": "GovernancePolicy",
            "metadata": {"name": "no-marketing"},
            "spec": {
                "description": "Marketing may not read orders.",
                "accessRules": [
                    {
                        "name": "deny",
                        "effect": "Deny",
                        "dnfCondition": [
                            [{"attributeName": "principal.domain", "attributeValueIncludes": "marketing"}]
                        ],
                    }
                ],
            },
        }
    )
    old = producer()
    consumers = consumer_of(old, READ)
    # A policy in force denies both sides the same: nothing this change takes away.
    assert breaking_changes(old, producer(sla(freshness="30m")), consumers, access=reader_access([deny])) == []
    # Without the policy, the contract alone decides.
    assert breaking_changes(old, producer(sla(freshness="30m")), consumers, access=reader_access()) == []


@pytest.mark.parametrize(
    ("old", "new", "widens"),
    [
        ("tinyint", "smallint", True), ("byte", "int", True), ("short", "long", True), ("int", "bigint", True),
        ("bigint", "int", False), ("int", "float", False), ("smallint", "double", True), ("long", "double", False),
        ("int", "decimal(10,0)", True), ("int", "decimal", True), ("bigint", "decimal(20,0)", True),
        ("bigint", "decimal(19,0)", False), ("decimal", "decimal(11,1)", True), ("decimal(5,2)", "decimal(4,2)", False),
        ("decimal( 5 , 2 )", "decimal(5,2)", True), ("string", "binary", False), ("boolean", "int", False),
        ("timestamp", "timestamp_ntz", False), ("timestamp_ntz", "timestamp", False), ("date", "string", False),
    ],
)  # fmt: skip
def test_type_widening(old: str, new: str, widens: bool) -> None:
    assert type_widens(old, new) is widens


# ----------------------------------------------------------------------------------------------- admission


def test_admission_refuses_a_breaking_update_naming_consumer_and_column() -> None:
    old = producer()
    products = [old, reader_of(READ)]
    new = producer(drop_column("amount")).to_wire()
    problems = review.review_product(new, old.to_wire(), [], domains={}, products=products)
    assert problems[0] == (
        "spec.schema[amount]: column 'amount' is removed [field-removed], but consumer marketing/reader reads column "
        "'amount'"
    )
    assert "move spec.version to 2.0.0" in problems[1]
    # Compatible, unchanged spec, a major bump, a create: admitted.
    compatible = producer(add_column(nullable=True)).to_wire()
    assert review.review_product(compatible, old.to_wire(), [], domains={}, products=products) == []
    bumped = producer(both(drop_column("amount"), ver("2.0.0"))).to_wire()
    assert review.review_product(bumped, old.to_wire(), [], domains={}, products=products) == []
    assert review.review_product(new, None, [], domains={}, products=products) == []


def test_admission_compares_nothing_with_a_stored_spec_the_models_refuse() -> None:
    old = producer().to_wire()
    old["spec"]["schema"].append(dict(old["spec"]["schema"][0]))  # a duplicate column: InvalidSpec
    new = producer(drop_column("amount")).to_wire()
    assert review.review_product(new, old, [], domains={}, products=[reader_of(READ)]) == []


# ----------------------------------------------------------------------------------------- spec.deprecation


@pytest.mark.parametrize(
    ("deprecation", "problem"),
    [
        ({"since": "2026-01-01", "sunset": "2026-06-30", "replacement": {"product": "orders-v2"}}, None),
        ({"since": "2026-01-01", "sunset": "2026-01-01"}, None),
        ({"since": "2026-01-01", "sunset": "2025-12-31"}, "sunset must not be before deprecation.since"),
        ({"since": "2026-02-30", "sunset": "2026-06-30"}, "day is out of range"),
        ({"since": "2026-1-1", "sunset": "2026-06-30"}, "should match pattern"),
        ({"since": "2026-01-01T00:00:00Z", "sunset": "2026-06-30"}, "at most 10 characters"),
        ({"since": 1767225600, "sunset": "2026-06-30"}, "valid string"),
        ({"since": "2026-01-01"}, "sunset"),
        ({"since": "2026-01-01", "sunset": "2026-06-30", "replacement": {"product": "Orders V2"}}, "pattern"),
        ({"since": "2026-01-01", "sunset": "2026-06-30", "replacement": "orders-v2"}, "valid dictionary"),
        ({"since": "2026-01-01", "sunset": "2026-06-30", "replacement": {"product": "orders"}}, "names the product"),
        (
            {"since": "2026-01-01", "sunset": "2026-06-30", "replacement": {"product": "orders", "domain": "sales"}},
            "names the product itself",
        ),
        ({"since": "2026-01-01", "sunset": "2026-06-30", "replacement": {"product": "orders", "domain": "hr"}}, None),
        ({"since": "2026-01-01", "sunset": "2026-06-30", "extra": 1}, "Extra inputs"),
    ],
)
def test_deprecation_is_validated(deprecation: dict[str, Any], problem: str | None) -> None:
    body = copy.deepcopy(ORDERS)
    body["spec"]["deprecation"] = deprecation
    if problem is None:
        assert DataProduct.model_validate(body).spec.deprecation is not None
    else:
        with pytest.raises(ValueError, match=re.escape(problem)):
            DataProduct.model_validate(body)


def test_the_docs_list_every_rule() -> None:
    doc = (EXAMPLES.parent / "docs" / "lifecycle.md").read_text()
    assert rules_table() in doc
