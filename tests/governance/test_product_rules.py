"""Every product rule, with the field path and policy/rule each violation is reported under."""

from __future__ import annotations

from typing import Any

import pytest

from datamesh.governance import Violation, check_product
from tests.governance.factories import policy, product

KEYED_SCHEMA = [
    {"name": "order_id", "type": "string", "primaryKey": True},
    {"name": "line", "type": "int", "primaryKey": True},
    {"name": "email", "type": "string", "pii": True, "classification": "PERSONAL.EMAIL"},
]


def violations(rule: dict[str, Any], **spec: Any) -> list[tuple[str, str]]:
    found = check_product([policy("gov", product_rules=[{"name": "r", **rule}])], product(**spec))
    assert all((v.policy, v.rule) == ("gov", "r") for v in found)
    return [(v.path, v.message) for v in found]


def paths(rule: dict[str, Any], **spec: Any) -> list[str]:
    return [path for path, _ in violations(rule, **spec)]


# requiredFields


@pytest.mark.parametrize(
    ("field", "spec", "broken"),
    [
        ("owner", {"owner": "   "}, True),
        ("owner", {}, False),
        ("description", {"description": " \n"}, True),
        ("description", {}, False),
        ("sla", {}, False),
        ("version", {}, True),
        ("version", {"version": "1.0.0"}, False),
        ("tags", {}, True),
        ("tags", {"tags": ["gold"]}, False),
    ],
)
def test_required_fields(field: str, spec: dict[str, Any], broken: bool) -> None:
    found = violations({"requiredFields": [field]}, **spec)
    assert found == ([(f"spec.{field}", f"{field} is required and must not be empty")] if broken else [])


def test_every_missing_required_field_is_listed() -> None:
    assert paths({"requiredFields": ["version", "tags"]}) == ["spec.version", "spec.tags"]


# piiRequiresClassification


def test_pii_column_needs_a_classification() -> None:
    schema = [
        {"name": "id", "type": "string"},
        {"name": "email", "type": "string", "pii": True},
        {"name": "name", "type": "string", "pii": True, "classification": "PERSONAL.NAME"},
        {"name": "phone", "type": "string", "pii": True},
    ]
    assert violations({"piiRequiresClassification": True}, schema=schema) == [
        ("spec.schema[1].classification", "PII column 'email' must carry a classification"),
        ("spec.schema[3].classification", "PII column 'phone' must carry a classification"),
    ]


def test_pii_rule_off_or_false() -> None:
    schema = [{"name": "email", "type": "string", "pii": True}]
    assert violations({"piiRequiresClassification": False}, schema=schema) == []
    assert violations({}, schema=schema) == []


# allowedClassifications


def test_allowed_classifications() -> None:
    rule = {"allowedClassifications": ["public", "internal"]}
    assert violations(rule, classification="internal") == []
    assert violations(rule, classification="restricted") == [
        ("spec.classification", "classification 'restricted' is not allowed (allowed: public, internal)")
    ]


def test_empty_allowed_classifications_allow_nothing() -> None:
    assert paths({"allowedClassifications": []}) == ["spec.classification"]


# retention


@pytest.mark.parametrize(
    ("bounds", "retention", "message"),
    [
        ({"min": "30 days"}, None, "retention is required (at least '30 days')"),
        (
            {"min": "30 days", "max": "10 years"},
            None,
            "retention is required (at least '30 days' and at most '10 years')",
        ),
        ({}, None, "retention is required"),
        ({}, "1 day", None),
        ({"min": "30 days"}, "1 day", "retention '1 day' is shorter than the minimum '30 days'"),
        ({"min": "30 days"}, "30d", None),
        ({"max": "7 years"}, "8y", "retention '8y' is longer than the maximum '7 years'"),
        ({"max": "7 years"}, "7 years", None),
        ({"min": "1 month", "max": "1 year"}, "90 days", None),
    ],
)
def test_retention_bounds(bounds: dict[str, str], retention: str | None, message: str | None) -> None:
    governance = {"retention": retention} if retention else {}
    found = violations({"retention": bounds}, governance=governance)
    assert found == ([("spec.governance.retention", message)] if message else [])


# minQualityScore


@pytest.mark.parametrize(
    ("floors", "classification", "score", "broken"),
    [
        ({"confidential": 0.99}, "confidential", 0.95, True),
        ({"confidential": 0.99}, "confidential", 0.99, False),
        ({"confidential": 0.99}, "internal", 0.5, False),
        ({"confidential": 0.99, "*": 0.9}, "internal", 0.85, True),
        ({"confidential": 0.99, "*": 0.9}, "internal", 0.9, False),
        ({"internal": 0.8, "*": 0.99}, "internal", 0.85, False),
    ],
)
def test_min_quality_score(floors: dict[str, float], classification: str, score: float, broken: bool) -> None:
    sla = {"freshness": "1h", "qualityScore": score}
    found = violations({"minQualityScore": floors}, classification=classification, sla=sla)
    assert [path for path, _ in found] == (["spec.sla.qualityScore"] if broken else [])
    if broken:
        assert f"qualityScore {score:g} is below the minimum" in found[0][1]
        assert f"for {classification} products" in found[0][1]


