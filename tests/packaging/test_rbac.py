"""The chart's RBAC, as the operator's ServiceAccount sees it on a real API server: everything the operator
does is allowed (the list below is read from controller/*.py and kopf), nothing else that matters is, and
the permissions are exactly the ones docs/permissions.md lists.

Least privilege in one sentence: cluster-wide the operator watches, writes its own kinds' status, creates
namespaces and binds five named ClusterRoles; everything else it does happens in domain namespaces, through
the datamesh-operator-workspace binding it gives itself there (and the admission policy keeps that to
namespaces labelled datamesh.dev/domain)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from datamesh.controller import children
from datamesh.manifests import load_mesh
from tests.conftest import REPO, Cluster
from tests.packaging.rbac import (
    CLUSTER_ROLES_FILE,
    as_operator,
    can_i_list,
    chart_rbac,
    chart_service_account_kubeconfig,
    delete_chart_rbac,
    documented,
    operator_service_account,
    rewrite_documented,
    until,
    write_doc_requested,
)
from tests.packaging.tools import dump, one

WORKSPACE = "<domain>"  # replaced by a fresh domain namespace holding the operator's workspace binding
OWN = "<own>"  # the operator's own (release) namespace
# (verb, resource, namespace: None for cluster-wide / all namespaces)
ALLOWED: list[tuple[str, str, str | None]] = [
    # kopf: resource discovery
    ("list", "customresourcedefinitions.apiextensions.k8s.io", None),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io", None),
    # watched kinds, kopf's finalizers and annotations, status writes
    *[(verb, "dataproducts.datamesh.dev", None) for verb in ("list", "watch", "patch")],
    *[(verb, "domains.datamesh.dev", None) for verb in ("list", "watch", "patch")],
    *[(verb, "governancepolicies.datamesh.dev", None) for verb in ("list", "watch")],
    ("patch", "dataproducts.datamesh.dev/status", None),
    ("patch", "domains.datamesh.dev/status", None),
    ("patch", "governancepolicies.datamesh.dev/status", None),
    ("update", "dataproducts.datamesh.dev/finalizers", None),
    # Domain workspaces: the namespace, and the RoleBindings to the five ClusterRoles
    *[(verb, "namespaces", None) for verb in ("get", "create", "patch")],
    *[(verb, "rolebindings.rbac.authorization.k8s.io", None) for verb in ("get", "create", "patch")],
    *[("bind", f"clusterroles.rbac.authorization.k8s.io/{role}", None) for role in children.CLUSTER_ROLES],
    # build Jobs are watched everywhere
    *[(verb, "jobs.batch", None) for verb in ("list", "watch")],
    # Events (Domain events land in `default`: the kind is cluster-scoped)
    ("create", "events", None),
    ("create", "events", "default"),
    # kopf's managed admission webhook
    ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io", None),
    ("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io/datamesh.dev", None),
    ("create", "mutatingwebhookconfigurations.admissionregistration.k8s.io", None),
    ("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/datamesh.dev", None),
    # inside a domain namespace, through datamesh-operator-workspace
    *[(verb, "jobs.batch", WORKSPACE) for verb in ("get", "list", "watch", "create", "delete")],
    ("get", "pods", WORKSPACE),
    ("list", "pods", WORKSPACE),
    ("create", "secrets", WORKSPACE),
    ("get", "secrets/datamesh-build", WORKSPACE),
    ("patch", "secrets/datamesh-build", WORKSPACE),
    ("get", "secrets/datamesh-shares", WORKSPACE),
    ("patch", "secrets/datamesh-shares", WORKSPACE),
    *[(verb, resource, WORKSPACE) for verb in ("get", "create", "patch")
      for resource in ("serviceaccounts", "resourcequotas", "limitranges", "persistentvolumeclaims",
                       "networkpolicies.networking.k8s.io")],
    ("delete", "rolebindings.rbac.authorization.k8s.io", WORKSPACE),
    ("delete", "roles.rbac.authorization.k8s.io", WORKSPACE),
    # the domain's warm engine (controller/engine.py): created anywhere in a workspace (a create cannot be limited
    # to a name), read, changed and removed only under its own name. A Deployment makes pods as a Job does.
    ("create", "deployments.apps", WORKSPACE),
    ("create", "services", WORKSPACE),
    *[(verb, f"{resource}/datamesh-engine", WORKSPACE) for verb in ("get", "patch", "delete")
      for resource in ("deployments.apps", "services", "secrets", "serviceaccounts")],
    ("delete", "networkpolicies.networking.k8s.io/datamesh-engine", WORKSPACE),
    # the masking key, in its own namespace
    ("create", "secrets", OWN),
    ("get", "secrets/datamesh-masking-key", OWN),
]  # fmt: skip
DENIED: list[tuple[str, str, str | None]] = [
    # no workloads, Secrets or storage outside domain namespaces, and no pods at all
    ("create", "pods", None),
    ("create", "pods", "default"),
    ("create", "pods", WORKSPACE),
    ("create", "pods/exec", WORKSPACE),
    ("create", "jobs.batch", None),
    ("create", "jobs.batch", "kube-system"),
    ("delete", "jobs.batch", "default"),
    ("create", "deployments.apps", None),
    ("create", "deployments.apps", "default"),
    ("delete", "deployments.apps/someone-elses", WORKSPACE),
    ("patch", "services/someone-elses", WORKSPACE),
    ("delete", "networkpolicies.networking.k8s.io/datamesh-default", WORKSPACE),
    *[("create", resource, None) for resource in ("services", "configmaps", "persistentvolumeclaims", "secrets")],
    ("create", "services", "default"),
    ("create", "configmaps", WORKSPACE),
    ("create", "secrets", "kube-system"),
    ("get", "secrets", None),
    ("list", "secrets", None),
    ("list", "secrets", WORKSPACE),
    ("delete", "secrets/datamesh-shares", WORKSPACE),
    ("get", "secrets/someone-elses", WORKSPACE),
    ("list", "secrets", OWN),
    ("get", "secrets/webhook-tls", OWN),
    ("patch", "secrets/datamesh-masking-key", OWN),
    ("get", "pods", "kube-system"),
    ("create", "serviceaccounts", "default"),
    ("create", "networkpolicies.networking.k8s.io", "default"),
    ("create", "serviceaccounts/token", WORKSPACE),
    # RBAC: no rules of its own making, no other roles, no escalation
    ("create", "roles.rbac.authorization.k8s.io", WORKSPACE),
    ("patch", "roles.rbac.authorization.k8s.io", WORKSPACE),
    ("create", "clusterroles.rbac.authorization.k8s.io", None),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", None),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", None),
    ("escalate", "roles.rbac.authorization.k8s.io", WORKSPACE),
    ("bind", "clusterroles.rbac.authorization.k8s.io", None),
    ("bind", "clusterroles.rbac.authorization.k8s.io/cluster-admin", None),
    ("bind", "clusterroles.rbac.authorization.k8s.io/admin", WORKSPACE),
    ("bind", "clusterroles.rbac.authorization.k8s.io/edit", None),
    ("bind", "roles.rbac.authorization.k8s.io", WORKSPACE),
    ("delete", "rolebindings.rbac.authorization.k8s.io", "kube-system"),
    ("delete", "roles.rbac.authorization.k8s.io", "default"),
    ("impersonate", "users", None),
    ("impersonate", "serviceaccounts", WORKSPACE),
    # namespaces: no enumeration, no deletion
    ("delete", "namespaces", None),
    ("list", "namespaces", None),
    ("delete", "nodes", None),
    ("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io/other", None),
    ("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/other", None),
    ("delete", "customresourcedefinitions.apiextensions.k8s.io", None),
    ("patch", "governancepolicies.datamesh.dev", None),
    ("delete", "domains.datamesh.dev", None),
    ("create", "tokenreviews.authentication.k8s.io", None),
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
    args = ["auth", "can-i", verb]
    kind, _, rest = resource.partition("/")
    if rest in ("status", "finalizers", "exec", "token"):
        args += [kind, f"--subresource={rest}"]
    else:
        args.append(resource)
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    result = as_operator(cluster, kubeconfig, *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


def domain_namespace(name: str) -> dict[str, Any]:
    """A workspace namespace as the operator writes it (children.namespace of the example sales domain)."""
    domain = load_mesh([str(REPO / "examples")]).domains["sales"]
    body = children.namespace(domain)
    body["metadata"]["name"] = name
    body["metadata"].pop("ownerReferences")  # no Domain object exists here to own it
    return body


def apply_as_operator(cluster: Cluster, kubeconfig: Path, body: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Server-side apply as the operator does it (field manager datamesh-operator)."""
    args = ["apply", "--server-side", "--field-manager=datamesh-operator", "--force-conflicts", "-f", "-"]
    return as_operator(cluster, kubeconfig, *args, input=dump([body]))


