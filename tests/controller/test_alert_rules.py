"""When the operator applies a product's PrometheusRule: only while the CRD is served, only when the rendered
rule changed, and never in a loop when the CRD is missing or the operator may not write rules. (The rule on a
real API server: tests/operator/test_alert_rules.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.api import DataProduct
from datamesh.controller.alert_rules import RECHECK_SECONDS, AlertRules
from datamesh.controller.kube import ApiError
from tests.conftest import REPO


class FakeKube:
    """Records discovery questions and applies; answers as told."""

    def __init__(self, served: bool) -> None:
        self.served = served
        self.questions = 0
        self.applied: list[dict[str, Any]] = []
        self.fail_with: int | None = None

    async def serves(self, api_version: str, plural: str) -> bool:
        assert (api_version, plural) == ("monitoring.coreos.com/v1", "prometheusrules")
        self.questions += 1
        return self.served

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.fail_with is not None:
            raise ApiError(self.fail_with, '{"message": "no"}')
        self.applied.append(body)
        return body


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def product() -> DataProduct:
    body = yaml.safe_load(Path(REPO / "examples" / "products" / "customer-360.yaml").read_text())
    body["metadata"]["uid"] = "u-1"
    return DataProduct.model_validate(body)


def rules_for(kube: FakeKube, clock: Clock) -> AlertRules:
    return AlertRules(kube, extra_labels={"release": "monitoring"}, clock=clock)  # type: ignore[arg-type]


def test_without_the_crd_nothing_is_applied_and_discovery_is_asked_rarely(product: DataProduct) -> None:
    kube, clock = FakeKube(served=False), Clock()
    alerts = rules_for(kube, clock)
    for _ in range(50):
        asyncio.run(alerts.ensure(product))
    assert (kube.questions, kube.applied) == (1, [])
    clock.now += RECHECK_SECONDS
    kube.served = True
    asyncio.run(alerts.ensure(product))
    assert kube.questions == 2 and len(kube.applied) == 1
    assert kube.applied[0]["metadata"]["labels"]["release"] == "monitoring"


def test_an_unchanged_rule_is_applied_once_and_a_changed_one_again(product: DataProduct) -> None:
    kube, clock = FakeKube(served=True), Clock()
    alerts = rules_for(kube, clock)
    for _ in range(3):
        asyncio.run(alerts.ensure(product))
    changed = product.model_copy(deep=True)
    changed.spec.sla.quality_score = 0.5
    asyncio.run(alerts.ensure(changed))
    assert len(kube.applied) == 2 and kube.questions == 1
    # Deleted and created again under the same name: a new uid, a new owner, applied again.
    alerts.forget(("sales", "customer-360"))
    asyncio.run(alerts.ensure(changed))
    assert len(kube.applied) == 3


def test_a_crd_event_asks_discovery_again_and_reapplies(product: DataProduct) -> None:
    kube, clock = FakeKube(served=True), Clock()
    alerts = rules_for(kube, clock)
    asyncio.run(alerts.ensure(product))
    alerts.crd_changed()
    asyncio.run(alerts.ensure(product))
    assert (kube.questions, len(kube.applied)) == (2, 2)


def test_a_refusal_is_not_retried_at_every_reconcile(product: DataProduct) -> None:
    kube, clock = FakeKube(served=True), Clock()
    kube.fail_with = 403
    alerts = rules_for(kube, clock)
    asyncio.run(alerts.ensure(product))
    kube.fail_with = None
    asyncio.run(alerts.ensure(product))
    assert kube.applied == []
    clock.now += RECHECK_SECONDS
    asyncio.run(alerts.ensure(product))
    assert len(kube.applied) == 1


def test_a_vanished_crd_is_asked_for_again_and_other_errors_fail_the_reconcile(product: DataProduct) -> None:
    kube, clock = FakeKube(served=True), Clock()
    alerts = rules_for(kube, clock)
    kube.fail_with = 404
    asyncio.run(alerts.ensure(product))
    kube.served, kube.fail_with = False, None
    asyncio.run(alerts.ensure(product))
    assert (kube.questions, kube.applied) == (2, [])
    kube.served, kube.fail_with = True, 500
    clock.now += RECHECK_SECONDS
    with pytest.raises(ApiError):
        asyncio.run(alerts.ensure(product))


def test_a_refusal_in_one_namespace_does_not_hold_up_another(product: DataProduct) -> None:
    kube, clock = FakeKube(served=True), Clock()
    alerts = rules_for(kube, clock)
    kube.fail_with = 403
    asyncio.run(alerts.ensure(product))
    kube.fail_with = None
    elsewhere = product.model_copy(update={"metadata": {**product.metadata, "namespace": "marketing"}})
    asyncio.run(alerts.ensure(elsewhere))
    assert [a["metadata"]["namespace"] for a in kube.applied] == ["marketing"]


def test_a_product_that_is_not_validated_gets_no_rule(product: DataProduct) -> None:
    kube, clock = FakeKube(served=True), Clock()
    asyncio.run(rules_for(kube, clock).ensure(product, validated=False))
    assert (kube.questions, kube.applied) == (0, [])
