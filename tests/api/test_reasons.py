"""Condition reasons: every one the planner or the build writes, and every one the README's table names, is in
the API's list (datamesh.api.reasons), so a reader, a dashboard or Argo CD can rely on that list."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from datamesh.api import reasons
from tests.conftest import REPO

PACKAGE = REPO / "operator" / "datamesh"
CAMEL = re.compile(r"`([A-Z][A-Za-z]+)`")


def _strings(node: ast.expr | None) -> Iterator[str]:
    """String literals an expression may evaluate to (a literal, either arm of `a if c else b`, `x or "lit"`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _strings(node.body)
        yield from _strings(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _strings(value)


def written_reasons(path: Path) -> Iterator[tuple[int, str]]:
    """Reasons as code writes them: Desired(type, status, REASON), BuildError(REASON), Mismatch(REASON),
    classify(error, REASON), resolve's _fail(resolution, REASON), `reason=`/`failure_reason=` keywords and
    `reason = ...` assignments."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            position = {"Desired": 2, "BuildError": 0, "Mismatch": 0, "classify": 1, "_fail": 1}.get(func)
            if position is not None and len(node.args) > position:
                yield from ((node.lineno, s) for s in _strings(node.args[position]))
            for keyword in node.keywords:
                if keyword.arg in ("reason", "ready_reason", "failure_reason"):
                    yield from ((node.lineno, s) for s in _strings(keyword.value))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "reason" for t in node.targets):
            yield from ((node.lineno, s) for s in _strings(node.value))


def test_every_reason_the_planner_and_the_build_write_is_in_the_api_list() -> None:
    folders = ("controller", "build", "mesh")
    unknown = sorted(
        f"{path.relative_to(REPO)}:{line}: {reason}"
        for folder in folders
        for path in (PACKAGE / folder).rglob("*.py")
        for line, reason in written_reasons(path)
        if reason and reason not in reasons.ALL_REASONS  # "" only as a type checker's fallback (`x or ""`)
    )
    assert unknown == []


def test_the_scan_finds_reasons_in_every_shape(tmp_path: Path) -> None:
    code = tmp_path / "x.py"
    code.write_text(
        'Desired(T, "False", "A")\nraise BuildError("B", m)\nclassify(e, "C")\n_fail(r, "D", m)\n'
        'f(reason="E" if x else "F")\nreason = y or "G"\n'
    )
    assert sorted(r for _, r in written_reasons(code)) == ["A", "B", "C", "D", "E", "F", "G"]


def readme_table() -> dict[str, set[str]]:
    """condition -> the reasons its README row names."""
    text = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^\n]+) \|$", text[text.index("| condition | True when |") :], re.M)
    return {condition: set(CAMEL.findall(cell)) for condition, cell in rows}


def test_the_readme_table_lists_the_product_conditions_with_api_reasons() -> None:
    table = readme_table()
    assert set(table) == set(reasons.PRODUCT_CONDITIONS)
    summarized = frozenset().union(*(reasons.PRODUCT_REASONS[t] for t in reasons.PRODUCT_SUMMARY_OF))
    for condition, named in table.items():
        allowed = reasons.PRODUCT_REASONS[condition] | (summarized if condition == reasons.READY else frozenset())
        assert named <= allowed, f"README: {condition} names reasons the API does not have: {sorted(named - allowed)}"