def workspace_binding(namespace: str, account: str, account_namespace: str) -> dict[str, Any]:
    subject = children.operator_subject(f"system:serviceaccount:{account_namespace}:{account}")
    domain = load_mesh([str(REPO / "examples")]).domains["sales"]
    body = children.children(domain, "datamesh-builder", subject)[0]
    assert body["roleRef"]["name"] == children.OPERATOR_ROLE
    body["metadata"]["namespace"] = namespace
    body["metadata"].pop("ownerReferences")
    return body


class Operator:
    """The chart's RBAC applied for one release, the ServiceAccount's kubeconfig and one domain namespace that
    the ServiceAccount created and bound itself in (as the operator does first in every workspace)."""

    def __init__(self, cluster: Cluster, namespace: str, account: str, kubeconfig: Path, domain_ns: str) -> None:
        self.cluster, self.namespace, self.account = cluster, namespace, account
        self.kubeconfig, self.domain_ns = kubeconfig, domain_ns

    def where(self, namespace: str | None) -> str | None:
        return {WORKSPACE: self.domain_ns, OWN: self.namespace}.get(namespace or "", namespace)

    def can(self, verb: str, resource: str, namespace: str | None) -> bool:
        return can_i(self.cluster, self.kubeconfig, verb, resource, self.where(namespace))


