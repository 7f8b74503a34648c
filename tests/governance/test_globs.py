"""Glob values: `*` and `?` are the only wildcards, matching is whole-value and case-sensitive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamesh.governance import glob_matches, match_holds
from tests.governance.factories import match


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("PERSONAL.*", "PERSONAL.EMAIL", True),
        ("PERSONAL.*", "PERSONAL.EMAIL.WORK", True),
        ("PERSONAL.*", "PERSONAL.", True),
        ("PERSONAL.*", "PERSONAL", False),
        ("PERSONAL.*", "XPERSONAL.EMAIL", False),
        ("PERSONAL.*", "personal.email", False),
        ("*", "", True),
        ("*", "anything at all", True),
        ("sales-?", "sales-1", True),
        ("sales-?", "sales-12", False),
        ("sales-?", "sales-", False),
        ("*-team", "sales-team", True),
        ("*-team", "sales-team-x", False),
        ("a.c", "abc", False),  # '.' is literal, not a regex wildcard
        ("team[1]", "team[1]", True),  # brackets are literal
        ("team[1]", "team1", False),
        ("a+b", "a+b", True),
        ("a+b", "aab", False),
        ("(x)|y", "y", False),
        ("line\\d", "line\\d", True),
    ],
)
def test_glob(pattern: str, value: str, expected: bool) -> None:
    assert glob_matches(pattern, value) is expected


@given(st.text(alphabet=st.characters(blacklist_characters="*?"), max_size=20), st.text(max_size=20))
def test_a_value_without_wildcards_matches_only_itself(pattern: str, value: str) -> None:
    assert glob_matches(pattern, value) == (pattern == value)


@given(st.text(max_size=20))
def test_star_matches_everything(value: str) -> None:
    assert glob_matches("*", value)


def test_seed_classification_globs_in_a_rule() -> None:
    seed = match("resource.classification", excludes=["PERSONAL.*", "SENSITIVE.*"])
    assert match_holds(seed, {"resource.classification": frozenset({"internal"})})
    assert not match_holds(seed, {"resource.classification": frozenset({"internal", "SENSITIVE.HEALTH"})})
    assert not match_holds(seed, {"resource.classification": frozenset({"PERSONAL.NAME"})})


def test_globs_work_for_every_operator_and_attribute() -> None:
    groups = {"principal.group": frozenset({"sales-data-team"})}
    assert match_holds(match("principal.group", includes="*-data-team"), groups)
    assert match_holds(match("principal.group", included_in=["hr-*", "sales-*"]), groups)
    assert not match_holds(match("principal.group", excludes=["sales-*"]), groups)
