"""A product's PrometheusRule, rendered from its spec: thresholds, routing labels, ownership, and tenant
strings that stay strings in PromQL and in Prometheus' templates (promtool checks the same in test_promtool)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from datamesh.api import DataProduct
from datamesh.controller.metrics_registry import REGISTRY
from datamesh.monitoring import rules


def by_alert(rule: dict[str, Any]) -> dict[str, dict[str, Any]]:
    groups = rule["spec"]["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"]}


def test_the_rule_is_owned_by_the_product_and_named_after_it(customer_360: DataProduct) -> None:
    rule = rules.prometheus_rule(customer_360, {"release": "monitoring"})
    meta = rule["metadata"]
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert (meta["name"], meta["namespace"]) == ("customer-360-alerts", "sales")
    assert meta["ownerReferences"] == [{
        "apiVersion": "datamesh.dev/v1alpha1", "kind": "DataProduct", "name": "customer-360",
        "uid": "0b6f3c1e-0000-4000-8000-000000000360", "controller": True, "blockOwnerDeletion": False,
    }]  # fmt: skip
    assert meta["labels"]["release"] == "monitoring"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "datamesh-operator"


def test_every_alert_carries_the_routing_labels(customer_360: DataProduct) -> None:
    alerts = by_alert(rules.prometheus_rule(customer_360))
    assert set(alerts) == set(rules.ALERTS)
    for alert in alerts.values():
        labels = alert["labels"]
        assert isinstance(labels, dict)
        assert {k: labels[k] for k in ("domain", "owner", "product", "namespace")} == {
            "domain": "sales", "owner": "sales-data-team@company.com", "product": "customer-360", "namespace": "sales",
        }  # fmt: skip
        assert labels["severity"] in ("critical", "warning")
        assert set(alert["annotations"]) == {"summary", "description", "runbook"}


def test_thresholds_come_from_the_sla(customer_360: DataProduct) -> None:
    alerts = by_alert(rules.prometheus_rule(customer_360))
    assert "> 3600 " in str(alerts[rules.STALE]["expr"])
    assert str(alerts[rules.QUALITY]["expr"]).endswith("< 0.95")
    changed = customer_360.model_copy(deep=True)
    changed.spec.sla.freshness = "2 days"
    changed.spec.sla.quality_score = 0.5
    alerts = by_alert(rules.prometheus_rule(changed))
    assert "> 172800 " in str(alerts[rules.STALE]["expr"])
    assert str(alerts[rules.QUALITY]["expr"]).endswith("< 0.5")


def test_expressions_read_only_metrics_the_operator_registers(customer_360: DataProduct) -> None:
    from datamesh.controller.metrics import MeshCollector
    from datamesh.mesh.world import World

    registered = {m.name for m in REGISTRY.collect()}
    registered |= {m.name for m in MeshCollector(World(), lambda: 0, lambda: 0).collect()}
    # prometheus_client names a counter's family without `_total`; its sample carries it.
    registered |= {f"{n}_total" for n in registered}
    used = set()
    for alert in by_alert(rules.prometheus_rule(customer_360)).values():
        used |= set(re.findall(r"\b(datamesh_[a-z_]+)\{", str(alert["expr"])))
    assert used == set(rules.METRICS)
    assert used <= registered, used - registered


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("sales", '"sales"'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ('x"} or vector(1) #', '"x\\"} or vector(1) #"'),
        ("line\nbreak", '"line\\u000abreak"'),
        ("caf\u00e9 \u2028 \U0001f600", '"caf\\u00e9 \\u2028 \\U0001f600"'),
    ],
)
def test_promql_strings_escape_everything_but_printable_ascii(text: str, literal: str) -> None:
    assert rules.promql_string(text) == literal


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        rules.promql_string("a\ud800")


def test_template_text_leaves_plain_text_alone_and_quotes_what_could_open_an_action() -> None:
    assert rules.template_text("team@example.com") == "team@example.com"
    assert rules.template_text('{{ query "up" }}') == '{{ "{{ query \\"up\\" }}" }}'
    assert rules.template_text("a{") == '{{ "a{" }}'


def test_a_hostile_owner_never_reaches_a_template_or_a_matcher_as_itself(customer_360: DataProduct) -> None:
    hostile = customer_360.model_copy(deep=True)
    hostile.spec.owner = '{{ query "up" }}"} or vector(1)'
    for alert in by_alert(rules.prometheus_rule(hostile)).values():
        assert "owner" not in str(alert["expr"])
        labels, annotations = alert["labels"], alert["annotations"]
        assert isinstance(labels, dict) and isinstance(annotations, dict)
        for text in [*labels.values(), *annotations.values()]:
            # Every `{{` opens either $value or a string constant.
            for action in re.findall(r"\{\{(.*?)\}\}(?!\")", text):
                assert action.strip() == "$value" or action.strip().startswith('"'), text