def test_default_quality_score_is_checked() -> None:
    assert paths({"minQualityScore": {"internal": 0.99}}) == ["spec.sla.qualityScore"]  # the default is 0.95


# namePattern


@pytest.mark.parametrize(
    ("pattern", "name", "broken"),
    [
        ("[a-z]+(-[a-z]+)*", "customer-orders", False),
        ("[a-z]+(-[a-z]+)*", "orders2", True),
        ("sales-.*", "sales-orders", False),
        ("sales-.*", "orders-sales-x", True),  # the whole name must match, not a part of it
        ("^orders$", "orders", False),
    ],
)
def test_name_pattern(pattern: str, name: str, broken: bool) -> None:
    found = violations({"namePattern": pattern}, name=name)
    expected = [("metadata.name", f"name {name!r} does not match the pattern {pattern!r}")]
    assert found == (expected if broken else [])


def test_invalid_name_pattern_fails_closed() -> None:
    (found,) = violations({"namePattern": "([a-z"})
    assert found[0] == "metadata.name"
    assert "namePattern '([a-z' is not supported by the linear-time regex engine (RE2)" in found[1]


# requireUniqueKey


def _checks(*checks: dict[str, Any]) -> dict[str, Any]:
    return {"qualityChecks": list(checks)}


@pytest.mark.parametrize(
    ("checks", "ok"),
    [
        ([], False),
        ([{"type": "uniqueness", "columns": ["order_id", "line"]}], True),
        ([{"type": "uniqueness", "columns": ["line", "order_id"], "threshold": 1.0}], True),
        ([{"type": "uniqueness", "column": "order_id"}], True),  # a unique subset keeps the key unique
        ([{"type": "uniqueness", "columns": ["order_id", "line", "email"]}], False),
        ([{"type": "uniqueness", "column": "email"}], False),
        ([{"type": "uniqueness", "columns": ["order_id", "line"], "threshold": 0.99}], False),
        ([{"type": "uniqueness", "columns": ["order_id", "line"], "severity": "warn"}], False),
        ([{"type": "notNull", "column": "order_id"}], False),
        ([{"type": "notNull", "column": "order_id"}, {"type": "uniqueness", "columns": ["order_id", "line"]}], True),
    ],
)
def test_require_unique_key(checks: list[dict[str, Any]], ok: bool) -> None:
    found = violations({"requireUniqueKey": True}, schema=KEYED_SCHEMA, governance=_checks(*checks))
    expected = [
        (
            "spec.governance.qualityChecks",
            "add a uniqueness check over the primary key (order_id, line) with threshold 1.0 and severity error",
        )
    ]
    assert found == ([] if ok else expected)


def test_require_unique_key_needs_a_key() -> None:
    assert violations({"requireUniqueKey": True}, governance=_checks({"type": "uniqueness", "column": "order_id"})) == [
        ("spec.schema", "declare the product's key: mark its column(s) primaryKey")
    ]


# Reporting


def test_a_compliant_product_has_no_violations() -> None:
    everything = {
        "requiredFields": ["owner", "description", "sla", "version", "tags"],
        "piiRequiresClassification": True,
        "allowedClassifications": ["internal"],
        "retention": {"min": "1 day", "max": "10 years"},
        "minQualityScore": {"*": 0.9},
        "namePattern": "[a-z-]+",
        "requireUniqueKey": True,
    }
    spec = {
        "version": "1.0.0",
        "tags": ["gold"],
        "schema": KEYED_SCHEMA,
        "governance": {
            "retention": "1 year",
            "qualityChecks": [{"type": "uniqueness", "columns": ["order_id", "line"]}],
        },
    }
    assert violations(everything, **spec) == []


def test_violation_format_and_enforcement() -> None:
    audit = policy("strict", enforcement="Audit", product_rules=[{"name": "tags", "requiredFields": ["tags"]}])
    deny = policy("base", product_rules=[{"name": "ver", "requiredFields": ["version"]}])
    found = check_product([audit, deny], product())
    assert found == [
        Violation("base", "ver", "spec.version", "version is required and must not be empty", "Deny"),
        Violation("strict", "tags", "spec.tags", "tags is required and must not be empty", "Audit"),
    ]
    assert [v.denies for v in found] == [True, False]
    assert str(found[0]) == "spec.version: [base/ver] version is required and must not be empty"


def test_violations_come_in_policy_name_then_rule_order() -> None:
    rules = [{"name": "b", "requiredFields": ["tags"]}, {"name": "a", "requiredFields": ["version"]}]
    found = check_product([policy("z", product_rules=rules), policy("y", product_rules=rules)], product())
    assert [(v.policy, v.rule) for v in found] == [("y", "b"), ("y", "a"), ("z", "b"), ("z", "a")]


def test_policies_without_product_rules_find_nothing() -> None:
    assert check_product([policy()], product(schema=[{"name": "email", "type": "string", "pii": True}])) == []
