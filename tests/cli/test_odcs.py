"""ODCS v3 interop: export is valid ODCS (the project's models, its JSON schema, datacontract-cli), import of the
export is the same contract, and hostile or foreign documents are refused with the field named."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from datamesh import odcs
from datamesh.api import DataProduct
from datamesh.manifests import load_mesh
from datamesh.seed_import import convert
from tests.conftest import Cluster
from tests.requirements import missing

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
ODCS_EXAMPLES = sorted((FIXTURES / "odcs").glob("*.odcs.yaml"))
# Installed by `make venv` into a venv of its own (its pins clash with ours): see the Makefile.
DATACONTRACT = Path(sys.prefix) / "tools" / "datacontract" / "bin" / "datacontract"


def _everything() -> DataProduct:
    """A product that uses every field the conversion has to carry, with values that do not survive naive
    translations (a 0.29 threshold, a compound duration, "99.90%", equal rowCount bounds)."""
    return DataProduct.model_validate(
        {
            "metadata": {"name": "orders-daily", "namespace": "shop", "labels": {"team": "orders"},
                         "annotations": {"note": "x"}},
            "spec": {
                "domain": "sales", "owner": "Orders Team", "description": "Daily orders",
                "classification": "restricted",
                "tags": ["orders", "daily"],
                "sla": {"freshness": "1h30m", "availability": "99.90%", "qualityScore": 0.8},
                "schema": [
                    {"name": "order_id", "type": "long", "primaryKey": True},
                    {"name": "line", "type": "int", "primaryKey": True},
                    {"name": "email", "type": "string", "pii": True},
                    {"name": "phone", "type": "string", "classification": "PERSONAL.PHONE"},
                    {"name": "amount", "type": "decimal(10, 2)", "nullable": True, "description": "gross"},
                    {"name": "status", "type": "string"},
                    {"name": "payload", "type": "binary", "nullable": True},
                    {"name": "ordered_at", "type": "timestamp_ntz"},
                    {"name": "day", "type": "date"},
                    {"name": "flag", "type": "boolean"},
                ],
                "inputs": [{"product": "orders-raw", "domain": "shop", "alias": "raw"}, {"source": "bronze.shop.x"}],
                "transform": {"python": "shop.jobs:daily", "allowExtraColumns": True},
                "outputs": [
                    {"name": "table", "format": "delta", "location": "s3://lake/shop/orders", "mode": "merge"},
                    {"name": "local", "format": "delta", "location": "/lake/shop/orders-copy"},
                    {"name": "api", "format": "rest", "endpoint": "https://api.example.com/orders"},
                    {"name": "api2", "format": "rest", "location": "/somewhere"},
                ],
                "governance": {
                    "retention": "400 days", "retentionColumn": "day", "accessPolicy": "public",
                    "grants": [{"domains": ["finance"], "groups": ["auditors"], "pii": "clear"}],
                    "qualityChecks": [
                        {"type": "notNull", "column": "status", "threshold": 0.29},
                        {"type": "completeness", "columns": ["order_id", "line"]},
                        {"type": "uniqueness", "columns": ["order_id", "line"]},
                        {"type": "acceptedValues", "column": "status", "values": ["new", "paid"], "severity": "warn"},
                        {"type": "range", "column": "amount", "min": 0},
                        {"type": "rowCount", "min": 10, "max": 10},
                        {"type": "format", "column": "email", "pattern": "^.+@.+$", "threshold": 0.5},
                        {"type": "freshness", "column": "ordered_at", "maxAge": "2 days"},
                        {"type": "sql", "name": "positive", "expression": "amount >= 0", "threshold": 0.9},
                        {"type": "uniqueness", "column": "order_id", "name": "ids"},
                    ],
                },
                "compute": {"executors": 2, "driver": {"cpu": "500m", "memory": "1Gi"}, "timeout": "2 hours"},
                "schedule": "0 3 * * *", "suspend": True, "deletionPolicy": "Delete",
            },
        }
    )  # fmt: skip


def _minimal() -> DataProduct:
    """Defaults everywhere; no version (ODCS requires one, so the export must say it was unset)."""
    return DataProduct.model_validate(
        {
            "metadata": {"name": "tiny"},
            "spec": {
                "domain": "d", "owner": "o", "description": "tiny", "sla": {"freshness": "1 day"},
                "schema": [{"name": "a", "type": "string"}], "inputs": [{"source": "s.t"}],
                "outputs": [{"name": "t", "format": "delta"}],
            },
        }
    )  # fmt: skip


def _examples() -> list[DataProduct]:
    return list(load_mesh([REPO / "examples"]).products.values())


def _seed() -> DataProduct:
    return convert(yaml.safe_load((FIXTURES / "seed_data_product.yaml").read_text()))


PRODUCTS = {
    **{f"example:{p.name}": p for p in _examples()},
    "seed": _seed(),
    "everything": _everything(),
    "minimal": _minimal(),
}


def _export(product: DataProduct, **kwargs: Any) -> dict[str, Any]:
    # Through YAML text, as a file would carry it.
    return odcs.load_text(yaml.safe_dump(odcs.to_odcs(product, **kwargs), sort_keys=False))


def test_examples_are_found() -> None:
    assert [p.name for p in _examples()] == ["customer-360"]


@pytest.mark.parametrize("key", sorted(PRODUCTS))
def test_import_of_the_export_is_the_same_contract(key: str) -> None:
    product = PRODUCTS[key]
    imported = odcs.from_odcs(_export(product))
    assert imported.product == odcs.contract_of(product)
    assert imported.notes == []


def test_example_manifests_are_contracts_already() -> None:
    # Nothing in the examples is lost to contract_of: the round trip above is on the manifests as written.
    for product in _examples():
        assert odcs.contract_of(product) == product


@pytest.mark.parametrize("key", sorted(PRODUCTS))
def test_export_is_valid_against_the_odcs_models_and_json_schema(key: str) -> None:
    document = _export(PRODUCTS[key])
    OpenDataContractStandard.model_validate(document)
    schema = json.loads(resources.files("open_data_contract_standard").joinpath("schema.json").read_text())
    errors = sorted(jsonschema.Draft201909Validator(schema).iter_errors(document), key=str)
    assert errors == [], [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_export_says_natively_what_odcs_can_say() -> None:
    document = _export(PRODUCTS["example:customer-360"], location="/lake/sales/gold/customer-360")
    assert (document["apiVersion"], document["kind"], document["name"], document["version"]) == (
        "v3.2.0", "DataContract", "customer-360", "1.0.0",
    )  # fmt: skip
    assert document["domain"] == "sales" and document["dataProduct"] == "customer-360"
    assert document["team"]["members"] == [{"username": "sales-data-team@company.com", "role": "owner"}]
    (table,) = document["schema"]
    email = next(p for p in table["properties"] if p["name"] == "email")
    assert email["classification"] == "PERSONAL.EMAIL"
    assert {"property": "datamesh.dev/pii", "value": True} in email["customProperties"]
    key = next(p for p in table["properties"] if p["name"] == "customer_id")
    assert (key["primaryKey"], key["required"], key["logicalType"]) == (True, True, "string")
    assert key["quality"][0]["metric"] == "duplicateValues"
    sla = {item["property"]: item for item in document["slaProperties"]}
    assert (sla["latency"]["value"], sla["latency"]["unit"]) == (1, "hour")
    assert sla["availability"]["value"] == "99.9%" and sla["retention"]["value"] == 7
    delta = document["servers"][0]
    assert (delta["type"], delta["format"], delta["path"]) == ("local", "delta", "/lake/sales/gold/customer-360")
    custom = {item["property"] for item in document["customProperties"]}
    assert {"datamesh.dev/inputs", "datamesh.dev/transform", "datamesh.dev/governance"} <= custom


def test_the_published_location_is_shown_but_not_imported() -> None:
    # status.location is the operator's choice: importing it would pin a location the spec left open.
    product = PRODUCTS["example:customer-360"]
    imported = odcs.from_odcs(_export(product, location="s3://lake/sales/customer-360"))
    assert imported.product == odcs.contract_of(product)
    assert imported.product.spec.outputs[0].location is None


def test_cluster_metadata_is_not_part_of_the_contract() -> None:
    body = PRODUCTS["minimal"].model_dump(by_alias=True, exclude_none=True)
    body["metadata"] |= {"namespace": "d", "uid": "u-1", "resourceVersion": "7", "managedFields": [{}],
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}  # fmt: skip
    imported = odcs.from_odcs(_export(DataProduct.model_validate(body)))
    assert imported.product.metadata == {"name": "tiny", "namespace": "d"}


@pytest.mark.parametrize("key", ["example:customer-360", "everything", "minimal"])
def test_datacontract_lint_accepts_the_export(key: str, tmp_path: Path) -> None:
    if not DATACONTRACT.exists():
        missing("datacontract-cli is not installed (make venv)")
    path = tmp_path / "contract.odcs.yaml"
    path.write_text(yaml.safe_dump(_export(PRODUCTS[key]), sort_keys=False))
    report_file = tmp_path / "report.json"
    result = subprocess.run(
        [str(DATACONTRACT), "lint", str(path), "--all-errors", "--output-format", "json", "--output", str(report_file)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_file.read_text())
    outcomes = {check["result"] for check in report["checks"]}
    assert outcomes == {"passed"}, report["checks"]


# ----------------------------------------------------------------------------------------------- the CLI


def _cli(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "datamesh.cli.main", *args], input=stdin, capture_output=True, text=True, cwd=cwd,
        timeout=120,
    )  # fmt: skip


def test_export_from_manifests_then_import_gives_the_manifest_back(tmp_path: Path) -> None:
    exported = _cli("export", "--format", "odcs", "-f", str(REPO / "examples"), "sales/customer-360")
    assert exported.returncode == 0, exported.stderr
    (tmp_path / "c.yaml").write_text(exported.stdout)
    imported = _cli("import", str(tmp_path / "c.yaml"))
    assert imported.returncode == 0, imported.stderr
    assert DataProduct.model_validate(yaml.safe_load(imported.stdout)) == PRODUCTS["example:customer-360"]


def test_export_names_a_product_that_is_not_there() -> None:
    result = _cli("export", "-f", str(REPO / "examples"), "nope")
    assert result.returncode == 1 and "no DataProduct 'nope'" in result.stderr


def test_import_of_odcs_takes_transform_namespace_and_name_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(_export(PRODUCTS["minimal"])))
    (tmp_path / "q.sql").write_text("SELECT a FROM `s.t`")
    result = _cli("import", str(tmp_path / "c.yaml"), "--sql", str(tmp_path / "q.sql"), "--namespace", "n1",
                  "--name", "other")  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = yaml.safe_load(result.stdout)
    assert body["metadata"] == {"name": "other", "namespace": "n1"}
    assert body["spec"]["transform"] == {"sql": "SELECT a FROM `s.t`"}


def test_import_still_reads_the_seed_format() -> None:
    result = _cli("import", str(FIXTURES / "seed_data_product.yaml"))
    assert result.returncode == 0, result.stderr
    assert DataProduct.model_validate(yaml.safe_load(result.stdout)) == PRODUCTS["seed"]


# ------------------------------------------------------------------------------------------ hostile input


def _doc() -> dict[str, Any]:
    return _export(PRODUCTS["example:customer-360"])


def _custom(document: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in document["customProperties"] if c["property"] == f"datamesh.dev/{key}")
    return found


def _refusal(document: dict[str, Any]) -> str:
    with pytest.raises(odcs.OdcsRefused) as caught:
        odcs.from_odcs(document)
    return str(caught.value)


def _bad_type(d: dict[str, Any]) -> None:
    d["schema"][0]["properties"][3] |= {"physicalType": "varchar", "logicalType": "array"}


def _bad_sql(d: dict[str, Any]) -> None:
    _custom(d, "transform")["value"] = {"sql": "SELECT * FROM nowhere"}


def _bad_check(d: dict[str, Any]) -> None:
    d["schema"][0]["properties"][0]["quality"][0]["customProperties"][0]["value"]["column"] = "email"


def _bad_pii(d: dict[str, Any]) -> None:
    d["schema"][0]["properties"][1]["customProperties"][0]["value"] = "sometimes"


HOSTILE: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "unknown top-level field": (lambda d: d.update(owner="me"), "owner"),
    "unknown datamesh key": (lambda d: d["customProperties"].append({"property": "datamesh.dev/sudo", "value": 1}),
                             "customProperties[5]: unknown custom property 'datamesh.dev/sudo'"),
    "name not a DNS label": (lambda d: d.update(name="Customer 360"), "name: 'Customer 360' is not a DataProduct"),
    "no domain": (lambda d: d.pop("domain"), "domain: required"),
    "no owner": (lambda d: d.pop("team"), "team: names no owner"),
    "column type": (_bad_type, "schema[0].properties[3].physicalType: no Spark type"),
    "bad sql in transform": (_bad_sql, "customProperties[datamesh.dev/transform] (spec"),
    "check moved to another column": (_bad_check, "schema[0].properties[0].quality[0]: the rule sits on"),
    "pii not a boolean": (_bad_pii, "schema[0].properties[1] (spec.schema[1].pii)"),
    "no freshness": (lambda d: d["slaProperties"].pop(0), "slaProperties: needs a 'latency'"),
    "two freshness": (lambda d: d["slaProperties"].append(dict(d["slaProperties"][0])), "slaProperties[4]: a second"),
    "two tables": (lambda d: d["schema"].append({"name": "x"}), "schema: a DataProduct publishes one table"),
    "no columns": (lambda d: d["schema"][0].pop("properties"), "schema[0].properties (spec.schema)"),
    "server we cannot publish to": (lambda d: d["servers"][0].update(type="postgres", format="table"),
                                    "servers[0].format: 'table'"),
    "roles widened": (lambda d: d["roles"].append({"role": "public", "access": "read"}), "roles: differ"),
    "not ODCS v3": (lambda d: d.update(apiVersion="v2.2.2"), "apiVersion: expected an ODCS v3 document"),
    "governance smuggles checks": (lambda d: _custom(d, "governance")["value"].update(qualityChecks=[]),
                                   "customProperties[datamesh.dev/governance]: holds only"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_documents_are_refused_naming_the_field(case: str) -> None:
    change, expected = HOSTILE[case]
    document = copy.deepcopy(_doc())
    change(document)
    assert expected in _refusal(document)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &x [1, 2]\nb: *x\n", "YAML aliases"),
        ("x: " + "[" * 40 + "]" * 40 + "\n", "deeper than 32"),
        ("a: 1\n---\nb: 2\n", "expected one YAML document, found 2"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("a: '" + "x" * 1_100_000 + "'\n", "larger than 1048576 bytes"),
        ("a: [" + ",".join(["1"] * 100_001) + "]\n", "more than 100000 YAML nodes"),
        ("a: b: c\n", "not YAML"),
    ],
)
def test_hostile_text_is_refused_before_it_is_built(text: str, expected: str) -> None:
    with pytest.raises(odcs.OdcsRefused, match=expected):
        odcs.load_text(text)


def test_the_cli_prints_each_refusal_with_its_field(tmp_path: Path) -> None:
    document = _doc()
    document["schema"][0]["properties"][0]["physicalType"] = "string(("
    document["schema"][0]["properties"][0]["logicalType"] = "vector"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(document))
    result = _cli("import", str(tmp_path / "c.yaml"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: schema[0].properties[0].physicalType: no Spark type"), result.stderr


# ------------------------------------------------------------------------- the ODCS project's own examples


def test_the_odcs_examples_are_vendored() -> None:
    assert len(ODCS_EXAMPLES) == 6


@pytest.mark.parametrize("path", ODCS_EXAMPLES, ids=lambda p: p.name)
def test_odcs_examples_are_read_and_refused_for_what_a_product_lacks(path: Path) -> None:
    # They are excerpts: none names an owner team, inputs or a place to publish, so none is a product yet. The
    # refusal names the field; nothing crashes on what other tools write.
    document = odcs.load_text(path.read_text())
    OpenDataContractStandard.model_validate(document)
    with pytest.raises(odcs.OdcsRefused) as caught:
        odcs.from_odcs(document)
    assert all(problem.path for problem in caught.value.problems)


def _completed(path: Path) -> dict[str, Any]:
    """An ODCS example with what a product needs and the excerpt does not say."""
    document = odcs.load_text(path.read_text())
    document |= {"domain": "air", "team": {"name": "air-team"}, "description": {"purpose": "air quality"}}
    sla = document.setdefault("slaProperties", [])
    if not any(item["property"] == "latency" for item in sla):
        sla.append({"property": "latency", "value": 1, "unit": "d"})
    document["servers"] = [{"server": "table", "type": "local", "path": "/lake/air/q", "format": "delta"}]
    document["customProperties"] = [{"property": "datamesh.dev/inputs", "value": [{"source": "bronze.air.raw"}]}]
    return document


def test_an_odcs_example_completed_becomes_a_product() -> None:
    document = _completed(FIXTURES / "odcs" / "column-completeness.odcs.yaml")
    imported = odcs.from_odcs(document, name="air-quality")
    spec = imported.product.spec
    assert (spec.owner, spec.sla.freshness, spec.outputs[0].location) == ("air-team", "1 d", "/lake/air/q")
    (column,) = spec.schema_
    assert (column.name, column.type, column.primary_key, column.nullable) == ("UniqueID", "int", True, True)
    (check,) = spec.governance.quality_checks
    assert (check.type, check.column, check.threshold, check.severity) == ("notNull", "UniqueID", None, "error")


def test_an_odcs_example_with_types_we_cannot_store_is_refused_at_that_column() -> None:
    document = _completed(FIXTURES / "odcs" / "all-data-types.odcs.yaml")
    message = str(pytest.raises(odcs.OdcsRefused, odcs.from_odcs, document, name="types").value)
    assert "schema[0].properties[4].physicalType: no Spark type for physicalType 'time'" in message


def test_an_odcs_rule_with_null_among_accepted_values_is_refused_at_its_arguments() -> None:
    document = _completed(FIXTURES / "odcs" / "column-validity.odcs.yaml")
    message = str(pytest.raises(odcs.OdcsRefused, odcs.from_odcs, document, name="validity").value)
    assert "schema[0].properties[0].quality[0].arguments.validValues: accepted values must be" in message


def test_prose_only_sla_entries_are_noted_not_carried() -> None:
    document = _completed(FIXTURES / "odcs" / "database-table-sla.odcs.yaml")
    document["schema"] = [{"name": "tab1", "properties": [{"name": "txn_ref_dt", "logicalType": "date"}]}]
    imported = odcs.from_odcs(document, name="sla")
    assert imported.product.spec.sla.freshness == "4 d"  # the example's own latency comes first
    assert (imported.product.spec.governance.retention, imported.product.spec.governance.retention_column) == (
        "3 y", "txn_ref_dt",
    )  # fmt: skip
    assert any("generalAvailability" in note for note in imported.notes)


def test_export_from_the_cluster_is_the_applied_contract(crds: Cluster, namespace: str, tmp_path: Path) -> None:
    body = PRODUCTS["example:customer-360"].model_dump(by_alias=True, exclude_none=True, mode="json")
    body["metadata"] = {**body["metadata"], "namespace": namespace}
    crds.apply(body)
    # status.location is what the operator writes once it knows where the table lives.
    crds.kubectl("patch", "dataproduct", "customer-360", "-n", namespace, "--subresource=status", "--type=merge",
                 "-p", json.dumps({"status": {"location": "/lake/sales/gold/customer-360"}}))  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "datamesh.cli.main", "export", "--format", "odcs", "-n", namespace, "customer-360",
         "-o", str(tmp_path / "c.yaml")],
        capture_output=True, text=True, env=crds.env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = odcs.load_text((tmp_path / "c.yaml").read_text())
    assert document["id"] == f"{namespace}/customer-360"
    assert document["servers"][0]["path"] == "/lake/sales/gold/customer-360"
    assert odcs.from_odcs(document).product == odcs.contract_of(DataProduct.model_validate(body))
    missing = subprocess.run(
        [sys.executable, "-m", "datamesh.cli.main", "export", "-n", namespace, "nope"],
        capture_output=True, text=True, env=crds.env, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 1 and "reading 'nope' from the cluster: Not Found" in missing.stderr
