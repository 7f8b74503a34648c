"""What a Domain provisions, as pure builders of manifests (server-side applied by the runtime).

The operator writes no RBAC rules. Who may do what in a domain namespace is decided by the ClusterRoles of
charts/datamesh-operator/files/cluster-roles.yaml (installed with the chart, or applied from that file), and the
operator only binds them: its `bind` verb is limited to exactly those names, so whoever controls its token
cannot grant more than they grant. The first object of a workspace is the binding that gives the operator itself
its permissions inside the namespace (datamesh-operator-workspace); cluster-wide it can create no pods, Jobs or
Secrets at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from datamesh.api import DataProduct, Domain
from datamesh.controller.storage import claim_name

MANAGED = {"app.kubernetes.io/managed-by": "datamesh-operator"}
LABEL_DOMAIN = "datamesh.dev/domain"
POD_SECURITY_LEVELS: Final = ("privileged", "baseline", "restricted")
#: The label of build pods (jobs.py), selected by the build egress policy.
BUILD_POD_SELECTOR: Final = {"app.kubernetes.io/component": "build"}
RBAC_GROUP: Final = "rbac.authorization.k8s.io"

TEAM_ROLE: Final = "datamesh-team"
READER_ROLE: Final = "datamesh-reader"
BUILDER_ROLE: Final = "datamesh-builder"
SPARK_DRIVER_ROLE: Final = "datamesh-spark-driver"
OPERATOR_ROLE: Final = "datamesh-operator-workspace"
#: Every ClusterRole the operator binds: the chart's `bind` rule names exactly these (tests/packaging checks it).
CLUSTER_ROLES: Final = (TEAM_ROLE, READER_ROLE, BUILDER_ROLE, SPARK_DRIVER_ROLE, OPERATOR_ROLE)

# RoleBinding names. Not the names of the bindings older versions made (those referenced Roles of the same
# names, and a roleRef cannot be changed): those are deleted as LEGACY instead of failing to update.
OPERATOR_BINDING: Final = "datamesh:operator"
TEAM_BINDING: Final = "datamesh:team"
READER_BINDING: Final = "datamesh:reader"
BUILDER_BINDING: Final = "datamesh:builder"
SPARK_DRIVER_BINDING: Final = "datamesh:spark-driver"
_LEGACY_NAMES = ("datamesh-team", "datamesh-reader", "datamesh-builder")
#: Roles and RoleBindings with rules of the operator's own making, left by older versions in every workspace.
LEGACY: Final = tuple((f"{RBAC_GROUP}/v1", kind, name) for kind in ("RoleBinding", "Role") for name in _LEGACY_NAMES)


def owner_reference(domain: Domain) -> dict[str, Any]:
    """The owner reference every workspace object carries to its Domain."""
    return {
        "apiVersion": domain.api_version,
        "kind": domain.kind,
        "name": domain.name,
        "uid": domain.metadata.get("uid", ""),
        "controller": True,
        # Deleting the namespace must not wait on the Domain; blocking is the finalizer's job.
        "blockOwnerDeletion": False,
    }


def _meta(domain: Domain, name: str, namespace: str | None = None, *, owned: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**MANAGED, LABEL_DOMAIN: domain.name}}
    if owned:
        meta["ownerReferences"] = [owner_reference(domain)]
    if namespace:
        meta["namespace"] = namespace
    return meta


def namespace(domain: Domain, *, pod_security: str = "restricted", owned: bool = True) -> dict[str, Any]:
    """The workspace namespace. `pod_security` is the enforced Pod Security Standard (warnings and audit always
    use restricted, so a lab running `baseline` still hears what `restricted` would refuse). `owned`: the operator
    creates the namespace, so it goes with the Domain; an existing namespace it adopts carries no ownerReference,
    or deleting the Domain would delete whatever else lives there."""
    if pod_security not in POD_SECURITY_LEVELS:
        raise ValueError(
            f"pod security level {pod_security!r} (DATAMESH_POD_SECURITY_LEVEL) is not one of "
            f"{', '.join(POD_SECURITY_LEVELS)}"
        )
    meta = _meta(domain, domain.namespace_name, owned=owned)
    meta["labels"].update({
        "pod-security.kubernetes.io/enforce": pod_security,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    })  # fmt: skip
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def operator_subject(username: str) -> dict[str, str] | None:
    """The RoleBinding subject for the operator's own identity (`system:serviceaccount:<ns>:<name>`, as a
    SelfSubjectReview reports it), or None for any other user: an operator running on an admin's kubeconfig
    (tests, `make demo`) needs no workspace binding, and a user name is not a subject it should be bound as."""
    parts = username.split(":")
    if len(parts) != 4 or parts[:2] != ["system", "serviceaccount"] or not parts[2] or not parts[3]:
        return None
    return {"kind": "ServiceAccount", "name": parts[3], "namespace": parts[2]}


def uses_executors(domain: Domain, products: Iterable[DataProduct] = ()) -> bool:
    """Whether any build of the domain runs Spark executors as pods (and so needs datamesh-spark-driver): the
    domain's default, or any of its products' own `compute.executors`."""
    if domain.spec.compute.executors > 0:
        return True
    return any(p.spec.compute is not None and (p.spec.compute.executors or 0) > 0 for p in products)


def _binding(domain: Domain, name: str, role: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": _meta(domain, name, domain.namespace_name),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def _groups(groups: Iterable[str]) -> list[dict[str, str]]:
    return [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups]


def _readers(domain: Domain) -> list[str]:
    return sorted(set(domain.spec.reader_groups) | set(domain.spec.team_groups))


def _build_egress(domain: Domain, *, executors: bool, egress_ports: Sequence[int]) -> dict[str, Any]:
    """Egress of build pods. A NetworkPolicy selects peers by IP block or by pod and namespace labels, never by
    host name, so "the object store" can only be "any address on its port", and the API server (whose address
    the cluster decides; the Service's port 443 is translated to the servers' own, often 6443, before most
    network plugins look) only "any address on 443 or 6443". Executor pods carry no build label: they are not
    limited here, only by the namespace's ingress policy."""
    for port in egress_ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"build egress port {port!r} is not a TCP port (1-65535)")
    dns = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    # Never a rule without ports and peers: that would allow everything.
    rules: list[dict[str, Any]] = [{"ports": dns}]
    if egress_ports:
        rules.append({"ports": [{"protocol": "TCP", "port": p} for p in sorted(set(egress_ports))]})
    if domain.spec.compute.engine == "connect":
        # The domain's warm engine (controller/engine.py): its Spark Connect and guard ports, its pods only.
        rules.append({"to": [{"podSelector": {"matchLabels": {"datamesh.dev/engine": "server"}}}],
                      "ports": [{"protocol": "TCP", "port": 15002}, {"protocol": "TCP", "port": 15003}]})
    if executors:
        rules.append({"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]})
        # The driver talks to its executors (block manager, RPC) on ports Spark picks.
        rules.append({"to": [{"podSelector": {}}]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(domain, "datamesh-build-egress", domain.namespace_name),
        "spec": {"podSelector": {"matchLabels": dict(BUILD_POD_SELECTOR)}, "policyTypes": ["Egress"],
                 "egress": rules},
    }  # fmt: skip


def children(
    domain: Domain,
    builder_service_account: str,
    operator_subject: dict[str, str] | None = None,
    *,
    executors: bool | None = None,
    egress_ports: Sequence[int] = (443,),
) -> list[dict[str, Any]]:
    """Every namespaced object of the domain's workspace, in apply order.

    `operator_subject` (see `operator_subject()`): the first object is then the RoleBinding that gives the
    operator its own permissions in the namespace; apply it before anything else, as nothing else can be applied
    without it. `executors`: whether builds run Spark executors (default: the domain's `compute.executors`; pass
    `uses_executors(domain, products)` to count the products' own). `egress_ports`: TCP ports build pods may
    reach at any address (object stores; a lineage endpoint's port if it differs)."""
    ns = domain.namespace_name
    spark = domain.spec.compute.executors > 0 if executors is None else executors
    builder = [{"kind": "ServiceAccount", "name": builder_service_account, "namespace": ns}]
    out: list[dict[str, Any]] = []
    if operator_subject is not None:
        out.append(_binding(domain, OPERATOR_BINDING, OPERATOR_ROLE, [dict(operator_subject)]))
    out.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(domain, builder_service_account, ns)})
    out.append(_binding(domain, BUILDER_BINDING, BUILDER_ROLE, builder))
    if spark:
        out.append(_binding(domain, SPARK_DRIVER_BINDING, SPARK_DRIVER_ROLE, builder))
    if domain.spec.team_groups:
        out.append(_binding(domain, TEAM_BINDING, TEAM_ROLE, _groups(domain.spec.team_groups)))
    readers = _readers(domain)
    if readers:
        out.append(_binding(domain, READER_BINDING, READER_ROLE, _groups(readers)))
    quota = domain.spec.compute.quota
    if quota is not None:
        hard: dict[str, str] = {}
        if quota.cpu:
            hard.update({"requests.cpu": quota.cpu, "limits.cpu": quota.cpu})
        if quota.memory:
            hard.update({"requests.memory": quota.memory, "limits.memory": quota.memory})
        if quota.pods:
            hard["pods"] = str(quota.pods)
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": _meta(domain, "datamesh", ns),
                "spec": {"hard": hard},
            }
        )
    driver = domain.spec.compute.driver
    out.append({
        # With a quota every pod must declare resources; these defaults keep ad-hoc pods admissible.
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta(domain, "datamesh", ns),
        "spec": {"limits": [{"type": "Container",
                             "default": {"cpu": driver.cpu, "memory": driver.memory},
                             "defaultRequest": {"cpu": driver.cpu, "memory": driver.memory}}]},
    })  # fmt: skip
    out.append({
        # Only pods of the same namespace may connect in.
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(domain, "datamesh-default", ns),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"podSelector": {}}]}]},
    })  # fmt: skip
    out.append(_build_egress(domain, executors=spark, egress_ports=egress_ports))
    volume = domain.spec.storage.volume
    if volume is not None:
        claim: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": volume.size}},
        }
        if volume.storage_class_name:
            claim["storageClassName"] = volume.storage_class_name
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": _meta(domain, claim_name(domain), ns), "spec": claim})  # fmt: skip
    return out


def obsolete(domain: Domain, *, executors: bool | None = None) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of objects in the domain namespace to delete (a 404 is fine) after `children`
    was applied: RoleBindings the spec no longer asks for (no team, no readers, no executors) and the Roles and
    RoleBindings of older versions (LEGACY). Same `executors` as given to `children`."""
    spark = domain.spec.compute.executors > 0 if executors is None else executors
    out: list[tuple[str, str, str]] = []
    if not spark:
        out.append((f"{RBAC_GROUP}/v1", "RoleBinding", SPARK_DRIVER_BINDING))
    if not domain.spec.team_groups:
        out.append((f"{RBAC_GROUP}/v1", "RoleBinding", TEAM_BINDING))
    if not _readers(domain):
        out.append((f"{RBAC_GROUP}/v1", "RoleBinding", READER_BINDING))
    return [*out, *LEGACY]
