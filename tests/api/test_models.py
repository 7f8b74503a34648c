"""The models accept the examples and refuse bad contracts with the field named."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.api import DataProduct, Domain
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
