"""What a Domain provisions, as pure builders of manifests (server-side applied by the runtime)."""

from __future__ import annotations

from typing import Any

from datamesh.api import Domain

MANAGED = {"app.kubernetes.io/managed-by": "datamesh-operator"}
DATAPRODUCTS = {"apiGroups": ["datamesh.dev"], "resources": ["dataproducts"]}
READ = ["get", "list", "watch"]


def _meta(domain: Domain, name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {**MANAGED, "datamesh.dev/domain": domain.name},
        "ownerReferences": [
            {
                "apiVersion": domain.api_version,
                "kind": domain.kind,
                "name": domain.name,
                "uid": domain.metadata.get("uid", ""),
                "controller": True,
                # Deleting the namespace must not wait on the Domain; blocking is the finalizer's job.
                "blockOwnerDeletion": False,
            }
        ],
    }
    if namespace:
        meta["namespace"] = namespace
    return meta


def _binding(domain: Domain, name: str, role: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(domain, name, domain.namespace_name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": subjects,
    }


def _groups(groups: list[str]) -> list[dict[str, str]]:
    return [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g} for g in groups]


def namespace(domain: Domain) -> dict[str, Any]:
    meta = _meta(domain, domain.namespace_name)
    meta["labels"]["datamesh.dev/domain"] = domain.name
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def children(domain: Domain, builder_service_account: str) -> list[dict[str, Any]]:
    """Every namespaced object of the domain's workspace, in apply order."""
    ns = domain.namespace_name
    out: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(domain, builder_service_account, ns)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(domain, "datamesh-team", ns),
            "rules": [{**DATAPRODUCTS, "verbs": [*READ, "create", "update", "patch", "delete"]},
                      {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": READ},
                      {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": READ}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(domain, "datamesh-reader", ns),
            "rules": [{**DATAPRODUCTS, "verbs": READ}],
        },
        {
            # Spark on Kubernetes: the driver (build pod) creates and removes its executor pods.
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(domain, "datamesh-builder", ns),
            "rules": [{"apiGroups": [""], "resources": ["pods", "services", "configmaps", "persistentvolumeclaims"],
                       "verbs": [*READ, "create", "delete", "deletecollection"]}],
        },
        _binding(domain, "datamesh-builder", "datamesh-builder",
                 [{"kind": "ServiceAccount", "name": builder_service_account, "namespace": ns}]),
    ]  # fmt: skip
    if domain.spec.team_groups:
        out.append(_binding(domain, "datamesh-team", "datamesh-team", _groups(domain.spec.team_groups)))
    readers = sorted(set(domain.spec.reader_groups) | set(domain.spec.team_groups))
    if readers:
        out.append(_binding(domain, "datamesh-reader", "datamesh-reader", _groups(readers)))
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
        # Default: only pods of the same namespace may connect in; egress stays open (storage, API server).
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(domain, "datamesh-default", ns),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"podSelector": {}}]}]},
    })  # fmt: skip
    volume = domain.spec.storage.volume
    if volume is not None:
        claim: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": volume.size}},
        }
        if volume.storage_class_name:
            claim["storageClassName"] = volume.storage_class_name
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": _meta(domain, f"{domain.name}-storage", ns), "spec": claim})  # fmt: skip
    return out
