"""plan_shares: which recipient domains get a Delta Sharing profile of a product, and which tokens are issued,
rotated and revoked, from governance and from what the product's status says was handed out."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from datamesh.api import DataProduct
from datamesh.api.dataproduct import DataProductStatus
from datamesh.catalog.sharing.tokens import token_hash
from datamesh.controller.share_plan import (
    ROTATE_ANNOTATION,
    SharePlan,
    field_manager,
    plan_shares,
    plan_unshare,
    secret_key,
    settle,
    shares_secret,
)
from datamesh.mesh.world import World
from tests.governance.factories import domain, match, policy, product, rule

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LIFETIME = timedelta(days=30)
ENDPOINT = "https://catalog.example.com/delta-sharing"
DOMAINS = ("sales", "marketing", "finance")
#: Every test's tokens differ from every other's, as random ones would.
TOKENS = itertools.count()
SCHEMA = [
    {"name": "customer_id", "type": "string"},
    {"name": "email", "type": "string", "pii": True, "classification": "PERSONAL.EMAIL"},
]


def customers(grants: list[dict[str, Any]], *, annotations: dict[str, str] | None = None) -> DataProduct:
    found = product(
        "customers", "sales", schema=SCHEMA, governance={"accessPolicy": "domain-internal", "grants": grants}
    )
    found.metadata["namespace"] = "sales"
    if annotations:
        found.metadata["annotations"] = annotations
    found.status = DataProductStatus(table_version=3)
    return found


def world_of(item: DataProduct, *, policies: Any = (), namespaces: dict[str, str] | None = None) -> World:
    domains = {n: domain(n, namespace=(namespaces or {}).get(n, f"{n}-ns")) for n in DOMAINS}
    return World(domains, {("sales", item.name): item}, {f"p{i}": p for i, p in enumerate(policies)})


def plan(item: DataProduct, world: World, *, now: datetime = NOW, endpoint: str = ENDPOINT,
         ready: frozenset[str] = frozenset(DOMAINS)) -> SharePlan:  # fmt: skip
    return plan_shares(
        item, world, now=now, endpoint=endpoint, lifetime=LIFETIME, ready=ready,
        new_token=lambda: f"token-{next(TOKENS)}",
    )  # fmt: skip


def handed_out(item: DataProduct, result: SharePlan) -> DataProduct:
    """The product as the next reconcile sees it, its status carrying what `result` handed out."""
    assert item.status is not None
    item.status.shares, item.status.handled_share_rotation = result.shares, result.handled_rotation
    return item


def test_a_grant_makes_its_domain_a_recipient_with_a_profile_in_its_namespace() -> None:
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    result = plan(item, world_of(item))
    assert [(s.recipient, s.pii, s.table) for s in result.shares] == [
        ("marketing", "mask", "customers.sales.customers")
    ]
    (issue,) = result.issue
    token = issue.profile["bearerToken"]
    assert issue.namespace == "marketing-ns" and issue.key == "sales.customers.share"
    assert issue.share.secret == "marketing-ns/datamesh-shares:sales.customers.share"
    assert issue.profile == {
        "shareCredentialsVersion": 1, "endpoint": ENDPOINT, "bearerToken": token,
        "expirationTime": "2026-12-31T12:00:00.000Z",
    }  # fmt: skip
    assert issue.share.token_hash == token_hash(token) and issue.replaces is None
    assert issue.share.expires_at == NOW + LIFETIME
    assert result.revoke == []


def test_the_owning_domain_is_never_a_recipient() -> None:
    item = customers([{"domains": ["sales", "marketing"], "pii": "clear"}])
    assert [s.recipient for s in plan(item, world_of(item)).shares] == ["marketing"]


def test_an_unchanged_recipient_is_left_alone() -> None:
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    world = world_of(item)
    first = plan(item, world)
    again = plan(handed_out(item, first), world, now=NOW + timedelta(days=1))
    assert again.issue == [] and again.revoke == [] and again.shares == first.shares


def test_a_revoked_grant_removes_the_key_and_revokes_the_token() -> None:
    item = customers([{"domains": ["marketing", "finance"], "pii": "mask"}])
    first = plan(item, world_of(item))
    assert [s.recipient for s in first.shares] == ["finance", "marketing"]
    item = handed_out(item, first)
    item.spec.governance.grants = []  # every grant revoked
    later = plan(item, world_of(item))
    assert later.shares == [] and later.issue == []
    assert sorted((r.share.recipient, r.namespace, r.key, r.remove_key) for r in later.revoke) == [
        ("finance", "finance-ns", "sales.customers.share", True),
        ("marketing", "marketing-ns", "sales.customers.share", True),
    ]
    assert {r.share.token_hash for r in later.revoke} == {s.token_hash for s in first.shares}


def test_a_deny_rule_revokes_like_a_removed_grant() -> None:
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    first = plan(item, world_of(item))
    deny = policy(access_rules=[rule("Deny", [match("principal.domain", includes="marketing")])])
    later = plan(handed_out(item, first), world_of(item, policies=[deny]))
    assert later.shares == [] and [r.share.recipient for r in later.revoke] == ["marketing"]


def test_a_recipient_whose_domain_is_gone_keeps_no_key_to_remove() -> None:
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    world = world_of(item)
    first = plan(item, world)
    del world.domains["marketing"]
    (revoke,) = plan(handed_out(item, first), world).revoke
    assert revoke.remove_key is False and revoke.share.token_hash == first.shares[0].token_hash


def test_deleting_the_product_takes_back_every_profile() -> None:
    item = customers([{"domains": ["marketing", "finance"], "pii": "mask"}])
    world = world_of(item)
    item = handed_out(item, plan(item, world))
    del world.domains["finance"]  # its namespace went with it: nothing to remove there, the token still revoked
    taken = plan_unshare(item, world)
    assert taken.issue == [] and taken.shares == []
    assert sorted((r.share.recipient, r.namespace, r.key, r.remove_key) for r in taken.revoke) == [
        ("finance", "finance-ns", "sales.customers.share", False),
        ("marketing", "marketing-ns", "sales.customers.share", True),
    ]
    assert {r.share.token_hash for r in taken.revoke} == {s.token_hash for s in item.status.shares}  # type: ignore[union-attr]
    item.status = None
    assert plan_unshare(item, world).revoke == []


def test_a_token_near_its_expiry_is_rotated_and_the_old_one_revoked() -> None:
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    world = world_of(item)
    first = plan(item, world)
    item = handed_out(item, first)
    assert plan(item, world, now=NOW + LIFETIME * 0.79).issue == []
    rotated = plan(item, world, now=NOW + LIFETIME * 0.81)
    (issue,) = rotated.issue
    assert issue.replaces == first.shares[0].token_hash
    assert issue.share.expires_at == NOW + LIFETIME * 0.81 + LIFETIME
    assert rotated.revoke == []  # the recipient stays; only its old token goes


def test_the_rotate_annotation_rotates_every_token_once_per_value() -> None:
    item = customers([{"domains": ["marketing", "finance"], "pii": "clear"}])
    world = world_of(item)
    item = handed_out(item, plan(item, world))
    item.metadata["annotations"] = {ROTATE_ANNOTATION: "2026-12-01"}
    rotated = plan(item, world)
    assert sorted(i.share.recipient for i in rotated.issue) == ["finance", "marketing"]
    assert all(i.replaces for i in rotated.issue) and rotated.handled_rotation == "2026-12-01"
    assert plan(handed_out(item, rotated), world).issue == []
    item.metadata["annotations"] = {ROTATE_ANNOTATION: "again"}
    assert len(plan(item, world).issue) == 2


def test_a_pii_change_updates_the_status_without_a_new_token() -> None:
    # The catalog API decides PII per request from governance: the profile stays valid.
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    world = world_of(item)
    item = handed_out(item, plan(item, world))
    item.spec.governance.grants[0].pii = "exclude"
    later = plan(item, world)
    assert later.issue == [] and [s.pii for s in later.shares] == ["exclude"]


def test_nothing_is_handed_out_before_the_first_publish_or_without_an_endpoint() -> None:
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    world = world_of(item)
    assert plan(item, world, endpoint="").shares == []
    assert "endpoint" in plan(item, world, endpoint="").note
    assert item.status is not None
    item.status.table_version = None
    unpublished = plan(item, world)
    assert unpublished.shares == [] and "published" in unpublished.note


def test_turning_sharing_off_revokes_what_was_handed_out() -> None:
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    world = world_of(item)
    item = handed_out(item, plan(item, world))
    off = plan(item, world, endpoint="")
    assert off.shares == [] and [r.share.recipient for r in off.revoke] == ["marketing"]


def test_a_recipient_whose_workspace_is_not_applied_waits_and_keeps_what_it_has() -> None:
    item = customers([{"domains": ["marketing", "finance"], "pii": "mask"}])
    world = world_of(item)
    waiting = plan(item, world, ready=frozenset({"sales", "finance"}))
    assert [s.recipient for s in waiting.shares] == ["finance"]
    item = handed_out(item, plan(item, world))
    kept = plan(item, world, ready=frozenset())
    assert kept.issue == [] and kept.revoke == [] and len(kept.shares) == 2


def test_a_namespace_change_moves_the_profile() -> None:
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    item = handed_out(item, plan(item, world_of(item)))
    moved = plan(item, world_of(item, namespaces={"marketing": "mkt"}))
    assert [(r.namespace, r.remove_key) for r in moved.revoke] == [("marketing-ns", True)]
    assert [i.namespace for i in moved.issue] == ["mkt"] and moved.issue[0].replaces is None


def test_two_same_named_products_of_one_domain_are_not_shared() -> None:
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    world = world_of(item)
    twin = customers([{"domains": ["marketing"], "pii": "mask"}])
    twin.metadata["namespace"] = "sales-two"
    world.products[("sales-two", "customers")] = twin
    result = plan(item, world)
    assert result.shares == [] and "customers" in result.note


KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def test_hostile_names_give_safe_distinct_keys_and_managers() -> None:
    hostile = [
        ("sales", "customers"), ("sales.customers", "x"), ("sales", "customers.x"), ("a", "b.c"), ("a.b", "c"),
        ("../etc", "passwd"), ("sales", "x" * 300), ("", ""), ("UPPER", "case"), ("sales", "customers/../../x"),
        ("sha256-0", "share"), ("white space", "tab\t"),
    ]  # fmt: skip
    keys = [secret_key(d, p) for d, p in hostile]
    assert all(KEY.match(k) and len(k) <= 253 for k in keys), keys
    assert len(set(keys)) == len(keys)
    managers = [field_manager(d, p) for d, p in hostile]
    assert all(len(m) <= 128 and KEY.match(m) for m in managers)
    assert len(set(managers)) == len(managers)
    assert secret_key("sales", "customers") == "sales.customers.share"


def test_the_secret_body_holds_only_this_products_key() -> None:
    body = shares_secret("marketing", "sales.customers.share", {"bearerToken": "t"})
    assert body["metadata"]["name"] == "datamesh-shares" and list(body["data"]) == ["sales.customers.share"]
    assert "data" not in shares_secret("marketing", "sales.customers.share", None)


def test_a_namespace_whose_write_failed_keeps_its_old_share_and_retries() -> None:
    item = customers([{"domains": ["marketing", "finance"], "pii": "mask"}])
    world = world_of(item)
    first = plan(item, world)
    item = handed_out(item, first)
    item.metadata["annotations"] = {ROTATE_ANNOTATION: "now"}
    rotated = plan(item, world)
    settled = settle(rotated, {"marketing-ns"}, first.shares, None)
    assert [i.share.recipient for i in settled.issue] == ["finance"]
    old_marketing = next(s for s in first.shares if s.recipient == "marketing")
    assert old_marketing in settled.shares and len(settled.shares) == 2
    assert settled.handled_rotation is None, "marketing's rotation is still owed"
    assert settle(rotated, set(), first.shares, None) is rotated


def test_a_removal_that_failed_stays_in_the_status_to_be_tried_again() -> None:
    item = customers([{"domains": ["marketing"], "pii": "mask"}])
    world = world_of(item)
    first = plan(item, world)
    item = handed_out(item, first)
    item.spec.governance.grants = []
    revoked = plan(item, world)
    settled = settle(revoked, {"marketing-ns"}, first.shares, None)
    assert settled.shares == first.shares and [r.share.recipient for r in settled.revoke] == ["marketing"]
