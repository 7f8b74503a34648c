"""Conforming the transform result to the declared schema.

Planning is pure (types as Spark's simple strings) so it is unit-tested without Spark; `apply` turns a plan
into a projection. Casts use try_cast and the rows whose non-null value did not survive the cast are counted
in the same pass as the quality metrics, so a bad value fails the build with the column named instead of
aborting the write half-way with ANSI's CAST_INVALID_INPUT.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from datamesh.api.dataproduct import Column

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn

_ALIASES = {
    "integer": "int",
    "long": "bigint",
    "short": "smallint",
    "byte": "tinyint",
    "decimal": "decimal(10,0)",
}
_NUMERIC = {"tinyint", "smallint", "int", "bigint", "float", "double"}
_TIME = {"date", "timestamp", "timestamp_ntz"}
CAST_FAILURE_PREFIX = "__dm_castfail__"


def normalize_type(name: str) -> str:
    """Spark's simple string for a declared type: `long` -> `bigint`, `decimal( 18, 2)` -> `decimal(18,2)`."""
    compact = re.sub(r"\s+", "", name.lower())
    return _ALIASES.get(compact, compact)


def category(type_name: str) -> str:
    t = normalize_type(type_name)
    if t in _NUMERIC or t.startswith("decimal"):
        return "numeric"
    if t in _TIME:
        return "time"
    if t in ("string", "boolean", "binary") or t.startswith(("varchar", "char")):
        return "string" if t != "boolean" and t != "binary" else t
    return "complex"


def castable(source: str, target: str) -> bool:
    """Whether a value of `source` type can be cast to `target` by the conform step (conservative ANSI rules)."""
    src, dst = category(source), category(target)
    if normalize_type(source) == normalize_type(target) or normalize_type(source) in ("void", "null"):
        return True  # void is the type of a bare NULL literal, which every type accepts
    if "complex" in (src, dst):
        return False
    if src == "string" or dst == "string":
        return True
    allowed = {("numeric", "numeric"), ("numeric", "boolean"), ("boolean", "numeric"), ("time", "time")}
    return (src, dst) in allowed


@dataclass(frozen=True)
class ColumnPlan:
    name: str
    """Declared name, as published."""
    source: str
    """Name of the column in the transform result (case may differ)."""
    source_type: str
    target_type: str

    @property
    def needs_cast(self) -> bool:
        return normalize_type(self.source_type) != normalize_type(self.target_type)


@dataclass(frozen=True)
class ConformPlan:
    columns: list[ColumnPlan]
    extras: list[str] = field(default_factory=list)
    """Undeclared result columns kept at the end (allowExtraColumns)."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def message(self) -> str:
        return "schema violation: " + "; ".join(self.problems)


def plan_conform(actual: Sequence[tuple[str, str]], declared: Sequence[Column], allow_extra: bool) -> ConformPlan:
    """Match result columns (name, type) to the declared schema; names match case-insensitively as in Spark."""
    by_name = {name.lower(): (name, type_) for name, type_ in actual}
    columns: list[ColumnPlan] = []
    problems: list[str] = []
    for column in declared:
        found = by_name.get(column.name.lower())
        if found is None:
            problems.append(f"column {column.name!r} (declared {column.type}) is missing from the transform result")
            continue
        source, source_type = found
        if not castable(source_type, column.type):
            problems.append(f"column {column.name!r} has type {source_type}, which cannot be cast to {column.type}")
            continue
        columns.append(ColumnPlan(column.name, source, source_type, normalize_type(column.type)))
    declared_names = {c.name.lower() for c in declared}
    extras = [name for name, _ in actual if name.lower() not in declared_names]
    if extras and not allow_extra:
        listed = ", ".join(repr(e) for e in extras)
        problems.append(f"undeclared column(s) {listed} in the transform result (declare or set allowExtraColumns)")
        extras = []
    return ConformPlan(columns, extras, problems)


def cast_failure_message(failures: dict[str, int], plan: ConformPlan) -> str | None:
    """One line naming every column with values that did not cast, or None when all cast."""
    bad = [(c, failures.get(c.name, 0)) for c in plan.columns if failures.get(c.name, 0)]
    if not bad:
        return None
    parts = [f"column {c.name!r}: {n} {c.source_type} value(s) cannot be cast to {c.target_type}" for c, n in bad]
    return "schema violation: " + "; ".join(parts)


def projection(plan: ConformPlan) -> tuple[list[SparkColumn], list[SparkColumn]]:
    """The conformed select list, and the cast-failure aggregates to observe on the frame before the select."""
    from pyspark.sql import functions as F

    conformed = []
    failures = []
    for c in plan.columns:
        raw = F.col(f"`{c.source}`")
        if c.needs_cast:
            conformed.append(raw.try_cast(c.target_type).alias(c.name))
            failed = raw.isNotNull() & raw.try_cast(c.target_type).isNull()
            failures.append(F.count_if(failed).alias(CAST_FAILURE_PREFIX + c.name))
        else:
            conformed.append(raw.alias(c.name))
    conformed.extend(F.col(f"`{e}`") for e in plan.extras)
    return conformed, failures
