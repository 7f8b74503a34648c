"""Run things as the chart's operator ServiceAccount: its RBAC applied for real, a token, a kubeconfig.

    kubeconfig = chart_service_account_kubeconfig(cluster, namespace, tmp_path / "operator.kubeconfig")
    # KUBECONFIG=kubeconfig datamesh operator ...  -> the operator with exactly the chart's permissions

The release's cluster-scoped objects (its ClusterRole and binding, its ValidatingAdmissionPolicy and binding) are
named after a release derived from the namespace, so several namespaces can hold one each; `delete_chart_rbac`
removes them again. The ClusterRoles bound in domain namespaces (files/cluster-roles.yaml) have fixed names and
are shared: applied, never deleted.

Also: `kubectl auth can-i --list` as that ServiceAccount, and docs/permissions.md, which documents its output.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO, Cluster
from tests.packaging.tools import CHART, RBAC_KINDS, build_helm, documents, dump, template

CLUSTER_ROLES_FILE = CHART / "files" / "cluster-roles.yaml"
PERMISSIONS_DOC = REPO / "docs" / "permissions.md"
POLICY_KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")


def release_for(namespace: str) -> str:
    return f"rbac-{namespace}"


def chart_rbac(namespace: str, *, helm: Path | None = None, values: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The chart's operator ServiceAccount, its (Cluster)Roles and bindings, the shared ClusterRoles and the
    admission policy that guards the workspaces, rendered for `namespace`."""
    helm = helm or build_helm()
    # Without the catalog API, whose ServiceAccount has RBAC of its own (TokenReviews).
    rendered = template(
        helm, "--set", "crds.create=false", "--set", "api.enabled=false", *values,
        namespace=namespace, release=release_for(namespace),
    )  # fmt: skip
    objects = [o for o in documents(rendered) if o["kind"] in (*RBAC_KINDS, *POLICY_KINDS)]
    # Only the ServiceAccount the bindings name (the chart may add others without RBAC).
    subjects = {s["name"] for o in objects if o["kind"].endswith("RoleBinding") for s in o["subjects"]}
    return [o for o in objects if o["kind"] != "ServiceAccount" or o["metadata"]["name"] in subjects]


def operator_service_account(objects: list[dict[str, Any]]) -> str:
    names = {s["name"] for o in objects if o["kind"].endswith("RoleBinding") for s in o["subjects"]}
    assert len(names) == 1, f"expected the bindings to name one ServiceAccount, got {names}"
    return str(names.pop())


def apply_cluster_roles(cluster: Cluster) -> None:
    """files/cluster-roles.yaml as it is, the way installations without the chart apply it."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CLUSTER_ROLES_FILE))


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
    if any(o["kind"] == "ValidatingAdmissionPolicyBinding" for o in objects):
        await_admission_policy(cluster, path)
    return path


def await_admission_policy(cluster: Cluster, kubeconfig: Path) -> None:
    """Wait until the API server enforces the chart's admission policy (it compiles policies a moment after they
    are written): a server-side dry run of a namespace without datamesh.dev/domain, as the ServiceAccount, is
    refused. Nothing is created either way."""

    def enforced() -> bool:
        probe = as_operator(cluster, kubeconfig, "create", "namespace", "datamesh-policy-probe", "--dry-run=server")
        return probe.returncode != 0 and "datamesh.dev/domain" in probe.stderr

    until(enforced, "the chart's ValidatingAdmissionPolicy is enforced", timeout=60)


def delete_chart_rbac(cluster: Cluster, namespace: str) -> None:
    """Remove the cluster-scoped objects `chart_service_account_kubeconfig` created for `namespace` (its Role and
    RoleBinding go with the namespace)."""
    name = f"{release_for(namespace)}-datamesh-operator"
    policy = f"{name}-workspaces"
    names = [f"clusterrolebinding/{name}", f"clusterrole/{name}",
             f"validatingadmissionpolicybinding/{policy}", f"validatingadmissionpolicy/{policy}"]  # fmt: skip
    cluster.kubectl("delete", *names, "--ignore-not-found", "--wait=false", check=False)


def as_operator(
    cluster: Cluster, kubeconfig: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """kubectl with the ServiceAccount's kubeconfig (never raises: callers look at the outcome)."""
    argv = [cluster.kubectl_path, "--kubeconfig", str(kubeconfig), *args]
    return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60)


def until(probe: Any, what: str, timeout: float = 30) -> Any:
    """Poll `probe` until it returns something true: RBAC and admission policies take effect a moment after
    they are written (the API server learns them from its informers)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result or time.monotonic() > deadline:
            assert result, f"timed out after {timeout:.0f}s: {what}"
            return result
        time.sleep(0.3)


# --------------------------------------------------------------------------- kubectl auth can-i --list
def can_i_list(cluster: Cluster, kubeconfig: Path, namespace: str) -> list[tuple[str, ...]]:
    """`kubectl auth can-i --list -n NAMESPACE` as the ServiceAccount: its rows (Resources, Non-Resource URLs,
    Resource Names, Verbs), sorted so that the order kubectl happens to print carries no meaning."""
    result = as_operator(cluster, kubeconfig, "auth", "can-i", "--list", "-n", namespace)
    assert result.returncode == 0, result.stderr
    return parse_can_i_list(result.stdout)


def parse_can_i_list(text: str) -> list[tuple[str, ...]]:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    header = ("Resources", "Non-Resource URLs", "Resource Names", "Verbs")
    assert lines and lines[0].startswith(header[0]), f"not `kubectl auth can-i --list` output:\n{text}"
    # Aligned columns (non-resource rows leave Resources blank): cut every line where the header's labels start.
    starts = [lines[0].index(label) for label in header]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    rows = [tuple(_cell(line[a:b]) for a, b in bounds) for line in lines[1:]]
    return sorted(rows)


def _cell(text: str) -> str:
    # Verbs of one resource merged from several rules come in the order the API server found the rules.
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return "[" + " ".join(sorted(text[1:-1].split())) + "]"
    return text


def format_can_i_list(rows: list[tuple[str, ...]]) -> str:
    header = ("Resources", "Non-Resource URLs", "Resource Names", "Verbs")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    )


def documented(section: str) -> list[tuple[str, ...]]:
    """The rows of the fenced block that follows `<!-- can-i: SECTION -->` in docs/permissions.md."""
    text = PERMISSIONS_DOC.read_text()
    match = re.search(rf"<!-- can-i: {re.escape(section)} -->\n```text\n(.*?)```", text, re.S)
    assert match, f"docs/permissions.md has no block <!-- can-i: {section} -->"
    return parse_can_i_list(match.group(1))


def rewrite_documented(section: str, rows: list[tuple[str, ...]]) -> None:
    """Replace the block of `section` in docs/permissions.md with `rows` (DATAMESH_WRITE_PERMISSIONS_DOC=1)."""
    text = PERMISSIONS_DOC.read_text()
    pattern = rf"(<!-- can-i: {re.escape(section)} -->\n```text\n)(.*?)(```)"
    new, count = re.subn(pattern, lambda m: m.group(1) + format_can_i_list(rows) + "\n" + m.group(3), text, flags=re.S)
    assert count == 1, f"docs/permissions.md has no block <!-- can-i: {section} -->"
    PERMISSIONS_DOC.write_text(new)


def write_doc_requested() -> bool:
    return os.environ.get("DATAMESH_WRITE_PERMISSIONS_DOC") == "1"
