"""check_policy: mistakes a schema-valid policy can still contain."""

from __future__ import annotations

from typing import Any

from datamesh.governance import check_policy
from tests.governance.factories import policy


def test_sound_policy() -> None:
    rule = {
        "name": "r",
        "namePattern": "[a-z-]+",
        "retention": {"min": "1d", "max": "1y"},
        "minQualityScore": {"*": 0.9},
    }
    assert check_policy(policy(product_rules=[rule])) == []


def test_each_mistake_is_reported_at_its_field() -> None:
    rules: list[dict[str, Any]] = [
        {"name": "a", "namePattern": "(["},
        {"name": "b", "retention": {"min": "2 years", "max": "1 year"}},
        {"name": "c", "minQualityScore": {"secret": 0.9, "internal": 0.9}},
        {"name": "a", "requiredFields": ["tags"]},
    ]
    problems = {p.path: p.message for p in check_policy(policy(product_rules=rules))}
    assert set(problems) == {
        "spec.productRules[0].namePattern",
        "spec.productRules[1].retention",
        "spec.productRules[2].minQualityScore",
        "spec.productRules[3].name",
    }
    assert problems["spec.productRules[1].retention"] == "min '2 years' is longer than max '1 year'"
    assert "'secret' is not a classification" in problems["spec.productRules[2].minQualityScore"]
    assert problems["spec.productRules[3].name"] == "duplicate rule name 'a'"
