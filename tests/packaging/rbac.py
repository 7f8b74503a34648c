"""Run things as the chart's operator ServiceAccount: its RBAC applied for real, a token, a kubeconfig.

    kubeconfig = chart_service_account_kubeconfig(cluster, namespace, tmp_path / "operator.kubeconfig")
    # KUBECONFIG=kubeconfig datamesh operator ...  -> the operator with exactly the chart's permissions

The cluster-scoped objects (ClusterRoles and bindings) are named after a release derived from the namespace, so
several namespaces can hold one each; `delete_chart_rbac` removes them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Cluster
from tests.packaging.tools import RBAC_KINDS, build_helm, documents, dump, template


def release_for(namespace: str) -> str:
    return f"rbac-{namespace}"


def chart_rbac(namespace: str, *, helm: Path | None = None, values: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The chart's operator ServiceAccount, ClusterRoles/Roles and their bindings, rendered for `namespace`."""
    helm = helm or build_helm()
    # Without the catalog API, whose ServiceAccount has RBAC of its own (TokenReviews).
    rendered = template(
        helm, "--set", "crds.create=false", "--set", "api.enabled=false", *values,
        namespace=namespace, release=release_for(namespace),
    )  # fmt: skip
    objects = [o for o in documents(rendered) if o["kind"] in RBAC_KINDS]
    # Only the ServiceAccount the bindings name (the chart may add others without RBAC).
    subjects = {s["name"] for o in objects if o["kind"].endswith("Binding") for s in o["subjects"]}
    return [o for o in objects if o["kind"] != "ServiceAccount" or o["metadata"]["name"] in subjects]


def operator_service_account(objects: list[dict[str, Any]]) -> str:
    names = {s["name"] for o in objects if o["kind"].endswith("Binding") for s in o["subjects"]}
    assert len(names) == 1, f"expected the bindings to name one ServiceAccount, got {names}"
    return str(names.pop())


def chart_service_account_kubeconfig(
    cluster: Cluster, namespace: str, path: Path, *, helm: Path | None = None, values: Sequence[str] = ()
) -> Path:
    """Apply the chart's RBAC into `namespace` (which must exist), and write to `path` a kubeconfig for the same
    API server (server and CA of cluster.kubeconfig) authenticating as the operator's ServiceAccount with a 2-hour
    token. Returns `path`."""
    objects = chart_rbac(namespace, helm=helm, values=values)
    cluster.apply(dump(objects))
    account = operator_service_account(objects)
    token = cluster.kubectl("create", "token", account, "-n", namespace, "--duration=2h").stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    context_name = admin.get("current-context") or admin["contexts"][0]["name"]
    context = next(c["context"] for c in admin["contexts"] if c["name"] == context_name)
    server = next(c["cluster"] for c in admin["clusters"] if c["name"] == context["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": server}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "cluster", "user": account, "namespace": namespace}}],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def delete_chart_rbac(cluster: Cluster, namespace: str) -> None:
    """Remove the cluster-scoped RBAC objects `chart_service_account_kubeconfig` created for `namespace`."""
    release = release_for(namespace)
    for kind in ("clusterrolebinding", "clusterrole"):
        names = [f"{kind}/{release}-datamesh-operator", f"{kind}/{release}-datamesh-operator-delegated"]
        cluster.kubectl("delete", *names, "--ignore-not-found", "--wait=false", check=False)
