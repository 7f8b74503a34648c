"""Which Delta Sharing copies a build writes: one per PII treatment other than clear that a recipient domain gets,
decided with the same governance question the catalog API asks for every recipient (catalog/sharing/shares.py)."""

from __future__ import annotations

from typing import Any

from datamesh.mesh.access import share_copies, share_readers
from datamesh.mesh.world import World
from tests.governance.factories import domain, match, policy, product, rule

SCHEMA = [
    {"name": "customer_id", "type": "string"},
    {"name": "email", "type": "string", "pii": True, "classification": "PERSONAL.EMAIL"},
]


def world_with(grants: list[dict[str, Any]], *, access_policy: str = "domain-internal", policies: Any = ()) -> Any:
    customers = product(
        "customers", "sales", schema=SCHEMA, governance={"accessPolicy": access_policy, "grants": grants}
    )
    domains = {name: domain(name) for name in ("sales", "marketing", "finance", "support")}
    world = World(domains, {("sales", "customers"): customers}, {f"p{i}": p for i, p in enumerate(policies)})
    return customers, world


def test_the_owning_domain_alone_needs_no_copy() -> None:
    customers, world = world_with([])
    assert {name: read.pii for name, read in share_readers(customers, world).items()} == {"sales": "clear"}
    assert share_copies(customers, world) == []


def test_each_treatment_a_grant_gives_is_one_copy() -> None:
    customers, world = world_with([{"domains": ["marketing"], "pii": "mask"}])
    assert share_copies(customers, world) == ["mask"]
    customers, world = world_with(
        [{"domains": ["marketing"], "pii": "mask"}, {"domains": ["finance", "support"], "pii": "exclude"}]
    )
    assert share_copies(customers, world) == ["mask", "exclude"]
    customers, world = world_with([{"domains": ["marketing"], "pii": "clear"}])
    assert share_copies(customers, world) == []


def test_a_grant_to_a_domain_that_does_not_exist_needs_no_copy() -> None:
    customers, world = world_with([{"domains": ["nobody"], "pii": "exclude"}])
    assert share_copies(customers, world) == []


def test_a_deny_rule_removes_the_recipient_and_its_copy() -> None:
    deny = policy(access_rules=[rule("Deny", [match("principal.domain", includes="marketing")])])
    customers, world = world_with([{"domains": ["marketing"], "pii": "mask"}], policies=[deny])
    assert "marketing" not in share_readers(customers, world)
    assert share_copies(customers, world) == []


def test_a_public_product_shares_masked_with_every_other_domain() -> None:
    customers, world = world_with([], access_policy="public")
    readers = {name: read.pii for name, read in share_readers(customers, world).items()}
    assert readers["sales"] == "clear"
    assert {readers[d] for d in ("marketing", "finance", "support")} == {"mask"}
    assert share_copies(customers, world) == ["mask"]