@pytest.fixture
def chart_operator(known_kinds: Cluster, namespace: str, tmp_path: Path, helm: Path) -> Iterator[Operator]:
    cluster = known_kinds
    kubeconfig = chart_service_account_kubeconfig(cluster, namespace, tmp_path / "operator.kubeconfig", helm=helm)
    account = operator_service_account(chart_rbac(namespace, helm=helm))
    domain_ns = f"pkg-rbac-{uuid.uuid4().hex[:8]}"
    try:
        created = apply_as_operator(cluster, kubeconfig, domain_namespace(domain_ns))
        assert created.returncode == 0, f"the operator cannot create a workspace namespace:\n{created.stderr}"
        bound = apply_as_operator(cluster, kubeconfig, workspace_binding(domain_ns, account, namespace))
        assert bound.returncode == 0, f"the operator cannot bind its workspace role:\n{bound.stderr}"
        operator = Operator(cluster, namespace, account, kubeconfig, domain_ns)
        until(lambda: operator.can("create", "jobs.batch", WORKSPACE), "the workspace binding takes effect")
        yield operator
    finally:
        delete_chart_rbac(cluster, namespace)
        cluster.kubectl("delete", "namespace", domain_ns, "--wait=false", "--ignore-not-found", check=False)


def test_service_account_can_do_what_the_operator_does(chart_operator: Operator) -> None:
    missing = [c for c in ALLOWED if not chart_operator.can(*c)]
    assert not missing, f"the chart's RBAC lacks: {missing}"
    excess = [c for c in DENIED if chart_operator.can(*c)]
    assert not excess, f"the chart's RBAC grants what the operator must not have: {excess}"


