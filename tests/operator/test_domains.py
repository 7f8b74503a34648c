"""The Domain controller provisions a team's workspace and refuses to be deleted while it holds products."""

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


def test_domain_provisions_its_workspace(crds: Cluster, operator: Operator | None, tmp_path: Path) -> None:
    name = unique("dom")
    body = domain_manifest(name, tmp_path, teams=["team-a"])
    body["spec"]["readerGroups"] = ["readers"]
    body["spec"]["compute"] = {"quota": {"cpu": "4", "memory": "8Gi", "pods": 10}}
    apply_and_wait_domain(crds, body, operator)
    status = crds.get("domain", name)["status"]
    assert status["namespace"] == name and status["products"] == 0
    for kind, child in [("serviceaccount", "datamesh-builder"), ("rolebinding", "datamesh:team"),
                        ("rolebinding", "datamesh:reader"), ("rolebinding", "datamesh:builder"),
                        ("resourcequota", "datamesh"), ("limitrange", "datamesh"),
                        ("networkpolicy", "datamesh-default"), ("networkpolicy", "datamesh-build-egress"),
                        ("secret", "datamesh-build")]:  # fmt: skip
        crds.get(kind, child, name)
    # No Roles with rules of the operator's making: bindings to the chart's ClusterRoles only.
    assert crds.kubectl("get", "roles", "-n", name, "-o", "name").stdout.strip() == ""
    labels = crds.get("namespace", name)["metadata"]["labels"]
    # The level the operator was configured with: restricted by default, privileged where it mounts a host lake.
    assert labels["pod-security.kubernetes.io/enforce"] == (operator.pod_security_level if operator else "restricted")
    assert labels["datamesh.dev/domain"] == name
    binding = crds.get("rolebinding", "datamesh:team", name)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "datamesh-team"}  # fmt: skip
    assert [s["name"] for s in binding["subjects"]] == ["team-a"]
    # RBAC really works for the team's group: it may create DataProducts, readers may only read them.
    can = crds.kubectl("auth", "can-i", "create", "dataproducts.datamesh.dev", "-n", name, "--as", "alice",
                       "--as-group", "team-a", check=False)  # fmt: skip
    assert can.stdout.strip() == "yes"
    cannot = crds.kubectl("auth", "can-i", "create", "dataproducts.datamesh.dev", "-n", name, "--as", "bob",
                          "--as-group", "readers", check=False)  # fmt: skip
    assert cannot.stdout.strip() == "no"
    # Changing the spec converges the children.
    body["spec"]["compute"]["quota"]["pods"] = 20
    crds.apply(yaml.safe_dump(body))
    wait_for("quota update", lambda: crds.get("resourcequota", "datamesh", name)["spec"]["hard"]["pods"] == "20",
             operator=operator)  # fmt: skip


def test_deleting_a_domain_with_products_is_refused(crds: Cluster, operator: Operator | None, tmp_path: Path) -> None:
    name = unique("dom")
    apply_and_wait_domain(crds, domain_manifest(name, tmp_path), operator)
    schema = [{"name": "x", "type": "int"}]
    product = product_manifest("p", name, [{"product": "nothing-here"}], sql="SELECT 1 AS x", schema=schema)
    crds.apply(yaml.safe_dump(product))
    crds.kubectl("delete", "domain", name, "--wait=false")
    wait_for(
        "DeletionBlocked",
        lambda: condition(crds.get("domain", name), "Ready").get("reason") == "DeletionBlocked",
        operator=operator,
    )
    assert "delete them first" in condition(crds.get("domain", name), "Ready")["message"]
    crds.kubectl("delete", "dataproduct", "p", "-n", name, "--wait=true", "--timeout=60s")
    wait_for("domain gone", lambda: crds.kubectl("get", "domain", name, check=False).returncode != 0,
             operator=operator)  # fmt: skip


def test_a_claim_whose_storage_class_does_not_exist_makes_storage_not_ready(
    crds: Cluster, operator: Operator | None, tmp_path: Path
) -> None:
    name = unique("dom")
    body = domain_manifest(name, tmp_path)
    body["spec"]["storage"] = {"location": f"/data/{name}",
                               "volume": {"size": "1Gi", "storageClassName": "no-such-class"}}  # fmt: skip
    crds.apply(yaml.safe_dump(body))
    try:
        storage = wait_for(
            "StorageReady=False",
            lambda: (found := condition(crds.get("domain", name), "StorageReady")).get("status") == "False" and found,
            operator=operator,
        )
        assert storage["reason"] == "StorageClassNotFound" and "'no-such-class'" in storage["message"]
        ready = condition(crds.get("domain", name), "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "StorageClassNotFound")
        # The claim the workspace holds is the one that waits: Pending, with the class the Domain named.
        claim = crds.get("persistentvolumeclaim", f"{name}-storage", name)
        assert claim["status"]["phase"] == "Pending" and claim["spec"]["storageClassName"] == "no-such-class"
    finally:
        crds.kubectl("delete", "domain", name, "--wait=false", check=False)
