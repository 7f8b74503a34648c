"""The validating webhook refuses what the schema cannot see and what governance forbids."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import Cluster
from tests.operator.conftest import (
    Operator,
    apply_and_wait_domain,
    condition,
    domain_manifest,
    product_manifest,
    unique,
    wait_for,
)

SCHEMA = [{"name": "id", "type": "string", "primaryKey": True}, {"name": "email", "type": "string", "pii": True}]


def _policy(name: str, domain: str, enforcement: str = "Deny") -> dict:  # type: ignore[type-arg]
    return {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "GovernancePolicy",
        "metadata": {"name": name},
        "spec": {
            "enforcement": enforcement,
            "scope": {"domains": [domain]},
            "productRules": [{"name": "pii-needs-classification", "piiRequiresClassification": True}],
        },
    }


def test_python_only_rules_are_refused_at_admission(crds: Cluster, operator: Operator | None, tmp_path: Path) -> None:
    name = unique("adm")
    apply_and_wait_domain(crds, domain_manifest(name, tmp_path), operator)
    product = product_manifest("dups", name, [{"product": "x"}], sql="SELECT 1", schema=[*SCHEMA, SCHEMA[0]])
    result = crds.apply(yaml.safe_dump(product), check=False)
    assert result.returncode != 0
    assert "duplicate column name 'id'" in result.stderr


def test_policy_violations_are_refused_then_tracked_as_compliance(
    crds: Cluster, operator: Operator | None, tmp_path: Path
) -> None:
    name = unique("gov")
    apply_and_wait_domain(crds, domain_manifest(name, tmp_path), operator)
    policy = _policy(name, name)
    crds.apply(yaml.safe_dump(policy))
    product = product_manifest("leaky", name, [{"product": "x"}], sql="SELECT 1", schema=SCHEMA)
    # The operator's cache needs the policy before it can enforce it.
    refused = wait_for(
        "webhook refusal",
        lambda: (r := crds.apply(yaml.safe_dump(product), check=False)).returncode != 0 and r,
        operator=operator,
    )
    assert f"[{name}/pii-needs-classification]" in refused.stderr
    assert "spec.schema[1]" in refused.stderr
    compliant = product_manifest("fine", name, [{"product": "x"}], sql="SELECT 1",
                                 schema=[SCHEMA[0], {**SCHEMA[1], "classification": "PERSONAL.EMAIL"}])  # fmt: skip
    crds.apply(yaml.safe_dump(compliant))
    wait_for("Compliant=True",
             lambda: condition(crds.get("dataproduct", "fine", name), "Compliant").get("status") == "True",
             operator=operator)  # fmt: skip
    # A stricter policy arrives after admission: the existing product is re-evaluated, not silently drifting.
    policy["spec"]["productRules"].append({"name": "needs-version", "requiredFields": ["version"]})
    crds.apply(yaml.safe_dump(policy))
    body = wait_for(
        "Compliant=False",
        lambda: (
            (b := crds.get("dataproduct", "fine", name)) and condition(b, "Compliant").get("status") == "False" and b
        ),
        operator=operator,
    )
    assert "needs-version" in condition(body, "Compliant")["message"]
    # Metadata-only updates of a now non-compliant product are still admitted (the operator must manage it).
    crds.kubectl("annotate", "dataproduct", "fine", "-n", name, "example.com/touched=yes")
    crds.kubectl("delete", "governancepolicy", name)


def test_invalid_policies_are_refused(crds: Cluster, operator: Operator | None) -> None:
    policy = _policy(unique("bad"), "x")
    policy["spec"]["productRules"][0]["namePattern"] = "(["
    result = crds.apply(yaml.safe_dump(policy), check=False)
    assert result.returncode != 0, "an invalid regular expression in a policy must be refused"
