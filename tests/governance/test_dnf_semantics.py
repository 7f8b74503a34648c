"""A DNF condition: AND inside a clause, OR across clauses; several operators on one match must all hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from datamesh.governance import condition_holds, match_holds
from tests.governance.factories import match

VALUES = st.frozensets(st.sampled_from(["a", "b", "c", "PERSONAL.EMAIL", "internal"]), max_size=4)
PATTERNS = st.lists(st.sampled_from(["a", "b", "c", "PERSONAL.*", "*", "?", "int*"]), max_size=3)

DOMAIN_SALES = match("resource.domain", includes="sales")
GROUP_ANALYSTS = match("principal.group", included_in=["analysts"])


def attrs(**values: set[str]) -> dict[str, frozenset[str]]:
    return {name.replace("_", "."): frozenset(v) for name, v in values.items()}


def test_clause_needs_every_match() -> None:
    clause = [DOMAIN_SALES, GROUP_ANALYSTS]
    both = {"resource.domain": frozenset({"sales"}), "principal.group": frozenset({"analysts"})}
    assert condition_holds([clause], both)
    assert not condition_holds([clause], {**both, "principal.group": frozenset({"other"})})
    assert not condition_holds([clause], {**both, "resource.domain": frozenset({"marketing"})})


def test_any_clause_suffices() -> None:
    dnf = [[DOMAIN_SALES], [GROUP_ANALYSTS]]
    assert condition_holds(dnf, {"resource.domain": frozenset({"sales"})})
    assert condition_holds(dnf, {"principal.group": frozenset({"analysts"})})
    assert not condition_holds(dnf, {"resource.domain": frozenset({"hr"}), "principal.group": frozenset({"x"})})


def test_empty_condition_never_holds() -> None:
    assert not condition_holds([], {"resource.domain": frozenset({"sales"})})


def test_includes_means_some_value_matches() -> None:
    values = {"principal.group": frozenset({"analysts", "sales-team"})}
    assert match_holds(match("principal.group", includes="analysts"), values)
    assert not match_holds(match("principal.group", includes="hr"), values)


def test_included_in_means_some_value_is_listed() -> None:
    values = {"principal.group": frozenset({"analysts", "sales-team"})}
    assert match_holds(match("principal.group", included_in=["hr", "sales-team"]), values)
    assert not match_holds(match("principal.group", included_in=["hr", "finance"]), values)


def test_excludes_means_no_value_is_listed() -> None:
    values = {"resource.classification": frozenset({"internal", "PERSONAL.EMAIL"})}
    assert not match_holds(match("resource.classification", excludes=["PERSONAL.*"]), values)
    assert match_holds(match("resource.classification", excludes=["SENSITIVE.*"]), values)


def test_empty_lists() -> None:
    values = {"principal.group": frozenset({"analysts"})}
    assert not match_holds(match("principal.group", included_in=[]), values)
    assert match_holds(match("principal.group", excludes=[]), values)


def test_operators_on_one_match_are_and_ed() -> None:
    both = match("resource.classification", includes="internal", excludes=["PERSONAL.*"])
    assert match_holds(both, {"resource.classification": frozenset({"internal"})})
    assert not match_holds(both, {"resource.classification": frozenset({"internal", "PERSONAL.NAME"})})
    assert not match_holds(both, {"resource.classification": frozenset({"public"})})


@given(VALUES, st.sampled_from(["a", "PERSONAL.*", "*", "?", "int*"]))
def test_includes_is_included_in_of_one(values: frozenset[str], pattern: str) -> None:
    attributes = {"resource.classification": values}
    assert match_holds(match("resource.classification", includes=pattern), attributes) == match_holds(
        match("resource.classification", included_in=[pattern]), attributes
    )


@given(VALUES, PATTERNS)
def test_excludes_is_the_negation_of_included_in(values: frozenset[str], patterns: list[str]) -> None:
    attributes = {"resource.classification": values}
    assert match_holds(match("resource.classification", excludes=patterns), attributes) != match_holds(
        match("resource.classification", included_in=patterns), attributes
    )


@given(VALUES, PATTERNS, PATTERNS)
def test_included_in_is_monotone_in_its_list(values: frozenset[str], first: list[str], more: list[str]) -> None:
    attributes = {"resource.classification": values}
    if match_holds(match("resource.classification", included_in=first), attributes):
        assert match_holds(match("resource.classification", included_in=first + more), attributes)


@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=4), min_size=1, max_size=4))
def test_dnf_is_or_of_ands(truth_table: list[list[bool]]) -> None:
    true_match = match("resource.domain", includes="sales")
    false_match = match("resource.domain", includes="nowhere")
    dnf = [[true_match if value else false_match for value in clause] for clause in truth_table]
    expected = any(all(clause) for clause in truth_table)
    assert condition_holds(dnf, {"resource.domain": frozenset({"sales"})}) == expected
