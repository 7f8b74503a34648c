"""The chart's RBAC, as the operator's ServiceAccount sees it on a real API server: everything the operator
does is allowed (the list below is read from controller/*.py and kopf), nothing else that matters is."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from datamesh.controller import children
from datamesh.manifests import load_mesh
from tests.conftest import REPO, Cluster
from tests.packaging.rbac import chart_service_account_kubeconfig, delete_chart_rbac
from tests.packaging.tools import dump

DOMAIN_NS = "sales"  # any namespace: domain namespaces appear at run time
# (verb, resource, namespace or None for cluster-wide / all namespaces)
ALLOWED: list[tuple[str, str, str | None]] = [
    # kopf: resource discovery
    ("list", "customresourcedefinitions.apiextensions.k8s.io", None),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io", None),
    # watched kinds, kopf's finalizers and annotations, status writes
    *[(verb, "dataproducts.datamesh.dev", None) for verb in ("list", "watch", "patch")],
    *[(verb, "domains.datamesh.dev", None) for verb in ("list", "watch", "patch")],
    *[(verb, "governancepolicies.datamesh.dev", None) for verb in ("list", "watch")],
    ("patch", "dataproducts.datamesh.dev/status", DOMAIN_NS),
    ("patch", "domains.datamesh.dev/status", None),
    ("patch", "governancepolicies.datamesh.dev/status", None),
    ("update", "dataproducts.datamesh.dev/finalizers", DOMAIN_NS),
    # Domain workspaces, server-side applied
    *[(verb, "namespaces", None) for verb in ("get", "create", "patch")],
    *[(verb, resource, DOMAIN_NS) for verb in ("get", "create", "patch")
      for resource in ("serviceaccounts", "resourcequotas", "limitranges", "persistentvolumeclaims",
                       "networkpolicies.networking.k8s.io", "roles.rbac.authorization.k8s.io",
                       "rolebindings.rbac.authorization.k8s.io")],
    # build Jobs and their pods
    *[(verb, "jobs.batch", DOMAIN_NS) for verb in ("get", "list", "watch", "create", "delete")],
    *[(verb, "jobs.batch", None) for verb in ("list", "watch")],
    ("get", "pods", DOMAIN_NS),
    ("list", "pods", DOMAIN_NS),
    # Events (Domain events land in `default`: the kind is cluster-scoped)
    ("create", "events", DOMAIN_NS),
    ("create", "events", "default"),
    # kopf's managed admission webhook
    ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io", None),
    ("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io/datamesh.dev", None),
    ("create", "mutatingwebhookconfigurations.admissionregistration.k8s.io", None),
    ("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/datamesh.dev", None),
]  # fmt: skip
DENIED: list[tuple[str, str, str | None]] = [
    ("delete", "nodes", None),
    ("get", "secrets", None),
    ("list", "secrets", None),
    ("get", "secrets", DOMAIN_NS),
    ("create", "pods/exec", DOMAIN_NS),
    ("delete", "namespaces", None),
    ("list", "namespaces", None),
    ("create", "clusterroles.rbac.authorization.k8s.io", None),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", None),
    ("escalate", "roles.rbac.authorization.k8s.io", DOMAIN_NS),
    ("bind", "roles.rbac.authorization.k8s.io", DOMAIN_NS),
    ("bind", "clusterroles.rbac.authorization.k8s.io", None),
    ("impersonate", "users", None),
    ("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io/other", None),
    ("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/other", None),
    ("delete", "customresourcedefinitions.apiextensions.k8s.io", None),
    ("patch", "governancepolicies.datamesh.dev", None),
    ("delete", "domains.datamesh.dev", None),
    ("create", "deployments.apps", DOMAIN_NS),
    ("list", "clusterkopfpeerings.kopf.dev", None),  # only with peering enabled
]
PEERING_ALLOWED: list[tuple[str, str, str | None]] = [
    ("list", "clusterkopfpeerings.kopf.dev", None),
    ("watch", "clusterkopfpeerings.kopf.dev", None),
    ("patch", "clusterkopfpeerings.kopf.dev/datamesh-operator", None),
]
PEERING_DENIED: list[tuple[str, str, str | None]] = [
    ("patch", "clusterkopfpeerings.kopf.dev/someone-else", None),
    ("create", "clusterkopfpeerings.kopf.dev", None),
]


def can_i(cluster: Cluster, kubeconfig: Path, verb: str, resource: str, namespace: str | None) -> bool:
    """`kubectl auth can-i` as the ServiceAccount (exit 0: yes, 1: no). `kind/name` and `kind/sub` both parse."""
    args = [cluster.kubectl_path, "--kubeconfig", str(kubeconfig), "auth", "can-i", verb]
    kind, _, rest = resource.partition("/")
    if rest in ("status", "finalizers", "exec"):
        args += [kind, f"--subresource={rest}"]
    else:
        args.append(resource)
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


@pytest.fixture
def operator_kubeconfig(known_kinds: Cluster, namespace: str, tmp_path: Path, helm: Path) -> Iterator[Path]:
    cluster = known_kinds
    yield chart_service_account_kubeconfig(cluster, namespace, tmp_path / "operator.kubeconfig", helm=helm)
    delete_chart_rbac(cluster, namespace)


def test_service_account_can_do_what_the_operator_does(cluster: Cluster, operator_kubeconfig: Path) -> None:
    missing = [c for c in ALLOWED if not can_i(cluster, operator_kubeconfig, *c)]
    assert not missing, f"the chart's RBAC lacks: {missing}"
    excess = [c for c in DENIED if can_i(cluster, operator_kubeconfig, *c)]
    assert not excess, f"the chart's RBAC grants what the operator must not have: {excess}"


def test_service_account_can_provision_a_domain_workspace(cluster: Cluster, operator_kubeconfig: Path) -> None:
    # The real escalation check: the operator applies the Roles and RoleBindings of children.py, which RBAC only
    # allows when it holds every permission they grant.
    domain = load_mesh([str(REPO / "examples")]).domains["sales"]
    workspace = children.namespace(domain)
    # A new namespace every run: RBAC skips the escalation check when an update leaves a Role's rules unchanged.
    workspace["metadata"]["name"] = f"pkg-rbac-{uuid.uuid4().hex[:8]}"
    domain_ns = workspace["metadata"]["name"]
    objects = [workspace]
    for child in children.children(domain, "datamesh-builder"):
        child["metadata"]["namespace"] = domain_ns
        for subject in child.get("subjects", []):
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = domain_ns
        objects.append(child)
    for body in objects:
        body["metadata"].pop("ownerReferences", None)  # no Domain object exists here to own them
    try:
        for body in objects:
            result = subprocess.run(
                [cluster.kubectl_path, "--kubeconfig", str(operator_kubeconfig), "apply", "--server-side",
                 "--field-manager=datamesh-operator", "--force-conflicts", "-f", "-"],
                input=dump([body]), capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            kind, name = body["kind"], body["metadata"]["name"]
            assert result.returncode == 0, f"the operator's ServiceAccount cannot apply {kind} {name}:\n{result.stderr}"
    finally:
        cluster.kubectl("delete", "namespace", domain_ns, "--wait=false", "--ignore-not-found", check=False)


def test_peering_rules_follow_the_toggle(known_kinds: Cluster, namespace: str, tmp_path: Path, helm: Path) -> None:
    cluster = known_kinds
    values = ["--set", "operator.peering.enabled=true"]
    kubeconfig = chart_service_account_kubeconfig(cluster, namespace, tmp_path / "k", helm=helm, values=values)
    try:
        missing = [c for c in PEERING_ALLOWED if not can_i(cluster, kubeconfig, *c)]
        assert not missing, f"peering needs: {missing}"
        excess = [c for c in PEERING_DENIED if can_i(cluster, kubeconfig, *c)]
        assert not excess, f"peering grants too much: {excess}"
    finally:
        delete_chart_rbac(cluster, namespace)
