"""The models accept the examples and refuse bad contracts with the field named."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.api import DataProduct, Domain
from datamesh.api.common import QuantityError, parse_quantity
from datamesh.api.dataproduct import schedule_problem
from datamesh.manifests import load_mesh, validate_body

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def product() -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / "products" / "customer-360.yaml").read_text())
    return body


def test_examples_parse() -> None:
    mesh = load_mesh([EXAMPLES])
    assert set(mesh.domains) == {"sales", "marketing", "customer-success"}
    c360 = mesh.find_product("customer-360")
    assert c360.namespace == "sales"
    assert c360.spec.primary_key == ["customer_id"]
    assert [i.alias for i in c360.spec.inputs] == ["customers", "sessions", "tickets"]


def test_wire_format_is_camel_case_and_round_trips() -> None:
    parsed = DataProduct.model_validate(product())
    wire = parsed.to_wire()
    assert wire["spec"]["sla"]["qualityScore"] == 0.95
    assert "quality_score" not in wire["spec"]["sla"]
    assert DataProduct.model_validate(wire) == parsed


def _problems(mutate: Any) -> list[str]:
    body = copy.deepcopy(product())
    mutate(body)
    return [str(p) for p in validate_body(body)]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: b["spec"]["sla"].update(freshness="1 fortnight"), "spec.sla.freshness"),
        (lambda b: b["spec"].pop("owner"), "spec.owner: Field required"),
        (lambda b: b["spec"].update(classification="secret"), "spec.classification"),
        (lambda b: b["spec"]["sla"].update(qualityScore="high"), "spec.sla.qualityScore"),
        (lambda b: b["spec"].update(colour="blue"), "spec.colour: Extra inputs are not permitted"),
        (lambda b: b["spec"]["schema"][0].update(type="varchar"), "spec.schema[0].type"),
        (lambda b: b["spec"]["inputs"][0].update(product="other"), "set exactly one of source or product"),
        (lambda b: b["spec"]["transform"].update(python="mod:fn"), "set exactly one of sql or python"),
        (lambda b: b["spec"]["schema"].append({"name": "email", "type": "string"}), "duplicate column name 'email'"),
        (lambda b: b["spec"].update(schedule="every hour"), "spec.schedule"),
        (lambda b: b["spec"].update(schedule="61 * * * *"), "invalid cron expression"),
        (lambda b: b["spec"]["governance"]["qualityChecks"].append({"type": "uniqueness"}), "needs column or columns"),
        (
            lambda b: b["spec"]["governance"]["qualityChecks"].append({"type": "notNull", "column": "nope"}),
            "names unknown column 'nope'",
        ),
        (lambda b: b["spec"]["governance"]["qualityChecks"][0].update(threshold=0), "threshold"),
        (lambda b: b["spec"]["governance"]["qualityChecks"][0].update(threshold=-0.5), "threshold"),
        (lambda b: b["spec"]["outputs"][1].update(mode="merge"), "mode applies to delta outputs only"),
    ],
)
def test_bad_contracts_name_the_problem(mutate: Any, expected: str) -> None:
    problems = _problems(mutate)
    assert problems, "the contract should have been refused"
    assert any(expected in p for p in problems), problems


def test_merge_output_needs_a_primary_key() -> None:
    def mutate(body: dict[str, Any]) -> None:
        body["spec"]["outputs"][0]["mode"] = "merge"
        for column in body["spec"]["schema"]:
            column.pop("primaryKey", None)

    assert any("needs a primaryKey column" in p for p in _problems(mutate))


def test_domain_namespace_defaults_to_its_name() -> None:
    body = yaml.safe_load((EXAMPLES / "domains" / "sales.yaml").read_text())
    domain = Domain.model_validate(body)
    assert domain.namespace_name == "sales"
    assert domain.source("bronze.crm.customers") is not None
    body["spec"]["namespace"] = "sales-team"
    assert Domain.model_validate(body).namespace_name == "sales-team"


# Bounds: values that pass the CRD's patterns but would overflow, never fire or ask for absurd resources are
# refused by the model (the webhook and the operator run it) with the field named.


def _set(path: str, value: Any) -> Any:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return mutate


def _check(**fields: Any) -> Any:
    return lambda b: b["spec"]["governance"]["qualityChecks"].append({"type": "freshness", "column": "email", **fields})


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            _set("spec.sla.freshness", "9000 years"),
            "spec.sla.freshness: 9000 years is longer than the maximum of 5 years",
        ),
        (_set("spec.sla.freshness", "99999999999 days"), "spec.sla.freshness: 99999999999 days is longer than"),
        (
            _set("spec.sla.freshness", "1826 days"),
            "spec.sla.freshness: 1826 days is longer than the maximum of 5 years",
        ),
        (_set("spec.sla.freshness", "1ſ"), "spec.sla.freshness: invalid duration"),
        (
            _set("spec.compute.timeout", "400 days"),
            "spec.compute.timeout: 400 days is longer than the maximum of 7 days",
        ),
        (_set("spec.compute.timeout", "7d1s"), "spec.compute.timeout: 7d1s is longer than the maximum of 7 days"),
        (_set("spec.compute.timeout", "500ms"), "spec.compute.timeout: 500ms is shorter than the minimum of 1 second"),
        (_set("spec.governance.retention", "100000 years"), "spec.governance.retention: 100000 years is longer than"),
        (_set("spec.governance.retention", "36501 days"), "maximum of 100 years"),
        (_check(maxAge="9999999 years"), "maxAge: 9999999 years is longer than the maximum of 100 years"),
    ],
)
def test_durations_are_bounded_per_field(mutate: Any, expected: str) -> None:
    problems = _problems(mutate)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    "mutate",
    [
        _set("spec.sla.freshness", "5 years"),
        _set("spec.sla.freshness", "1825 days"),
        _set("spec.compute.timeout", "7 days"),
        _set("spec.compute.timeout", "1s"),
        _set("spec.governance.retention", "100 years"),
        _check(maxAge="100 years"),
    ],
)
def test_durations_at_their_bounds_are_accepted(mutate: Any) -> None:
    assert _problems(mutate) == []


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 0 30 2 *", "does not fire"),  # February 30th never comes
        ("0 0 31 2 *", "does not fire"),
        ("0 0 31 11 *", "does not fire"),  # November has 30 days
        ("0 0 31 4,6,9,11 *", "does not fire"),
        ("0 0 29 2 *", "does not fire"),  # every four years: a typo, not a schedule
        ("R R * * *", "random (R) and hashed (H) values are not supported"),  # a new time on every reading
        ("H 0 * * *", "random (R) and hashed (H) values are not supported"),
        ("61 * * * *", "invalid cron expression"),
    ],
)
def test_schedules_that_never_or_rarely_fire_are_refused(schedule: str, expected: str) -> None:
    problems = _problems(_set("spec.schedule", schedule))
    assert any(p.startswith("spec.schedule: ") and expected in p for p in problems), problems


@pytest.mark.parametrize(
    "schedule",
    ["0 0 29 2 1", "0 0 L 2 *", "0 0 31 * *", "@yearly", "59 23 31 12 *", "0 0 1 1 *", "*/5 * * * *", "0 3 * * MON"],
)
def test_schedules_that_fire_at_least_yearly_are_accepted(schedule: str) -> None:
    # `0 0 29 2 1` fires on Feb 29 OR every Monday (cron's day-of-month/day-of-week rule).
    assert _problems(_set("spec.schedule", schedule)) == []


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        ("0 0 29 2 *", datetime(2027, 1, 1, tzinfo=UTC), "does not fire within 366 days of 2027-01-01"),
        # Due in 365 days from now, but not from the start of 2029: refused all the same.
        ("0 0 29 2 *", datetime(2027, 3, 1, tzinfo=UTC), "does not fire within a year"),
        ("0 0 29 2 *", datetime(2026, 5, 1, tzinfo=UTC), "does not fire within a year"),
        ("0 0 30 2 *", datetime(2028, 1, 1, tzinfo=UTC), "does not fire within a year"),
        ("0 0 1 1 *", datetime(2027, 3, 1, tzinfo=UTC), None),
        ("0 0 L 2 *", datetime(2027, 3, 1, tzinfo=UTC), None),
    ],
)
def test_a_schedule_must_fire_from_now_and_from_each_of_the_next_four_new_years(
    schedule: str, now: datetime, expected: str | None
) -> None:
    problem = schedule_problem(schedule, now)
    assert problem == expected if expected is None else (problem is not None and expected in problem)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            _set("spec.compute.driver", {"cpu": "99999999999"}),
            "spec.compute.driver.cpu: 99999999999 is more than the maximum of 64 cores",
        ),
        (
            _set("spec.compute.driver", {"cpu": "65"}),
            "spec.compute.driver.cpu: 65 is more than the maximum of 64 cores",
        ),
        (_set("spec.compute.executor", {"cpu": "64001m"}), "spec.compute.executor.cpu: 64001m is more than"),
        (_set("spec.compute.driver", {"cpu": "0"}), "spec.compute.driver.cpu: 0 is less than the minimum of 1m cores"),
        (
            _set("spec.compute.driver", {"memory": "999999Ti"}),
            "spec.compute.driver.memory: 999999Ti is more than the maximum of 1Ti",
        ),
        (
            _set("spec.compute.driver", {"memory": "1025Gi"}),
            "spec.compute.driver.memory: 1025Gi is more than the maximum of 1Ti",
        ),
        (_set("spec.compute.executor", {"memory": "2E"}), "spec.compute.executor.memory: 2E is more than"),
        (
            _set("spec.compute.driver", {"memory": "500m"}),
            "spec.compute.driver.memory: 500m is less than the minimum of 1Mi",
        ),
    ],
)
def test_product_quantities_are_bounded(mutate: Any, expected: str) -> None:
    problems = _problems(mutate)
    assert any(expected in p for p in problems), problems


def test_product_quantities_at_their_bounds_are_accepted() -> None:
    resources = {"driver": {"cpu": "64", "memory": "1Ti"}, "executor": {"cpu": "1m", "memory": "1Mi"}}
    assert _problems(_set("spec.compute", resources)) == []
    assert _problems(_set("spec.compute", {"driver": {"cpu": "64000m", "memory": "1099511627776"}})) == []


def _domain_problems(**quota: Any) -> list[str]:
    body = yaml.safe_load((EXAMPLES / "domains" / "sales.yaml").read_text())
    body["spec"]["compute"]["quota"] = quota
    return [str(p) for p in validate_body(body)]


def test_domain_quantities_are_bounded() -> None:
    assert any("spec.compute.quota.cpu: 99999999999 is more than" in p for p in _domain_problems(cpu="99999999999"))
    assert any(
        "spec.compute.quota.memory: 2Pi is more than the maximum of 1Pi" in p for p in _domain_problems(memory="2Pi")
    )
    assert _domain_problems(cpu="100000", memory="1Pi") == []
    body = yaml.safe_load((EXAMPLES / "domains" / "sales.yaml").read_text())
    body["spec"]["compute"]["driver"] = {"cpu": "128", "memory": "2Gi"}
    assert any("spec.compute.driver.cpu: 128 is more than" in str(p) for p in validate_body(body))


@pytest.mark.parametrize("value", ["1.5.5", "1e3", "-1", "1Ki5", "١", "1mi"])
def test_quantities_outside_the_kubernetes_subset_do_not_parse(value: str) -> None:
    with pytest.raises(QuantityError, match="invalid quantity"):
        parse_quantity(value)


def test_quantities_parse_exactly() -> None:
    assert parse_quantity("500m") == Decimal("0.5")
    assert parse_quantity("2Gi") == 2 * 1024**3
    assert parse_quantity("1" * 31) == Decimal("1" * 31)