def test_permissions_are_exactly_the_documented_ones(chart_operator: Operator) -> None:
    """docs/permissions.md shows `kubectl auth can-i --list` of the ServiceAccount; this is that run. Rewrite the
    blocks from it with DATAMESH_WRITE_PERMISSIONS_DOC=1 (and read the diff: it is the change of privilege)."""
    sections = {"cluster": "default", "own namespace": chart_operator.namespace, "domain": chart_operator.domain_ns}
    actual = {
        section: can_i_list(chart_operator.cluster, chart_operator.kubeconfig, ns) for section, ns in sections.items()
    }
    if write_doc_requested():
        for section, rows in actual.items():
            rewrite_documented(section, rows)
    for section, rows in actual.items():
        assert rows == documented(section), (
            f"`kubectl auth can-i --list` ({section}) differs from docs/permissions.md; the run gives:\n"
            + "\n".join("   ".join(r) for r in rows)
        )


def test_the_api_server_refuses_what_the_operator_must_not_do(chart_operator: Operator) -> None:
    cluster, kubeconfig, domain_ns = chart_operator.cluster, chart_operator.kubeconfig, chart_operator.domain_ns
    assert not chart_operator.can("create", "pods", None)
    assert not chart_operator.can("create", "secrets", "kube-system")
    assert not chart_operator.can("escalate", "clusterroles.rbac.authorization.k8s.io", None)
    assert not chart_operator.can("bind", "clusterroles.rbac.authorization.k8s.io/cluster-admin", None)
    # Not just what can-i says: a RoleBinding to cluster-admin, in the very namespace where the operator may
    # create RoleBindings, is refused by RBAC's escalation check.
    admin = workspace_binding(domain_ns, "anyone", domain_ns)
    admin["metadata"]["name"] = "grab-cluster-admin"
    admin["roleRef"]["name"] = "cluster-admin"
    refused = apply_as_operator(cluster, kubeconfig, admin)
    assert refused.returncode != 0, "the operator's ServiceAccount bound cluster-admin"
    assert "forbidden" in refused.stderr.lower(), refused.stderr
    assert cluster.kubectl("get", "rolebinding", "grab-cluster-admin", "-n", domain_ns, check=False).returncode != 0
    # Nor can it write a Role with rules of its own.
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "grab", "namespace": domain_ns},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]}  # fmt: skip
    assert apply_as_operator(cluster, kubeconfig, role).returncode != 0


