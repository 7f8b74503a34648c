"""`datamesh validate FILE... [--policies DIR]`: schema problems, then policy violations, field path first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.cli.main import main
from tests.governance.factories import product_body

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BASELINE: dict[str, Any] = {
    "apiVersion": "datamesh.dev/v1alpha1",
    "kind": "GovernancePolicy",
    "metadata": {"name": "baseline"},
    "spec": {"productRules": [{"name": "pii-needs-classification", "piiRequiresClassification": True}]},
}
UNCLASSIFIED_EMAIL = product_body(
    "customers",
    schema=[{"name": "id", "type": "string"}, {"name": "email", "type": "string", "pii": True}],
)
PII_LINE = (
    "  spec.schema[1].classification: [baseline/pii-needs-classification]"
    " PII column 'email' must carry a classification"
)


def write(path: Path, *bodies: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(bodies))
    return path


def validate(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, list[str], str]:
    code = main(["validate", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_examples_comply(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = validate(capsys, EXAMPLES)
    assert code == 0
    assert "GovernancePolicy/baseline (" in "\n".join(lines)
    assert all(line.endswith(": ok") for line in lines), lines


def test_policies_dir_applies_to_products(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    product = write(tmp_path / "products" / "customers.yaml", UNCLASSIFIED_EMAIL)
    write(tmp_path / "policies" / "baseline.yaml", BASELINE)
    code, lines, _ = validate(capsys, product, "--policies", tmp_path / "policies")
    assert code == 1
    assert lines[0] == f"DataProduct/customers ({product}): invalid"
    assert lines[1] == PII_LINE


def test_without_policies_the_product_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = validate(capsys, write(tmp_path / "p.yaml", UNCLASSIFIED_EMAIL))
    assert (code, len(lines)) == (0, 1)


def test_policies_among_the_files_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = validate(capsys, write(tmp_path / "all.yaml", UNCLASSIFIED_EMAIL, BASELINE))
    assert code == 1
    assert PII_LINE in lines


def test_the_examples_policy_catches_unclassified_pii(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = validate(
        capsys, write(tmp_path / "p.yaml", UNCLASSIFIED_EMAIL), "--policies", EXAMPLES / "policies"
    )
    assert code == 1
    assert PII_LINE in lines


def test_audit_violations_are_printed_but_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit = {**BASELINE, "spec": {**BASELINE["spec"], "enforcement": "Audit"}}
    code, lines, _ = validate(capsys, write(tmp_path / "all.yaml", UNCLASSIFIED_EMAIL, audit))
    assert code == 0
    assert lines[0].endswith("customers (" + str(tmp_path / "all.yaml") + "): ok, 1 audit warning")
    assert lines[1] == PII_LINE + " (audit)"


def test_schema_problems_keep_their_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = product_body("customers", sla={"freshness": "soon"})
    code, lines, _ = validate(capsys, write(tmp_path / "p.yaml", broken, BASELINE))
    assert code == 1
    assert lines[0].endswith("): invalid")
    assert lines[1].startswith("  spec.sla.freshness: ")
    assert "[baseline/" not in "\n".join(lines)


def test_domains_are_checked_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sales = yaml.safe_load((EXAMPLES / "domains" / "sales.yaml").read_text())
    sales["spec"]["sources"][0]["columns"].append({"name": "phone", "pii": True})
    code, lines, _ = validate(capsys, write(tmp_path / "sales.yaml", sales), "--policies", EXAMPLES / "policies")
    assert code == 1
    assert (
        "  spec.sources[0].columns[2].classification: [baseline/pii-needs-classification]"
        " PII column 'phone' of source 'bronze.crm.customers' must carry a classification"
    ) in lines


def test_a_policy_dir_inside_a_file_dir_is_read_once(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = validate(capsys, EXAMPLES, "--policies", EXAMPLES / "policies")
    assert code == 0
    assert sum("GovernancePolicy/baseline" in line for line in lines) == 1


def test_broken_policy_fails_and_does_not_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {**BASELINE, "spec": {"productRules": [{"name": "names", "namePattern": "(["}]}}
    code, lines, _ = validate(capsys, write(tmp_path / "p.yaml", UNCLASSIFIED_EMAIL, bad))
    assert code == 1
    assert lines[0].endswith("): ok")
    assert lines[1].startswith("GovernancePolicy/baseline (")
    assert lines[2].startswith("  spec.productRules[0].namePattern: not a valid regular expression")


def test_duplicate_policy_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = validate(capsys, write(tmp_path / "p.yaml", BASELINE, BASELINE))
    assert code == 1
    assert any("metadata.name: GovernancePolicy 'baseline' is also defined in" in line for line in lines)


def test_other_kinds_in_the_policies_dir_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    product = write(tmp_path / "p.yaml", UNCLASSIFIED_EMAIL)
    write(tmp_path / "policies" / "mixed.yaml", BASELINE, product_body("stray"))
    code, lines, err = validate(capsys, product, "--policies", tmp_path / "policies")
    assert code == 1
    assert not any("stray" in line for line in lines)
    assert "--policies reads GovernancePolicies only" in err


def test_missing_policies_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = validate(capsys, write(tmp_path / "p.yaml", UNCLASSIFIED_EMAIL), "--policies", tmp_path / "nope")
    assert code == 1
    assert err.startswith("error: ")
