"""When the operator applies a product's PrometheusRule: only while the CRD is served, only when the rendered
rule changed, and never in a loop when the CRD is missing or the operator may not write rules. (The rule on a
real API server: tests/operator/test_alert_rules.py.)"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.api import DataProduct
from datamesh.controller import alert_rules
from datamesh.controller.alert_rules import RECHECK_SECONDS, AlertRules, crd_news, fingerprint
from datamesh.controller.kube import ApiError
from tests.conftest import REPO


class FakeKube:
    """Records discovery questions, applies and LISTs; holds the applied rules as an API server would (with the
    fields it adds) and serves them in pages; answers as told."""

    def __init__(self, served: bool) -> None:
        self.served = served
        self.questions = 0
        self.applied: list[dict[str, Any]] = []
        self.fail_with: int | None = None
        self.list_fails_with: int | None = None
        self.lists = 0
        self.held: dict[tuple[str, str], dict[str, Any]] = {}

    async def serves(self, api_version: str, plural: str) -> bool:
        assert (api_version, plural) == ("monitoring.coreos.com/v1", "prometheusrules")
        self.questions += 1
        await asyncio.sleep(0)  # an answer takes a round trip: other workers run meanwhile
        return self.served

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.fail_with is not None:
            raise ApiError(self.fail_with, '{"message": "no"}')
        self.applied.append(body)
        meta = body["metadata"]
        stored = copy.deepcopy(body)
        stored["metadata"].update(uid=f"rule-{len(self.applied)}", resourceVersion=str(len(self.applied)),
                                  generation=1, creationTimestamp="2026-01-01T00:00:00Z",
                                  managedFields=[{"manager": "datamesh-operator", "operation": "Apply"}])  # fmt: skip
        self.held[(meta["namespace"], meta["name"])] = stored
        return stored

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None) -> dict[str, Any]:
        assert method == "GET" and path.endswith("/prometheusrules"), (method, path)
        assert params is not None and params["labelSelector"] == "app.kubernetes.io/managed-by=datamesh-operator"
        self.lists += 1
        if self.list_fails_with is not None:
            raise ApiError(self.list_fails_with, '{"message": "no"}')
        namespace = path.split("/namespaces/")[1].split("/")[0]
        items = [body for (ns, _), body in sorted(self.held.items()) if ns == namespace]
        start, size = int(params.get("continue") or 0), int(params["limit"])
        rest = str(start + size) if start + size < len(items) else ""
        return {"items": items[start : start + size], "metadata": {"continue": rest}}


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


def crd(uid: str = "c-1", generation: int = 1, established: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": "prometheusrules.monitoring.coreos.com", "uid": uid, "generation": generation},
            "status": {"conditions": [{"type": "Established", "status": str(established)}]}}  # fmt: skip


def test_a_crd_created_anew_asks_discovery_again_and_reapplies(product: DataProduct) -> None:
    kube, clock = FakeKube(served=True), Clock()
    alerts = rules_for(kube, clock)
    assert not alerts.crd_event(None, crd())  # listed at the start, and discovery not asked yet: no news
    asyncio.run(alerts.ensure(product))
    assert alerts.crd_event("DELETED", crd())
    kube.held.clear()  # the rules went with the CRD
    assert alerts.crd_event("ADDED", crd(uid="c-2"))
    asyncio.run(alerts.ensure(product))
    assert (kube.questions, len(kube.applied)) == (2, 2)


def test_the_same_crd_delivered_again_is_no_news(product: DataProduct) -> None:
    """kopf delivers the CRD again at each re-list (an API server restart): re-queueing 10,000 products and
    re-applying their rules for it was the cost of every API server restart."""
    kube, clock = FakeKube(served=True), Clock()
    alerts = rules_for(kube, clock)
    asyncio.run(alerts.ensure(product))
    assert not alerts.crd_event(None, crd())
    for _ in range(3):
        assert not alerts.crd_event(None, crd())
        assert not alerts.crd_event("MODIFIED", crd())
    asyncio.run(alerts.ensure(product))
    assert (kube.questions, len(kube.applied)) == (1, 1)


@pytest.mark.parametrize(
    ("known", "seen", "first", "served", "news"),
    [
        (None, ("c", 1, True), True, None, False),  # the first sight, before discovery was asked
        (None, ("c", 1, True), True, True, False),  # ... after discovery said "served"
        (None, ("c", 1, True), True, False, True),  # ... after it said "not served": installed since
        (("c", 1, True), ("c", 1, True), False, True, False),  # a re-list, a status update
        (("c", 1, False), ("c", 1, True), False, False, True),  # now Established: discovery serves it
        (("c", 1, True), ("c", 2, True), False, True, True),  # its spec changed (served versions)
        (("c", 1, True), ("d", 1, True), False, True, True),  # deleted and created again
        (("c", 1, True), None, False, True, True),  # deleted
    ],
)
def test_which_crd_events_are_news(
    known: alert_rules.CrdIdentity | None, seen: alert_rules.CrdIdentity | None, first: bool, served: bool | None,
    news: bool,
) -> None:  # fmt: skip
    assert crd_news(known, seen, first=first, served=served) is news


def products(product: DataProduct, count: int) -> list[DataProduct]:
    return [
        product.model_copy(update={"metadata": {**product.metadata, "name": f"p{i}", "uid": f"u-{i}"}}, deep=True)
        for i in range(count)
    ]


def test_a_restarted_operator_applies_no_unchanged_rule(product: DataProduct, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules are read from the API server once per namespace (in pages) instead of applied again: a
    restart under 10,000 products applied 10,000 rules."""
    monkeypatch.setattr(alert_rules, "LIST_PAGE", 2)
    kube, clock = FakeKube(served=True), Clock()
    many = products(product, 5)
    before = rules_for(kube, clock)
    for item in many:
        asyncio.run(before.ensure(item))
    assert (len(kube.applied), kube.lists) == (5, 1)
    restarted = rules_for(kube, clock)
    for item in many:
        asyncio.run(restarted.ensure(item))
    assert (len(kube.applied), kube.lists) == (5, 4), "no apply; one LIST of three pages"
    # What did change is applied: a product's SLA, a rule someone deleted.
    many[0].spec.sla.quality_score = 0.5
    del kube.held[("sales", "p1-alerts")]
    again = rules_for(kube, clock)
    for item in many:
        asyncio.run(again.ensure(item))
    assert sorted(a["metadata"]["name"] for a in kube.applied[5:]) == ["p0-alerts", "p1-alerts"]