def test_the_admission_policy_keeps_the_operator_in_domain_namespaces(chart_operator: Operator) -> None:
    """What RBAC cannot express: the ServiceAccount may create RoleBindings and patch namespaces anywhere, so
    the chart's ValidatingAdmissionPolicy limits both to workspaces."""
    cluster, kubeconfig, namespace = chart_operator.cluster, chart_operator.kubeconfig, chart_operator.namespace
    account = chart_operator.account

    def refused(body: dict[str, Any], reason: str) -> bool:
        result = apply_as_operator(cluster, kubeconfig, body)
        return result.returncode != 0 and reason in result.stderr

    # Binding its workspace role to itself in kube-system would give it Jobs (and so any ServiceAccount) there.
    grab = workspace_binding("kube-system", account, namespace)
    assert refused(grab, "datamesh.dev/domain")
    assert cluster.kubectl("get", "rolebinding", grab["metadata"]["name"], "-n", "kube-system",
                           check=False).returncode != 0  # fmt: skip
    # Adopting a namespace nobody labelled for a domain (labelling kube-system to bind there next) is refused ...
    adopt = domain_namespace("kube-system")
    assert refused(adopt, "datamesh.dev/domain")
    assert "datamesh.dev/domain" not in (cluster.get("namespace", "kube-system")["metadata"].get("labels") or {})
    # ... as is moving a domain's namespace to another domain,
    moved = domain_namespace(chart_operator.domain_ns)
    moved["metadata"]["labels"]["datamesh.dev/domain"] = "marketing"
    assert refused(moved, "datamesh.dev/domain")
    # and lowering its Pod Security level (privileged pods from the operator's Jobs), or creating one without it.
    lowered = domain_namespace(chart_operator.domain_ns)
    lowered["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    assert refused(lowered, "pod-security.kubernetes.io/enforce=restricted")
    fresh = domain_namespace(f"pkg-rbac-{uuid.uuid4().hex[:8]}")
    fresh["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    assert refused(fresh, "pod-security.kubernetes.io/enforce=restricted")
    # The workspace itself is still the operator's to converge.
    assert apply_as_operator(cluster, kubeconfig, domain_namespace(chart_operator.domain_ns)).returncode == 0


def test_service_account_can_provision_a_domain_workspace(chart_operator: Operator) -> None:
    """Every object of children.py, applied as the operator applies it, after its own binding (fixture), and the
    deletions of obsolete() (missing objects are fine)."""
    cluster, kubeconfig, domain_ns = chart_operator.cluster, chart_operator.kubeconfig, chart_operator.domain_ns
    domain = load_mesh([str(REPO / "examples")]).domains["sales"]
    domain.spec.compute.executors = 2  # every binding, the Spark driver's included
    for child in children.children(domain, "datamesh-builder", None):
        child["metadata"]["namespace"] = domain_ns
        child["metadata"].pop("ownerReferences", None)
        for subject in child.get("subjects", []):
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = domain_ns
        result = apply_as_operator(cluster, kubeconfig, child)
        kind, name = child["kind"], child["metadata"]["name"]
        assert result.returncode == 0, f"the operator's ServiceAccount cannot apply {kind} {name}:\n{result.stderr}"
    for api_version, kind, name in children.obsolete(domain, executors=False):
        # A bare DELETE, as the runtime sends it (kubectl delete TYPE NAME would read the object first).
        path = f"/apis/{api_version}/namespaces/{domain_ns}/{kind.lower()}s/{name}"
        result = as_operator(cluster, kubeconfig, "delete", "--raw", path)
        gone = result.returncode == 0 or "NotFound" in result.stderr or "not found" in result.stderr
        assert gone, f"the operator's ServiceAccount cannot delete {kind} {name}:\n{result.stderr}"
    assert cluster.kubectl("get", "rolebinding", children.SPARK_DRIVER_BINDING, "-n", domain_ns,
                           check=False).returncode != 0  # fmt: skip


def test_the_shared_cluster_roles_are_the_files_and_the_only_ones_bound(helm: Path) -> None:
    """One source: the chart renders files/cluster-roles.yaml unchanged (but for labels), the operator may bind
    exactly those, and children.py binds nothing else."""
    source = {o["metadata"]["name"]: o for o in yaml.safe_load_all(CLUSTER_ROLES_FILE.read_text()) if o}
    assert set(source) == set(children.CLUSTER_ROLES)
    rendered = chart_rbac("datamesh-system", helm=helm)
    for name, role in source.items():
        assert one(rendered, "ClusterRole", name).get("rules") == role.get("rules"), name
    assert "rules" not in source[children.BUILDER_ROLE], "the build ServiceAccount is granted nothing by default"
    operator = one(rendered, "ClusterRole", "rbac-datamesh-system-datamesh-operator")
    bind = [r for r in operator["rules"] if "bind" in r["verbs"]]
    assert bind == [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                     "resourceNames": list(children.CLUSTER_ROLES), "verbs": ["bind"]}]  # fmt: skip
    for rule in operator["rules"]:
        assert "*" not in rule["verbs"] and "escalate" not in rule["verbs"], rule
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
        if rule["verbs"] != ["list", "watch"] and rule["resources"] != ["events"]:
            # Nothing that runs code or holds data is created cluster-wide.
            assert not {"pods", "jobs", "secrets", "services", "configmaps", "persistentvolumeclaims"} & set(
                rule["resources"]
            ), rule


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
