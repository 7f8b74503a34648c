"""Policy scope: domain names or globs, and matchLabels; both must hold; empty selects everything."""

from __future__ import annotations

import pytest

from datamesh.api.governancepolicy import PolicyScope
from datamesh.governance import applies_to_domain, applies_to_product, check_product
from tests.governance.factories import domain, policy, product

GOLD_SALES = product("orders", "sales", labels={"tier": "gold", "team": "crm"})
PLAIN_MARKETING = product("visits", "marketing")


@pytest.mark.parametrize(
    ("scope", "gold_sales", "plain_marketing"),
    [
        ({}, True, True),
        ({"domains": ["sales"]}, True, False),
        ({"domains": ["sales", "marketing"]}, True, True),
        ({"domains": ["mark*"]}, False, True),
        ({"domains": ["*"]}, True, True),
        ({"domains": []}, False, False),
        ({"matchLabels": {"tier": "gold"}}, True, False),
        ({"matchLabels": {"tier": "gold", "team": "crm"}}, True, False),
        ({"matchLabels": {"tier": "silver"}}, False, False),
        ({"domains": ["sales"], "matchLabels": {"tier": "gold"}}, True, False),
        ({"domains": ["marketing"], "matchLabels": {"tier": "gold"}}, False, False),
    ],
)
def test_scope_selects_products(scope: dict[str, object], gold_sales: bool, plain_marketing: bool) -> None:
    parsed = PolicyScope.model_validate(scope)
    assert applies_to_product(parsed, GOLD_SALES) is gold_sales
    assert applies_to_product(parsed, PLAIN_MARKETING) is plain_marketing


@pytest.mark.parametrize(
    ("scope", "applies"),
    [
        ({}, True),
        ({"domains": ["sal*"]}, True),
        ({"domains": ["hr"]}, False),
        ({"matchLabels": {"tier": "gold"}}, False),
    ],
)
def test_scope_selects_domains(scope: dict[str, object], applies: bool) -> None:
    assert applies_to_domain(PolicyScope.model_validate(scope), domain("sales")) is applies


def test_product_rules_only_apply_in_scope() -> None:
    strict = policy(
        "strict", scope={"domains": ["marketing"]}, product_rules=[{"name": "tags", "requiredFields": ["tags"]}]
    )
    assert check_product([strict], GOLD_SALES) == []
    assert [v.rule for v in check_product([strict], PLAIN_MARKETING)] == ["tags"]
