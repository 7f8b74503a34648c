"""`${attribute}` values stand for the same request's values of that attribute, compared literally."""

from __future__ import annotations

from datamesh.governance import Principal, Resource, check_policy, evaluate_access, match_holds
from tests.governance.factories import match, policy, rule

OWN_DOMAIN = policy(
    "baseline",
    access_rules=[rule("Permit", [match("resource.domain", includes="${principal.domain}")], name="own-domain")],
)


def test_own_domain_rule_permits_members() -> None:
    member = Principal(user="ann", domains=frozenset({"sales"}))
    decision = evaluate_access([OWN_DOMAIN], member, Resource(domain="sales"))
    assert decision.allowed
    assert str(decision.rule) == "baseline/own-domain"


def test_own_domain_rule_with_several_domains() -> None:
    member = Principal(domains=frozenset({"marketing", "sales"}))
    assert evaluate_access([OWN_DOMAIN], member, Resource(domain="sales")).allowed
    assert evaluate_access([OWN_DOMAIN], member, Resource(domain="marketing")).allowed
    assert not evaluate_access([OWN_DOMAIN], member, Resource(domain="hr")).allowed


def test_reference_to_a_missing_attribute_matches_nothing() -> None:
    assert not evaluate_access([OWN_DOMAIN], Principal(user="anon"), Resource(domain="sales")).allowed
    excludes = match("resource.domain", excludes=["${principal.domain}"])
    assert match_holds(excludes, {"resource.domain": frozenset({"sales"})})


def test_referenced_values_are_literal_not_globs() -> None:
    odd = {"principal.group": frozenset({"team-*"}), "resource.product": frozenset({"team-a"})}
    assert not match_holds(match("resource.product", includes="${principal.group}"), odd)
    same = {"principal.group": frozenset({"team-*"}), "resource.product": frozenset({"team-*"})}
    assert match_holds(match("resource.product", includes="${principal.group}"), same)


def test_references_mix_with_globs_in_a_list() -> None:
    listed = match("resource.domain", included_in=["${principal.domain}", "shared-*"])
    attributes = {"principal.domain": frozenset({"sales"})}
    assert match_holds(listed, {**attributes, "resource.domain": frozenset({"sales"})})
    assert match_holds(listed, {**attributes, "resource.domain": frozenset({"shared-reference"})})
    assert not match_holds(listed, {**attributes, "resource.domain": frozenset({"hr"})})


def test_text_around_a_reference_is_literal_and_reported() -> None:
    partial = policy(access_rules=[rule("Permit", [match("principal.group", includes="${resource.domain}-team")])])
    assert not match_holds(
        partial.spec.access_rules[0].dnf_condition[0][0],
        {"resource.domain": frozenset({"sales"}), "principal.group": frozenset({"sales-team"})},
    )
    problems = check_policy(partial)
    assert [p.path for p in problems] == ["spec.accessRules[0].dnfCondition[0][0].attributeValueIncludes"]


def test_unknown_reference_is_reported() -> None:
    unknown = policy(access_rules=[rule("Permit", [match("resource.domain", excludes=["${principal.team}"])])])
    assert [p.path for p in check_policy(unknown)] == ["spec.accessRules[0].dnfCondition[0][0].attributeValueExcludes"]
