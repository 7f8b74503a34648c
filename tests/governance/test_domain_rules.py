"""check_domain: required owner/description and classified PII source columns."""

from __future__ import annotations

from datamesh.governance import check_domain
from tests.governance.factories import domain, policy

SOURCES = [
    {
        "name": "bronze.crm.customers",
        "location": "/lake/crm",
        "columns": [
            {"name": "email", "pii": True, "classification": "PERSONAL.EMAIL"},
            {"name": "phone", "pii": True},
            {"name": "segment"},
        ],
    }
]
PII_RULE = {"name": "pii-needs-classification", "piiRequiresClassification": True}


def test_unclassified_pii_source_column() -> None:
    (found,) = check_domain([policy("baseline", product_rules=[PII_RULE])], domain(sources=SOURCES))
    assert str(found) == (
        "spec.sources[0].columns[1].classification: [baseline/pii-needs-classification]"
        " PII column 'phone' of source 'bronze.crm.customers' must carry a classification"
    )


def test_required_owner_and_description() -> None:
    rule = {"name": "meta", "requiredFields": ["owner", "description", "version"]}
    assert check_domain([policy(product_rules=[rule])], domain(owner="  ")) != []
    assert [v.path for v in check_domain([policy(product_rules=[rule])], domain(owner=" ", description=" "))] == [
        "spec.owner",
        "spec.description",
    ]
    assert check_domain([policy(product_rules=[rule])], domain()) == []


def test_scope_applies_to_domains() -> None:
    elsewhere = policy(scope={"domains": ["hr"]}, product_rules=[PII_RULE])
    labelled = policy(scope={"matchLabels": {"tier": "gold"}}, product_rules=[PII_RULE])
    assert check_domain([elsewhere, labelled], domain(sources=SOURCES)) == []


def test_product_only_rules_do_not_apply_to_domains() -> None:
    rule = {"name": "r", "allowedClassifications": ["public"], "retention": {"min": "1d"}, "requireUniqueKey": True}
    assert check_domain([policy(product_rules=[rule])], domain(sources=SOURCES)) == []
