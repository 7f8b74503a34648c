"""Patterns policy authors write are matched in linear time (RE2), or refused at admission.

Each exponential case below would run for hours in Python's `re`; the timeout marker fails the test instead of
hanging the suite if a backtracking engine ever comes back.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamesh.governance import check_policy, check_product, glob_matches
from datamesh.governance.regex import (
    PatternError,
    compile_regex,
    glob_fullmatches,
    regex_fullmatches,
    regex_problem,
)
from tests.governance.factories import policy, product

# (pattern, text, whether it matches): classic catastrophic-backtracking shapes against names of 40 to 250 characters.
EXPONENTIAL = [
    (r"^([a-z]+-?)+$", "a" * 39 + "1", False),
    (r"^([a-z]+-?)+$", "ab-" * 80 + "c", True),
    (r"^([a-z]+-?)+$", "a" * 249 + "!", False),
    (r"^(a|aa)+$", "a" * 39 + "b", False),
    (r"^(a|aa)+$", "a" * 250, True),
    (r"(x+x+)+y", "x" * 40, False),
    (r"(x+x+)+y", "x" * 250 + "y", True),
    (r"(a*)*b", "a" * 200, False),
    (r"^(\w+\s?)*$", "word " * 40 + "!", False),
    (r"(.*a){20}", "a" * 19 + "b" * 200, False),
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("pattern", "text", "matches"), EXPONENTIAL)
def test_exponential_regexes_answer_correctly_in_linear_time(pattern: str, text: str, matches: bool) -> None:
    assert regex_fullmatches(pattern, text) is matches


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("pattern", "name", "breaks"),
    [
        (r"^([a-z]+-?)+$", "a" * 39 + "1", True),
        (r"^(a|aa)+$", "a" * 39 + "b", True),
        (r"([a-z0-9]+-?)*[a-z]", "a1" * 19 + "-1", True),
        (r"^([a-z]+-?)+$", "customer-orders-" * 2 + "daily", False),
    ],
)
def test_a_hostile_name_pattern_does_not_stall_the_product_check(pattern: str, name: str, breaks: bool) -> None:
    found = check_product([policy("gov", product_rules=[{"name": "names", "namePattern": pattern}])], product(name))
    assert [v.path for v in found] == (["metadata.name"] if breaks else [])


# Globs: `*a*a*a...b` is polynomial-to-exponential for a backtracking engine.
@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("glob", "value", "matches"),
    [
        ("*a*a*a*a*a*a*a*b", "a" * 250, False),
        ("*a*a*a*a*a*a*a*b", "a" * 249 + "b", True),
        ("*a" * 100 + "*b", "a" * 250, False),
        ("*?*?*?*?*?*?*?*?*x", "y" * 250, False),
        ("*-*-*-*-*-*-*-*-*.", "-" * 40, False),
        ("PERSONAL.*.*.*.*.*.*.*.*.*.*.*.*.*.X", "PERSONAL." + "." * 200, False),
    ],
)
def test_hostile_globs_answer_correctly_in_linear_time(glob: str, value: str, matches: bool) -> None:
    assert glob_matches(glob, value) is matches


@given(
    st.text(alphabet=st.sampled_from("ab*?é\U0001f600\x00.\n"), max_size=12),
    st.text(alphabet=st.sampled_from("abé\U0001f600\x00.\n"), max_size=12),
)
def test_globs_mean_what_the_documentation_says(glob: str, value: str) -> None:
    assert glob_fullmatches(glob, value) == _reference_glob(glob, value)


def _reference_glob(glob: str, value: str) -> bool:
    """The documented meaning, by dynamic programming: `*` any run, `?` one character, the rest literal."""
    reachable = {0}
    for char in glob:
        if char == "*":
            reachable = set(range(min(reachable), len(value) + 1)) if reachable else set()
        else:
            reachable = {i + 1 for i in reachable if i < len(value) and (char == "?" or value[i] == char)}
    return len(value) in reachable


def test_a_question_mark_is_one_character_whatever_its_encoding() -> None:
    assert glob_matches("a?b", "aéb") and glob_matches("a?b", "a\U0001f600b") and glob_matches("a?b", "a\nb")
    assert not glob_matches("a?b", "aééb")
    # A lone surrogate (JSON can carry one) is still one character, and nothing raises.
    assert glob_matches("a?b", "a\ud800b") and not glob_matches("a?b", "a\ud800\ud800b")


# Refusal: what RE2 cannot compile is refused by check_policy, naming the rule and field.
@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"^(a+)\1$", "invalid escape sequence"),
        (r"^(?=.*x).*$", "invalid perl operator"),
        (r"^.*(?<!-)$", "invalid perl operator"),
        (r"^(?P<x>a)(?P=x)$", "invalid perl operator"),
        (r"^a++$", "bad repetition operator"),
        (r"(\pL{100}){10}", "pattern too large"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_with_the_field_named(pattern: str, reason: str) -> None:
    rules = [{"name": "fine", "namePattern": "[a-z]+"}, {"name": "hostile", "namePattern": pattern}]
    (problem,) = check_policy(policy(product_rules=rules))
    assert problem.path == "spec.productRules[1].namePattern"
    assert problem.message.startswith(f"{pattern!r} is not supported by the linear-time regex engine (RE2): ")
    assert reason in problem.message


def test_a_refused_pattern_admitted_earlier_fails_closed_at_reconcile() -> None:
    found = check_product([policy("gov", product_rules=[{"name": "names", "namePattern": r"(a)\1"}])], product("aa"))
    assert [(v.path, v.rule) for v in found] == [("metadata.name", "names")]
    assert "not supported by the linear-time regex engine (RE2)" in found[0].message


def test_a_pattern_blowing_up_the_program_is_refused_not_compiled_at_any_cost() -> None:
    # Fits the schema's 253 characters, but the counted repetitions multiply into a huge program.
    pattern = r"((((\w{1,30}){1,30}){1,30}){1,30})"
    assert len(pattern) <= 253
    problem = regex_problem(pattern)
    assert problem is not None and "RE2" in problem
    with pytest.raises(PatternError):
        compile_regex(pattern)


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("[a-z][a-z0-9]*(-[a-z0-9]+)*", "customer-360", True),  # examples/policies/strict.yaml
        ("[a-z][a-z0-9]*(-[a-z0-9]+)*", "customer--360", False),
        ("sales-.*", "sales-orders", True),
        ("sales-.*", "my-sales-orders", False),  # whole-name match, not search
        ("^orders$", "orders", True),
        ("(?i)ORDERS", "orders", True),
        (r"\d+-[a-z]+", "42-answers", True),
        ("a|b", "ab", False),
    ],
)
def test_ordinary_patterns_keep_their_meaning(pattern: str, name: str, matches: bool) -> None:
    assert regex_problem(pattern) is None
    assert regex_fullmatches(pattern, name) is matches


def test_compiled_patterns_are_cached() -> None:
    assert compile_regex("[a-z]+-cached") is compile_regex("[a-z]+-cached")
