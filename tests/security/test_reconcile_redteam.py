"""The second check: with the webhook down (failurePolicy Ignore lets everything in), the reconciler refuses the
same hostile manifests by itself. No build Job is created, no other namespace is touched and the lake is
byte-for-byte unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from tests.conftest import Cluster
from tests.operator.conftest import Operator, condition, wait_for
from tests.security.conftest import OPERATOR_NAMESPACE, lake_digest
from tests.security.hostile import Case, Mesh, all_cases

pytestmark = pytest.mark.reliability

#: Refusal reasons of the reconciler: the contract itself, or where it would write.
PRODUCT_REASONS = {"InvalidSpec", "LocationConflict", "TransformNotAllowed"}


@pytest.fixture
def webhook_down(operator: Operator | None) -> Iterator[Operator]:
    if operator is None:
        pytest.skip("the operator runs in the cluster; it cannot be stopped from here")
    operator.stop()
    try:
        yield operator
    finally:
        if operator.process is None:
            operator.start()


def _admitted(crds: Cluster, cases: list[Case]) -> list[Case]:
    """Apply each case with no webhook to ask; the API server's own schema may still refuse a few."""
    admitted = []
    for case in cases:
        if crds.apply(yaml.safe_dump(case.body), check=False).returncode == 0:
            admitted.append(case)
    return admitted


def test_reconciler_refuses_what_the_webhook_would_have(
    crds: Cluster, mesh: Mesh, webhook_down: Operator
) -> None:
    cases = all_cases(mesh, OPERATOR_NAMESPACE)
    products = [c for c in cases if c.kind == "DataProduct"]
    before = lake_digest(mesh.lake)
    admitted = _admitted(crds, products)
    # Most of the corpus is only visible to Python: the API server lets it in without the webhook.
    assert len(admitted) >= len(products) * 3 // 4, [c.id for c in products if c not in admitted]
    webhook_down.start()

    def verdicts() -> dict[str, dict[str, str]] | None:
        items = json.loads(crds.kubectl("get", "dataproducts", "-n", mesh.own, "-o", "json").stdout)["items"]
        found = {i["metadata"]["name"]: condition(i, "Validated") for i in items}
        wanted = {c.body["metadata"]["name"] for c in admitted}
        return found if all(found.get(n, {}).get("status") == "False" for n in wanted) else None

    found = wait_for("every hostile product refused by the reconciler", verdicts, timeout=120, operator=webhook_down)
    for case in admitted:
        verdict = found[case.body["metadata"]["name"]]
        assert verdict["reason"] in PRODUCT_REASONS, (case.id, verdict)
        missing = [part for part in case.expect if part.lower() not in verdict["message"].lower()]
        assert not missing, f"{case.id}: Validated message does not name {missing}: {verdict['message']}"
    jobs = json.loads(crds.kubectl("get", "jobs", "-n", mesh.own, "-o", "json").stdout)["items"]
    assert not jobs, [j["metadata"]["name"] for j in jobs]
    assert lake_digest(mesh.lake) == before
    for case in admitted:
        crds.kubectl("delete", "dataproduct", case.body["metadata"]["name"], "-n", mesh.own, "--wait=false")


def test_domains_cannot_take_system_or_foreign_namespaces_without_the_webhook(
    crds: Cluster, mesh: Mesh, webhook_down: Operator
) -> None:
    claims = {"kube-system": mesh.domain(f"{mesh.own}-sys", namespace="kube-system"),
              mesh.other: mesh.domain(f"{mesh.own}-foreign", namespace=mesh.other)}  # fmt: skip
    for body in claims.values():
        body["spec"]["storage"]["location"] = str(mesh.lake / body["metadata"]["name"] / "gold")
        body["spec"]["sources"] = []
        crds.apply(yaml.safe_dump(body))
    before_sa = crds.kubectl("get", "serviceaccounts", "-n", "kube-system", "-o", "name").stdout
    webhook_down.start()
    try:
        for claim, body in claims.items():
            name = body["metadata"]["name"]

            def refused(name: str = name) -> dict[str, str] | None:
                ready = condition(crds.get("domain", name), "Ready")
                return ready if ready.get("status") == "False" else None

            verdict = wait_for(f"domain {name} refused", refused, timeout=60, operator=webhook_down)
            assert claim in verdict["message"], verdict
        # Nothing of a workspace was provisioned in the claimed namespaces.
        assert crds.kubectl("get", "serviceaccounts", "-n", "kube-system", "-o", "name").stdout == before_sa
        policies = crds.kubectl("get", "networkpolicies", "-n", "kube-system", "-o", "name").stdout
        assert "datamesh" not in policies
        bindings = crds.kubectl("get", "rolebindings", "-n", mesh.other, "-o", "json").stdout
        owners = {ref["name"] for item in json.loads(bindings)["items"]
                  for ref in item["metadata"].get("ownerReferences") or []}  # fmt: skip
        assert owners <= {mesh.other}, owners
    finally:
        for body in claims.values():
            crds.kubectl("delete", "domain", body["metadata"]["name"], "--wait=false", check=False)
