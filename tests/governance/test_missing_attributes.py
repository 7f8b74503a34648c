"""A missing attribute (absent or empty): Includes and IncludedIn are false, Excludes is true."""

from __future__ import annotations

from typing import get_args

import pytest

from datamesh.api.governancepolicy import AttributeName
from datamesh.governance import Principal, Resource, evaluate_access, match_holds
from tests.governance.factories import match, policy, rule

ATTRIBUTES = get_args(AttributeName)


@pytest.mark.parametrize("attribute", ATTRIBUTES)
@pytest.mark.parametrize("present_but_empty", [False, True])
def test_operators_on_a_missing_attribute(attribute: str, present_but_empty: bool) -> None:
    attributes: dict[str, frozenset[str]] = {attribute: frozenset()} if present_but_empty else {}
    assert not match_holds(match(attribute, includes="*"), attributes)
    assert not match_holds(match(attribute, included_in=["*"]), attributes)
    assert match_holds(match(attribute, excludes=["*"]), attributes)


def test_principal_without_user_or_groups_has_those_attributes_missing() -> None:
    attributes = Principal().attributes()
    assert attributes == {
        "principal.user": frozenset(),
        "principal.group": frozenset(),
        "principal.domain": frozenset(),
    }


def test_resource_attributes_missing_unless_known() -> None:
    attributes = Resource(domain="sales").attributes()
    assert attributes["resource.domain"] == {"sales"}
    assert attributes["resource.product"] == frozenset()
    assert attributes["resource.classification"] == frozenset()
    assert attributes["resource.column.classification"] == frozenset()


def test_excludes_permits_a_resource_without_classification() -> None:
    non_personal = policy(
        access_rules=[rule("Permit", [match("resource.classification", excludes=["PERSONAL.*"])], name="np")]
    )
    assert evaluate_access([non_personal], Principal(), Resource(domain="sales")).allowed


def test_deny_on_excludes_catches_principals_without_domain() -> None:
    outsiders = policy(
        access_rules=[rule("Deny", [match("principal.domain", excludes=["sales"])], name="outsiders")],
    )
    decision = evaluate_access([outsiders], Principal(user="anon"), Resource(domain="sales"))
    assert not decision.allowed
    assert decision.effect == "Deny"
