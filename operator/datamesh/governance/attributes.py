"""Attribute matching: the meaning of one `AttributeMatch` and of a DNF condition over multi-valued attributes.

Every attribute is a set of strings. An attribute with no values is *missing*; missing and empty are the same.

- `attributeValueIncludes: v`       some value of the attribute matches v          (missing: false)
- `attributeValueIncludedIn: [v..]` some value of the attribute matches some v     (missing: false)
- `attributeValueExcludes: [v..]`   no value of the attribute matches any v        (missing: true)

So `Includes v` is `IncludedIn [v]`, and `Excludes L` is exactly `not IncludedIn L`. Several operators set on
one match must all hold. Values are globs (`*` any run of characters, `?` one character, case-sensitive; every
other character is literal), matched in linear time (`governance.regex`). A value that is exactly a reference
such as `${principal.domain}` stands for the values of that attribute of the same request, compared literally.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import get_args

from datamesh.api.governancepolicy import AttributeMatch, AttributeName
from datamesh.governance.regex import glob_fullmatches

Attributes = Mapping[str, frozenset[str]]
"""Attribute name -> values of one request (principal and resource together)."""

ATTRIBUTE_NAMES: frozenset[str] = frozenset(get_args(AttributeName))
#: Our own linear pattern (no nested repetition), so Python's `re` is safe here. fullmatch, because `$` would also
#: accept a trailing newline.
_REFERENCE = re.compile(r"\$\{([A-Za-z.]+)\}")


def glob_matches(pattern: str, value: str) -> bool:
    """Whether `value` matches the glob `pattern` as a whole (`*` and `?` are the only wildcards)."""
    return glob_fullmatches(pattern, value)


def reference_of(value: str) -> str | None:
    """The attribute name a value such as `${principal.domain}` refers to, or None for a plain value or glob."""
    found = _REFERENCE.fullmatch(value)
    return found.group(1) if found and found.group(1) in ATTRIBUTE_NAMES else None


def _matches_any(values: Iterable[str], patterns: Sequence[str], attributes: Attributes) -> bool:
    literals: set[str] = set()
    globs: list[str] = []
    for pattern in patterns:
        referenced = reference_of(pattern)
        if referenced is None:
            globs.append(pattern)
        else:
            literals |= attributes.get(referenced, frozenset())
    return any(value in literals or any(glob_matches(g, value) for g in globs) for value in values)


def match_holds(match: AttributeMatch, attributes: Attributes) -> bool:
    """Whether one attribute test holds for a request (every operator set on it must hold)."""
    values = attributes.get(match.attribute_name, frozenset())
    if match.attribute_value_includes is not None and not _matches_any(
        values, [match.attribute_value_includes], attributes
    ):
        return False
    if match.attribute_value_included_in is not None and not _matches_any(
        values, match.attribute_value_included_in, attributes
    ):
        return False
    return not (
        match.attribute_value_excludes is not None and _matches_any(values, match.attribute_value_excludes, attributes)
    )


def condition_holds(dnf_condition: Sequence[Sequence[AttributeMatch]], attributes: Attributes) -> bool:
    """A DNF condition holds when every match of at least one clause holds."""
    return any(all(match_holds(match, attributes) for match in clause) for clause in dnf_condition)
