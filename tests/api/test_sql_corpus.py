"""The SQL wall does not get in the way: every query of the analytical corpus is accepted."""

from __future__ import annotations

import pytest

from datamesh.api.sqlcheck import problems
from tests.api.sql_corpus import CORPUS, SCHEMAS


def test_the_corpus_is_large_and_uses_only_known_views() -> None:
    assert len(CORPUS) >= 50
    assert len({id_ for id_, _, _ in CORPUS}) == len(CORPUS)
    assert all(set(views) <= SCHEMAS.keys() for _, views, _ in CORPUS)


@pytest.mark.parametrize(("views", "sql"), [(views, sql) for _, views, sql in CORPUS], ids=[c[0] for c in CORPUS])
def test_analytical_queries_are_accepted(views: tuple[str, ...], sql: str) -> None:
    assert problems(sql, views) == []


@pytest.mark.parametrize(("views", "sql"), [(v, s) for _, v, s in CORPUS if v], ids=[c[0] for c in CORPUS if c[1]])
def test_the_same_queries_are_refused_without_their_inputs(views: tuple[str, ...], sql: str) -> None:
    # The acceptance above is not vacuous: the wall does look at what each query reads.
    assert any("not one of the inputs" in p for p in problems(sql, ["unrelated"]))
