"""A policy whose name pattern backtracks exponentially in a backtracking engine cannot stall the operator:
patterns run on RE2 (linear time), so refusals stay instant and a canary product created afterwards is
reconciled within seconds."""

from __future__ import annotations

import yaml

from tests.conftest import Cluster
from tests.operator.conftest import Operator, condition, wait_for
from tests.security.hostile import Mesh

#: Exponential in Python's `re` on a long name that almost matches; linear in RE2.
CATASTROPHIC = "^([a-z]+-?)+$"


def test_a_backtracking_name_pattern_does_not_stall_admission_or_reconciles(
    crds: Cluster, mesh: Mesh, operator: Operator | None
) -> None:
    policy = {
        "apiVersion": "datamesh.dev/v1alpha1",
        "kind": "GovernancePolicy",
        "metadata": {"name": f"{mesh.own}-names"},
        "spec": {
            "enforcement": "Deny",
            "scope": {"domains": [mesh.own]},
            "productRules": [{"name": "names", "namePattern": CATASTROPHIC}],
        },
    }
    crds.apply(yaml.safe_dump(policy))
    try:
        # 39 letters and a digit: every way of splitting the letters is tried before a backtracking engine fails.
        hostile = mesh.product("a" * 38 + "9")
        refused = wait_for(
            "the webhook to enforce the new policy",
            lambda: (r := crds.apply(yaml.safe_dump(hostile), check=False)).returncode != 0 and r,
            operator=operator,
        )
        assert "names" in refused.stderr and "does not match" in refused.stderr, refused.stderr
        for i in range(5):
            again = mesh.product("b" * (37 - i) + "9" * (i + 2))
            assert crds.apply(yaml.safe_dump(again), check=False).returncode != 0
        canary = mesh.product("canary")
        crds.apply(yaml.safe_dump(canary))
        wait_for(
            "the canary reconciled",
            lambda: condition(crds.get("dataproduct", "canary", mesh.own), "Validated").get("status"),
            timeout=20,
            operator=operator,
        )
    finally:
        crds.kubectl("delete", "governancepolicy", policy["metadata"]["name"], "--wait=false", check=False)
        crds.kubectl("delete", "dataproduct", "canary", "-n", mesh.own, "--wait=false", check=False)
