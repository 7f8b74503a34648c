"""Problems in a GovernancePolicy itself that its schema cannot catch (references, regexes, bounds, keys)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from datamesh.api.common import Classification
from datamesh.api.durations import parse_duration
from datamesh.api.governancepolicy import AttributeMatch, GovernancePolicy, ProductRule
from datamesh.governance.attributes import reference_of
from datamesh.governance.product_rules import ANY_CLASSIFICATION
from datamesh.governance.regex import regex_problem
from datamesh.manifests import Problem

_CLASSIFICATIONS = frozenset(get_args(Classification))


def _match_problems(match: AttributeMatch, path: str) -> Iterator[Problem]:
    operators = (
        ("attributeValueIncludes", [match.attribute_value_includes] if match.attribute_value_includes else []),
        ("attributeValueIncludedIn", match.attribute_value_included_in or []),
        ("attributeValueExcludes", match.attribute_value_excludes or []),
    )
    for operator, values in operators:
        for value in values:
            if "${" in value and reference_of(value) is None:
                yield Problem(
                    f"{path}.{operator}",
                    f"{value!r} is not a reference: write a whole value such as '${{principal.domain}}' naming an"
                    " attribute (text around a reference is not substituted)",
                )


def _rule_problems(rule: ProductRule, path: str) -> Iterator[Problem]:
    # Refused here rather than failing closed on every product later: the author learns at once.
    problem = regex_problem(rule.name_pattern) if rule.name_pattern is not None else None
    if problem is not None:
        yield Problem(f"{path}.namePattern", problem)
    bounds = rule.retention
    if bounds and bounds.min and bounds.max and parse_duration(bounds.min) > parse_duration(bounds.max):
        yield Problem(f"{path}.retention", f"min {bounds.min!r} is longer than max {bounds.max!r}")
    for key in rule.min_quality_score or {}:
        if key not in _CLASSIFICATIONS and key != ANY_CLASSIFICATION:
            yield Problem(
                f"{path}.minQualityScore",
                f"key {key!r} is not a classification ({', '.join(sorted(_CLASSIFICATIONS))} or '*')",
            )


def check_policy(policy: GovernancePolicy) -> list[Problem]:
    """Mistakes in a schema-valid policy that would make it match nothing or fail closed; empty when sound."""
    problems: list[Problem] = []
    spec = policy.spec
    names = [rule.name for rule in spec.product_rules]
    for index, rule in enumerate(spec.product_rules):
        if names.index(rule.name) != index:
            problems.append(Problem(f"spec.productRules[{index}].name", f"duplicate rule name {rule.name!r}"))
        problems.extend(_rule_problems(rule, f"spec.productRules[{index}]"))
    for r, access_rule in enumerate(spec.access_rules):
        for c, clause in enumerate(access_rule.dnf_condition):
            for m, match in enumerate(clause):
                problems.extend(_match_problems(match, f"spec.accessRules[{r}].dnfCondition[{c}][{m}]"))
    return problems