def test_the_rule_as_served_has_the_fingerprint_of_the_rule_as_rendered(product: DataProduct) -> None:
    kube, clock = FakeKube(served=True), Clock()
    asyncio.run(rules_for(kube, clock).ensure(product))
    served = kube.held[("sales", "customer-360-alerts")]
    assert "managedFields" in served["metadata"]
    assert fingerprint(served) == fingerprint(kube.applied[0])
    edited = copy.deepcopy(served)
    edited["spec"]["groups"][0]["rules"].pop()
    assert fingerprint(edited) != fingerprint(kube.applied[0]), "an edited rule is applied again"


def test_without_the_right_to_list_each_rule_is_applied_once(product: DataProduct) -> None:
    kube, clock = FakeKube(served=True), Clock()
    kube.list_fails_with = 403
    alerts = rules_for(kube, clock)
    for _ in range(3):
        for item in products(product, 3):
            asyncio.run(alerts.ensure(item))
    assert (len(kube.applied), kube.lists) == (3, 1)


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


def test_workers_starting_together_ask_discovery_once(product: DataProduct) -> None:
    kube, clock = FakeKube(served=True), Clock()
    alerts = rules_for(kube, clock)

    async def start() -> None:
        await asyncio.gather(*(alerts.ensure(item) for item in products(product, 8)))

    asyncio.run(start())
    assert (kube.questions, len(kube.applied)) == (1, 8)
