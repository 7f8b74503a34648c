"""Deny wins over Permit; without a matching Permit access is denied; rule order never matters."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from datamesh.api.governancepolicy import AccessRule
from datamesh.governance import Principal, Resource, evaluate_access
from tests.governance.factories import match, policy, rule

SALES = Resource(domain="sales", product="orders", classification=frozenset({"internal"}))
ANN = Principal(user="ann", groups=frozenset({"analysts"}), domains=frozenset({"sales"}))

PERMIT_SALES = rule("Permit", [match("resource.domain", includes="sales")], name="permit-sales")
DENY_ANALYSTS = rule("Deny", [match("principal.group", includes="analysts")], name="deny-analysts")


def test_no_policies_means_deny() -> None:
    decision = evaluate_access([], ANN, SALES)
    assert (decision.allowed, decision.effect, decision.rule) == (False, None, None)
    assert "denied by default" in decision.reason


def test_no_matching_rule_means_deny() -> None:
    other = rule("Permit", [match("resource.domain", includes="hr")])
    assert not evaluate_access([policy(access_rules=[other])], ANN, SALES).allowed


def test_matching_permit_allows() -> None:
    decision = evaluate_access([policy("base", access_rules=[PERMIT_SALES])], ANN, SALES)
    assert decision.allowed
    assert decision.effect == "Permit"
    assert str(decision.rule) == "base/permit-sales"


def test_deny_wins_in_the_same_policy() -> None:
    decision = evaluate_access([policy("base", access_rules=[PERMIT_SALES, DENY_ANALYSTS])], ANN, SALES)
    assert not decision.allowed
    assert decision.effect == "Deny"
    assert str(decision.rule) == "base/deny-analysts"
    assert "Deny wins" in decision.reason


def test_deny_wins_across_policies() -> None:
    policies = [policy("a", access_rules=[PERMIT_SALES]), policy("b", access_rules=[DENY_ANALYSTS])]
    assert not evaluate_access(policies, ANN, SALES).allowed


def test_unnamed_rules_are_reported_by_position() -> None:
    unnamed = rule("Deny", [match("resource.domain", includes="sales")])
    decision = evaluate_access([policy("base", access_rules=[PERMIT_SALES, unnamed])], ANN, SALES)
    assert str(decision.rule) == "base/accessRules[1]"


def test_the_reported_rule_is_the_first_in_policy_name_order() -> None:
    policies = [policy("zz", access_rules=[DENY_ANALYSTS]), policy("aa", access_rules=[DENY_ANALYSTS])]
    assert str(evaluate_access(policies, ANN, SALES).rule) == "aa/deny-analysts"


# Random rules over a small vocabulary, so that conditions actually match the fixed request sometimes.
MATCHES = st.builds(
    lambda attribute, operator, values: match(attribute, **{operator: values if operator != "includes" else values[0]}),
    st.sampled_from(["resource.domain", "resource.classification", "principal.group", "principal.domain"]),
    st.sampled_from(["includes", "included_in", "excludes"]),
    st.lists(
        st.sampled_from(["sales", "hr", "analysts", "internal", "PERSONAL.*", "*", "${principal.domain}"]),
        min_size=1,
        max_size=2,
    ),
)
CLAUSES = st.lists(MATCHES, min_size=1, max_size=3)
RULES = st.builds(
    lambda effect, clauses: rule(effect, *clauses),
    st.sampled_from(["Permit", "Deny"]),
    st.lists(CLAUSES, min_size=1, max_size=3),
)


def _decide(rules: list[AccessRule], split: int = 0) -> bool:
    policies = [policy("first", access_rules=rules[:split]), policy("second", access_rules=rules[split:])]
    return evaluate_access(policies, ANN, SALES).allowed


@given(st.lists(RULES, max_size=6), RULES.filter(lambda r: r.effect == "Deny"))
def test_adding_a_deny_never_turns_a_deny_into_a_permit(rules: list[AccessRule], deny: AccessRule) -> None:
    if not _decide(rules):
        assert not _decide([*rules, deny])


@given(st.lists(RULES, max_size=6), RULES.filter(lambda r: r.effect == "Permit"))
def test_adding_a_permit_never_turns_a_permit_into_a_deny(rules: list[AccessRule], permit: AccessRule) -> None:
    if _decide(rules):
        assert _decide([*rules, permit])


@given(st.lists(RULES, max_size=6).flatmap(lambda rules: st.tuples(st.just(rules), st.permutations(rules))), st.data())
def test_order_of_rules_and_policies_never_changes_the_decision(
    rules_and_shuffled: tuple[list[AccessRule], list[AccessRule]], data: st.DataObject
) -> None:
    rules, shuffled = rules_and_shuffled
    split = data.draw(st.integers(min_value=0, max_value=len(rules)))
    expected = evaluate_access([policy(access_rules=rules)], ANN, SALES)
    for decision in (
        evaluate_access([policy(access_rules=shuffled)], ANN, SALES),
        evaluate_access(
            [policy("x", access_rules=shuffled[:split]), policy("y", access_rules=shuffled[split:])], ANN, SALES
        ),
    ):
        assert (decision.allowed, decision.effect) == (expected.allowed, expected.effect)


@given(st.lists(RULES, max_size=6))
def test_allowed_exactly_when_a_permit_matches_and_no_deny_does(rules: list[AccessRule]) -> None:
    decision = evaluate_access([policy(access_rules=rules)], ANN, SALES)
    assert decision.allowed == (decision.effect == "Permit")
    if not rules or all(r.effect == "Deny" for r in rules):
        assert not decision.allowed
