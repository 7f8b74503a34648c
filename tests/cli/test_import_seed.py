"""`datamesh import` turns the seed's own contract into an equivalent DataProduct."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from datamesh.api import DataProduct
from datamesh.manifests import validate_body

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEED = FIXTURES / "seed_data_product.yaml"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "datamesh.cli.main", *args], capture_output=True, text=True)


def test_seed_imports_and_validates() -> None:
    result = run_cli("import", str(SEED))
    assert result.returncode == 0, result.stderr
    body = yaml.safe_load(result.stdout)
    assert validate_body(body) == []
    assert "no transform" in result.stderr


def test_import_keeps_the_meaning_of_every_seed_field() -> None:
    seed = yaml.safe_load(SEED.read_text())
    product = DataProduct.model_validate(yaml.safe_load(run_cli("import", str(SEED)).stdout))
    spec = product.spec
    assert product.name == seed["metadata"]["name"]
    assert spec.domain == seed["metadata"]["domain"]
    assert spec.owner == seed["metadata"]["owner"]
    assert spec.description == seed["spec"]["description"]
    assert spec.classification == seed["spec"]["classification"]
    assert spec.sla.freshness == seed["spec"]["sla"]["freshness"]
    assert spec.sla.availability == seed["spec"]["sla"]["availability"]
    assert spec.sla.quality_score == seed["spec"]["sla"]["quality_score"]
    assert [(c.name, c.type, c.pii, c.classification) for c in spec.schema_] == [
        (c["name"], c["type"], c.get("pii", False), c.get("classification")) for c in seed["spec"]["schema"]
    ]
    assert [(i.source, i.domain) for i in spec.inputs] == [(i["source"], i["domain"]) for i in seed["spec"]["inputs"]]
    assert [(o.name, o.format, o.location, o.endpoint) for o in spec.outputs] == [
        (o["name"], o["format"], o.get("location"), o.get("endpoint")) for o in seed["spec"]["outputs"]
    ]
    governance = seed["spec"]["governance"]
    assert spec.governance.retention == governance["retention"]
    assert spec.governance.access_policy == governance["access_policy"]
    checks = [(c.type, c.display_name, c.column, c.threshold) for c in spec.governance.quality_checks]
    assert checks == [
        ("completeness", "completeness", None, 0.99),
        ("uniqueness", "uniqueness", "customer_id", 1.0),
    ]


def test_import_round_trips_through_its_own_output() -> None:
    first = run_cli("import", str(SEED)).stdout
    product = DataProduct.model_validate(yaml.safe_load(first))
    again = yaml.safe_dump(product.model_dump(by_alias=True, exclude_unset=True, mode="json"), sort_keys=False)
    assert yaml.safe_load(again) == yaml.safe_load(first)


def test_import_adds_a_transform(tmp_path: Path) -> None:
    sql = tmp_path / "c360.sql"
    sql.write_text("SELECT * FROM `bronze.crm.customers`")
    result = run_cli("import", str(SEED), "--sql", str(sql), "--namespace", "sales")
    body = yaml.safe_load(result.stdout)
    assert body["spec"]["transform"] == {"sql": "SELECT * FROM `bronze.crm.customers`"}
    assert body["metadata"]["namespace"] == "sales"


def test_import_refuses_other_formats(tmp_path: Path) -> None:
    other = tmp_path / "x.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    result = run_cli("import", str(other))
    assert result.returncode == 1
    assert "expected apiVersion datamesh.azure.com/v1" in result.stderr


def test_validate_lists_every_problem_field_first(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    body = yaml.safe_load(run_cli("import", str(SEED)).stdout)
    body["spec"]["sla"]["freshness"] = "soon"
    body["spec"]["classification"] = "secret"
    bad.write_text(yaml.safe_dump(body))
    result = run_cli("validate", str(bad))
    assert result.returncode == 1
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert any(line.startswith("spec.sla.freshness:") for line in lines), result.stdout
    assert any(line.startswith("spec.classification:") for line in lines), result.stdout


def test_import_refuses_a_transform_reading_outside_the_inputs(tmp_path: Path) -> None:
    sql = tmp_path / "c360.sql"
    sql.write_text("SELECT * FROM customers")
    result = run_cli("import", str(SEED), "--sql", str(sql))
    assert result.returncode == 1
    assert "transform.sql reads 'customers', which is not one of the inputs" in result.stderr
