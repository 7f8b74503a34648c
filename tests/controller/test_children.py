"""A Domain's workspace manifests: bindings to the chart's ClusterRoles only, Pod Security labels, ownership of
the namespace only when the operator creates it, and the build egress policy."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from datamesh.api import DataProduct, Domain
from datamesh.controller import children
from tests.conftest import REPO

SUBJECT = {"kind": "ServiceAccount", "name": "datamesh-operator", "namespace": "datamesh-system"}


def domain(**spec: Any) -> Domain:
    body = {
        "metadata": {"name": "sales", "uid": "u-1"},
        "spec": {"owner": "o@example.com", "description": "d", "storage": {"location": "s3a://lake/sales"}, **spec},
    }
    return Domain.model_validate(body)


def product(executors: int | None) -> DataProduct:
    body = yaml.safe_load((REPO / "examples" / "products" / "customer-360.yaml").read_text())
    if executors is not None:
        body["spec"]["compute"] = {"executors": executors}
    return DataProduct.model_validate(body)


def by_name(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_namespace_carries_pod_security_labels_and_the_domain() -> None:
    labels = children.namespace(domain())["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert labels["datamesh.dev/domain"] == "sales"
    baseline = children.namespace(domain(), pod_security="baseline")["metadata"]["labels"]
    assert baseline["pod-security.kubernetes.io/enforce"] == "baseline"
    assert baseline["pod-security.kubernetes.io/warn"] == "restricted"


@pytest.mark.parametrize("level", ["", "Restricted", "none", "restricted "])
def test_an_unknown_pod_security_level_is_refused(level: str) -> None:
    with pytest.raises(ValueError, match="DATAMESH_POD_SECURITY_LEVEL"):
        children.namespace(domain(), pod_security=level)


def test_only_a_namespace_the_operator_creates_is_owned_by_the_domain() -> None:
    created = children.namespace(domain(), owned=True)["metadata"]
    assert [(o["kind"], o["name"], o["uid"]) for o in created["ownerReferences"]] == [("Domain", "sales", "u-1")]
    adopted = children.namespace(domain(), owned=False)["metadata"]
    assert "ownerReferences" not in adopted
    assert adopted["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_operator_creates_no_roles_and_binds_only_the_charts_cluster_roles() -> None:
    objects = children.children(domain(teamGroups=["t"], readerGroups=["r"], compute={"executors": 2}), "b", SUBJECT)
    assert not [o for o in objects if o["kind"] in ("Role", "ClusterRole", "ClusterRoleBinding")]
    bindings = by_name(objects, "RoleBinding")
    assert {b["roleRef"]["kind"] for b in bindings.values()} == {"ClusterRole"}
    assert {b["roleRef"]["name"] for b in bindings.values()} == set(children.CLUSTER_ROLES)
    assert all(b["metadata"]["namespace"] == "sales" for b in bindings.values())


def test_the_operators_own_binding_comes_first() -> None:
    objects = children.children(domain(), "datamesh-builder", SUBJECT)
    first = objects[0]
    assert first["kind"] == "RoleBinding" and first["roleRef"]["name"] == "datamesh-operator-workspace"
    assert first["subjects"] == [SUBJECT]
    without = children.children(domain(), "datamesh-builder", None)
    assert all(o["roleRef"]["name"] != "datamesh-operator-workspace" for o in without if o["kind"] == "RoleBinding")


def test_groups_and_the_builder_are_bound_to_their_roles() -> None:
    objects = children.children(domain(teamGroups=["t1", "t2"], readerGroups=["r", "t1"]), "builder", SUBJECT)
    bindings = by_name(objects, "RoleBinding")
    team = bindings[children.TEAM_BINDING]
    assert team["roleRef"]["name"] == "datamesh-team"
    assert [(s["kind"], s["name"]) for s in team["subjects"]] == [("Group", "t1"), ("Group", "t2")]
    readers = bindings[children.READER_BINDING]
    assert readers["roleRef"]["name"] == "datamesh-reader"
    assert [s["name"] for s in readers["subjects"]] == ["r", "t1", "t2"]
    builder = bindings[children.BUILDER_BINDING]
    assert builder["roleRef"]["name"] == "datamesh-builder"
    assert builder["subjects"] == [{"kind": "ServiceAccount", "name": "builder", "namespace": "sales"}]
    assert by_name(objects, "ServiceAccount").keys() == {"builder"}


def test_the_spark_driver_role_is_bound_only_when_executors_are_used() -> None:
    local = by_name(children.children(domain(), "b", SUBJECT), "RoleBinding")
    assert children.SPARK_DRIVER_BINDING not in local
    spark = by_name(children.children(domain(compute={"executors": 3}), "b", SUBJECT), "RoleBinding")
    assert spark[children.SPARK_DRIVER_BINDING]["roleRef"]["name"] == "datamesh-spark-driver"
    assert spark[children.SPARK_DRIVER_BINDING]["subjects"][0]["name"] == "b"
    # A product of the domain may ask for executors on its own.
    assert not children.uses_executors(domain(), [product(None), product(0)])
    assert children.uses_executors(domain(), [product(None), product(2)])
    assert children.uses_executors(domain(compute={"executors": 1}), [])
    by_product = by_name(children.children(domain(), "b", SUBJECT, executors=True), "RoleBinding")
    assert children.SPARK_DRIVER_BINDING in by_product


def test_bindings_no_longer_asked_for_and_legacy_roles_are_obsolete() -> None:
    gone = children.obsolete(domain())
    names = {(kind, name) for _, kind, name in gone}
    assert {("RoleBinding", children.SPARK_DRIVER_BINDING), ("RoleBinding", children.TEAM_BINDING),
            ("RoleBinding", children.READER_BINDING)} <= names  # fmt: skip
    # The Roles (with rules) and bindings of older versions, whatever the spec.
    for name in ("datamesh-team", "datamesh-reader", "datamesh-builder"):
        assert ("Role", name) in names and ("RoleBinding", name) in names
    full = domain(teamGroups=["t"], compute={"executors": 1})
    kept = {name for _, kind, name in children.obsolete(full) if kind == "RoleBinding"}
    applied = by_name(children.children(full, "b", SUBJECT), "RoleBinding")
    assert not kept & applied.keys(), "an object both applied and deleted"
    assert children.SPARK_DRIVER_BINDING in children.obsolete(domain(compute={"executors": 1}), executors=False)[0]


def test_every_workspace_object_is_labelled_and_owned_by_the_domain() -> None:
    for body in children.children(domain(teamGroups=["t"], storage={"location": "/lake", "volume": {}}), "b", SUBJECT):
        meta = body["metadata"]
        assert meta["namespace"] == "sales" and meta["labels"]["datamesh.dev/domain"] == "sales", meta
        assert meta["ownerReferences"][0]["name"] == "sales", meta


def egress(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    policy = by_name(objects, "NetworkPolicy")["datamesh-build-egress"]
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "build"}}
    assert policy["spec"]["policyTypes"] == ["Egress"]
    rules: list[dict[str, Any]] = policy["spec"]["egress"]
    # A rule with neither peers nor ports allows everything.
    assert all(rule.get("to") or rule.get("ports") for rule in rules), rules
    return rules


def ports(rules: list[dict[str, Any]]) -> set[tuple[str, int]]:
    return {(p["protocol"], p["port"]) for rule in rules if "to" not in rule for p in rule.get("ports", [])}


def test_build_pods_reach_dns_and_storage_and_the_api_server_only_with_executors() -> None:
    local = egress(children.children(domain(), "b", SUBJECT))
    assert ports(local) == {("UDP", 53), ("TCP", 53), ("TCP", 443)}
    assert not [rule for rule in local if "to" in rule]
    spark = egress(children.children(domain(compute={"executors": 2}), "b", SUBJECT))
    assert ports(spark) == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6443)}
    # The driver reaches its executors, in its own namespace only.
    assert [rule["to"] for rule in spark if "to" in rule] == [[{"podSelector": {}}]]
    custom = egress(children.children(domain(), "b", SUBJECT, egress_ports=[9000, 443, 9000]))
    assert ports(custom) == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 9000)}
    closed = egress(children.children(domain(), "b", SUBJECT, egress_ports=()))
    assert ports(closed) == {("UDP", 53), ("TCP", 53)}


@pytest.mark.parametrize("port", [0, 65536, -1, True])
def test_an_invalid_egress_port_is_refused(port: int) -> None:
    with pytest.raises(ValueError, match="egress port"):
        children.children(domain(), "b", SUBJECT, egress_ports=[port])


def test_ingress_stays_within_the_namespace() -> None:
    policy = by_name(children.children(domain(), "b", SUBJECT), "NetworkPolicy")["datamesh-default"]
    assert policy["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
    }


@pytest.mark.parametrize(
    ("username", "subject"),
    [
        ("system:serviceaccount:datamesh-system:datamesh-operator",
         {"kind": "ServiceAccount", "name": "datamesh-operator", "namespace": "datamesh-system"}),
        ("kubernetes-admin", None),
        ("system:serviceaccount:ns", None),
        ("system:serviceaccount::name", None),
        ("system:serviceaccount:ns:", None),
        ("system:node:worker-1", None),
        ("system:serviceaccount:a:b:c", None),
    ],
)  # fmt: skip
def test_the_operator_subject_is_only_ever_its_service_account(username: str, subject: dict[str, str] | None) -> None:
    assert children.operator_subject(username) == subject


def test_quota_limits_and_claim_are_kept() -> None:
    body = domain(compute={"quota": {"cpu": "4", "pods": 10}}, storage={"location": "/lake", "volume": {"size": "5Gi"}})
    objects = children.children(body, "b", None)
    assert by_name(objects, "ResourceQuota")["datamesh"]["spec"]["hard"] == {
        "requests.cpu": "4", "limits.cpu": "4", "pods": "10"}  # fmt: skip
    assert "datamesh" in by_name(objects, "LimitRange")
    claim = by_name(objects, "PersistentVolumeClaim")["sales-storage"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
