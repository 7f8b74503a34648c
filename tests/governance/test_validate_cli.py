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
    assert lines[2].startswith(
        "  spec.productRules[0].namePattern: '([' is not supported by the linear-time regex engine (RE2): missing ]"
    )


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


# ------------------------------------------------------------------------------------------------ placement
def _domain(name: str, root: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "Domain",
        "metadata": {"name": name},
        "spec": {"owner": "o@example.com", "description": "d", "storage": {"location": root}, **spec},
    }


MESH = (
    _domain("sales", "/lake/sales/gold", sources=[{"name": "bronze.crm.orders", "location": "/lake/sales/bronze"}]),
    _domain("marketing", "/lake/marketing/gold"),
    product_body("victim", "marketing"),
)


def _problems(lines: list[str], label: str) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.startswith(label))
    assert lines[start].endswith(": invalid"), lines
    problems = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        problems.append(line.strip())
    return problems


@pytest.mark.parametrize(
    ("location", "mode", "expected"),
    [
        ("/lake/marketing/gold/victim", None, "is the table of DataProduct marketing/victim"),
        ("/lake/marketing/gold/victim", "merge", "is the table of DataProduct marketing/victim"),
        ("/lake/marketing/gold/x", None, "is inside the storage root of Domain marketing"),
        ("/lake/sales/bronze", None, "is source bronze.crm.orders of Domain sales"),
        ("/lake/sales/gold", None, "is the storage root itself /lake/sales/gold"),
        ("/lake/sales/gold/%2e%2e/%2e%2e/marketing/gold/victim", None, "percent-encoding"),
        ("/lake/sales/gold/../../marketing/gold/victim", None, "'..' segment"),
    ],
)
def test_a_product_writing_where_it_must_not_is_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], location: str, mode: str | None, expected: str
) -> None:
    output = {"name": "t", "format": "delta", "location": location, **({"mode": mode} if mode else {})}
    schema = [{"name": "order_id", "type": "string", "primaryKey": True}]
    hostile = product_body("probe", "sales", outputs=[output], schema=schema)
    code, lines, _ = validate(capsys, write(tmp_path / "mesh.yaml", *MESH, hostile))
    assert code == 1
    problems = _problems(lines, "DataProduct/probe ")
    assert any(p.startswith("spec.outputs[0].location: ") and expected in p for p in problems), problems
    assert all(line.endswith(": ok") for line in lines if not line.startswith(("DataProduct/probe", "  ")))


def test_a_location_is_refused_even_without_its_domain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = product_body("probe", outputs=[{"name": "t", "format": "delta", "location": "/lake/./x"}])
    code, lines, _ = validate(capsys, write(tmp_path / "p.yaml", hostile))
    assert code == 1
    assert _problems(lines, "DataProduct/probe ")[0].startswith("spec.outputs[0].location: location '/lake/./x'")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"storage": {"location": "/lake/marketing/gold"}}, "spec.storage.location: location /lake/marketing/gold is"
         " the storage root of Domain marketing"),
        ({"storage": {"location": "/lake/marketing"}}, "spec.storage.location: location /lake/marketing contains"),
        ({"storage": {"location": "/lake/marketing/gold/sub"}}, "spec.storage.location: location"
         " /lake/marketing/gold/sub is inside the storage root of Domain marketing"),
        ({"sources": [{"name": "raw.stolen", "location": "/lake/marketing/gold/victim"}]}, "spec.sources[0].location:"
         " location /lake/marketing/gold/victim is the table of DataProduct marketing/victim"),
        ({"sources": [{"name": "raw.stolen", "location": "/lake/marketing/gold"}]}, "spec.sources[0].location:"
         " location /lake/marketing/gold is the storage root of Domain marketing"),
        ({"namespace": "kube-system"}, "spec.namespace: namespace 'kube-system' is a system namespace"),
        ({"namespace": "default"}, "spec.namespace: namespace 'default' is a system namespace"),
        ({"namespace": "datamesh-system"}, "spec.namespace: namespace 'datamesh-system' is the operator's own"),
        ({"namespace": "marketing"}, "spec.namespace: namespace 'marketing' is claimed by Domain marketing"),
    ],
)  # fmt: skip
def test_a_domain_claiming_what_is_not_its_own_is_invalid(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spec: dict[str, Any],
    expected: str,
) -> None:
    monkeypatch.setenv("DATAMESH_NAMESPACE", "datamesh-system")
    hostile = _domain("hostile", "/lake/hostile/gold", **spec)
    code, lines, _ = validate(capsys, write(tmp_path / "mesh.yaml", *MESH, hostile))
    assert code == 1
    problems = _problems(lines, "Domain/hostile ")
    assert any(p.startswith(expected) for p in problems), problems


def test_a_reserved_namespace_comes_from_the_operator_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAMESH_RESERVED_NAMESPACES", "vault, cert-manager")
    hostile = _domain("hostile", "/lake/hostile/gold", namespace="cert-manager")
    code, lines, _ = validate(capsys, write(tmp_path / "d.yaml", hostile))
    assert code == 1
    assert _problems(lines, "Domain/hostile ") == [
        "spec.namespace: namespace 'cert-manager' is reserved by the operator's configuration"
    ]


def test_legit_placements_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    custom = product_body("team-c360", outputs=[{"name": "t", "format": "delta", "location": "/lake/sales/gold/t/c"}])
    prefixes = [product_body("abc"), product_body("abcd")]
    neighbour = _domain("sales-eu", "/lake/sales/golden", namespace="sales-europe")
    code, lines, _ = validate(capsys, write(tmp_path / "mesh.yaml", *MESH, custom, *prefixes, neighbour))
    assert code == 0, lines
    assert len(lines) == 7 and all(line.endswith(": ok") for line in lines)
